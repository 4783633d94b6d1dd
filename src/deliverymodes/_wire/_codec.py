"""Codecs: how payloads become bytes on the wire and back. JSON by default; never pickle."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from itertools import repeat
from operator import add
from typing import Any, NoReturn, Protocol, TypeVar, runtime_checkable

__all__ = [
    "MAX_JSON_DEPTH",
    "BytesCodec",
    "Codec",
    "JsonCodec",
    "dump_json",
    "load_json",
    "load_json_many",
]

T = TypeVar("T")

#: The deepest nesting of arrays and objects JSON input may have (serde_json's default limit).
#: Deeper input is refused before parsing: it would exhaust Python's recursion limit.
MAX_JSON_DEPTH = 128

# Strings (skipped whole, escapes included) and the brackets outside them.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")


def _too_deep(data: bytes) -> bool:
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return False  # the common case, at C speed
    depth = 0
    for token in _JSON_TOKENS.findall(data):
        if token[0] in _OPENING:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif token[0] != 0x22:  # a closing bracket, not a string
            depth -= 1
    return False


#: Digits beyond which an integer is larger than any double (about 1.8e308).
_DOUBLE_DIGITS = 309


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_cut(text)} is too large for a double")
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > _DOUBLE_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is too large for a double")
    return int(text)


def _cut(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


# Made once: ``json.loads`` and ``json.dumps`` with options build a new decoder or encoder per
# call, which costs more than parsing a small payload.
_PLAIN = json.JSONDecoder(parse_constant=_no_constant)
_FLOATS_CHECKED = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
_NUMBERS_CHECKED = json.JSONDecoder(
    parse_constant=_no_constant, parse_float=_finite, parse_int=_integer
)
# One JSON value at an index, no whitespace skipped: (value, end), StopIteration if none.
_scan_plain: Callable[[str, int], tuple[Any, int]] = vars(_PLAIN)["scan_once"]
_scan_floats: Callable[[str, int], tuple[Any, int]] = vars(_FLOATS_CHECKED)["scan_once"]
#: Inputs up to this many bytes may take load_json's quick way (no integer can be too large).
_SHORT = 300
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def load_json(data: bytes | str) -> Any:
    """Strict JSON (RFC 8259) in UTF-8, as any JSON reader can read it back.

    Refuses, with ``ValueError`` and nothing else: text that is not UTF-8 (other encodings, a
    byte order mark), ``NaN`` and infinities, numbers too large for a double (``1e999``, an
    integer of more than 309 digits), strings with a lone surrogate (``"\\ud800"``), and nesting
    deeper than ``MAX_JSON_DEPTH``.
    """
    # The common case, half again as fast: short UTF-8 (no integer too large), few brackets,
    # no \u escape (no lone surrogate), no surrounding whitespace. Anything else, valid or
    # not, takes the careful way, which says what is wrong.
    if (
        isinstance(data, bytes)
        and len(data) <= _SHORT
        and data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH
        and b"\\u" not in data
    ):
        text = data.decode("utf-8")
        scan = _scan_plain if b"e" not in data and b"E" not in data else _scan_floats
        try:
            value, end = scan(text, 0)
        except StopIteration:
            end = -1
        if end == len(text):
            return value
    return _load_json_carefully(data)


def _load_json_carefully(data: bytes | str) -> Any:
    if isinstance(data, str):
        text, raw = data, data.encode("utf-8", "surrogatepass")
    else:
        text, raw = data.decode("utf-8"), data  # UnicodeDecodeError is a ValueError
    if _too_deep(raw):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    # A number only overflows with an exponent or hundreds of digits: check numbers only then.
    if len(raw) > _SHORT:
        decoder = _NUMBERS_CHECKED
    elif b"e" in raw or b"E" in raw:
        decoder = _FLOATS_CHECKED
    else:
        decoder = _PLAIN
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM", text, 0)
    try:
        value = decoder.decode(text)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError("JSON nested too deeply") from None
    if b"\\u" in raw or b"\\U" in raw:  # escapes may spell a lone surrogate
        try:
            dump_json(value).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a JSON string holds a lone surrogate (not Unicode text)") from None
    return value


def load_json_many(items: list[bytes]) -> list[Any]:
    """``[load_json(item) for item in items]``, about twice as fast for many short items: the
    checks run once over all of them. ``ValueError`` as from ``load_json`` for the first item
    refused."""
    joined = b"".join(items)
    if (
        not items
        or b"\\u" in joined
        or max(map(len, items)) > _SHORT
        or (
            joined.count(b"[") + joined.count(b"{") > MAX_JSON_DEPTH
            and max(
                map(
                    add,
                    map(bytes.count, items, repeat(b"[")),
                    map(bytes.count, items, repeat(b"{")),
                )
            )
            > MAX_JSON_DEPTH
        )
    ):
        return [load_json(item) for item in items]
    scan = _scan_plain if b"e" not in joined and b"E" not in joined else _scan_floats
    values = []
    try:
        for text in map(bytes.decode, items):
            value, end = scan(text, 0)
            if end != len(text):
                break
            values.append(value)
        else:
            return values
    except (StopIteration, ValueError):
        pass
    return [load_json(item) for item in items]  # raises for the first one refused


def dump_json(value: Any) -> str:
    """Compact JSON text that strict JSON readers accept: ``ValueError`` for NaN or infinities."""
    try:
        return _ENCODER.encode(value)
    except ValueError:
        raise ValueError("JSON cannot carry a non-finite number (NaN or infinity)") from None
    except RecursionError:
        raise ValueError("the value is nested too deeply for JSON") from None


@runtime_checkable
class Codec(Protocol[T]):
    """Turns payloads into bytes and back (msgpack, orjson, protobuf… plug in here).

    ``decode`` raises ``ValueError`` (or a subclass) for bytes it cannot decode; the server answers
    such a publish with a ``BAD_PAYLOAD`` error instead of publishing it. A codec may also have
    ``decode_many(items: list[bytes]) -> list[T]``, the same as ``decode`` for each but faster
    (``ValueError`` if one does not decode): Redis channels use it for what they read in bulk.
    """

    def encode(self, payload: T) -> bytes:
        """The bytes that carry ``payload``."""
        ...

    def decode(self, data: bytes) -> T:
        """The payload ``data`` carries; ``ValueError`` if it carries none."""
        ...


class JsonCodec:
    """Compact JSON in UTF-8, strict: the default codec.

    Encodes anything ``json`` can; a non-finite number (NaN, infinity) raises ``ValueError``, as
    strict JSON readers cannot read one. Decoding refuses non-finite numbers (``NaN``,
    ``Infinity``, ``1e999``) and nesting deeper than ``MAX_JSON_DEPTH`` (128) with ``ValueError``.
    """

    def encode(self, payload: Any) -> bytes:
        return dump_json(payload).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return load_json(data)  # JSONDecodeError and UnicodeDecodeError are ValueErrors

    def decode_many(self, items: list[bytes]) -> list[Any]:
        """``[decode(item) for item in items]``, faster; ``ValueError`` if one does not
        decode."""
        return load_json_many(items)

    def __repr__(self) -> str:
        return "JsonCodec()"


class BytesCodec:
    """Raw bytes: payloads are bytes-like and travel as they are."""

    def encode(self, payload: bytes | bytearray | memoryview) -> bytes:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"BytesCodec encodes bytes-like payloads, not {type(payload).__name__}")
        return bytes(payload)

    def decode(self, data: bytes) -> bytes:
        return data

    def __repr__(self) -> str:
        return "BytesCodec()"

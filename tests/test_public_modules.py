"""The public modules beside the top-level package: ``deliverymodes.defaults`` and
``deliverymodes.http``, each name documented in the API page."""

from __future__ import annotations

import re
from pathlib import Path

import deliverymodes
from deliverymodes import defaults

API = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text(encoding="utf-8")


def documented(prefix: str) -> set[str]:
    return set(re.findall(rf"^### `{prefix}\.([A-Za-z_]\w*)`", API, flags=re.MULTILINE))


def test_defaults_are_documented_and_not_in_the_top_level_package() -> None:
    assert documented("defaults") == set(defaults.__all__)
    assert set(defaults.__all__).isdisjoint(deliverymodes.__all__)
    for name in defaults.__all__:
        assert not hasattr(deliverymodes, name), name


def test_defaults_hold_the_values_the_library_applies() -> None:
    assert deliverymodes.PushChannel[int]().buffer_size == defaults.DEFAULT_BUFFER_SIZE
    assert deliverymodes.Batching().max_messages == defaults.DEFAULT_MAX_BATCH_MESSAGES
    assert deliverymodes.Batching().max_wait == defaults.DEFAULT_MAX_WAIT
    assert deliverymodes.Reconnect().initial_delay == defaults.DEFAULT_RECONNECT_DELAY
    assert deliverymodes.Reconnect().max_delay == defaults.DEFAULT_MAX_RECONNECT_DELAY
    assert all(isinstance(getattr(defaults, name), (int, float)) for name in defaults.__all__)


def test_every_http_name_is_documented() -> None:
    from deliverymodes import http

    shared = {name for name in http.__all__ if name in deliverymodes.__all__}
    assert documented("http") | shared == set(http.__all__)
    assert documented("http").isdisjoint(shared)
    for name in http.__all__:
        assert getattr(http, name).__doc__, name

"""The package around the code: public names, the sans-IO rule, typing marker, examples."""

from __future__ import annotations

import ast
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import deliverymodes

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "deliverymodes"
IO_MODULES = {"anyio", "trio", "asyncio", "sniffio", "socket", "selectors", "threading"}


def test_public_names_are_exactly_those_the_api_page_documents() -> None:
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([A-Za-z_]\w*)`", api, flags=re.MULTILINE))
    assert documented == set(deliverymodes.__all__)
    for name in deliverymodes.__all__:
        assert hasattr(deliverymodes, name), name


def test_public_names_have_docstrings() -> None:
    for name in deliverymodes.__all__:
        value = getattr(deliverymodes, name)
        if callable(value) and not isinstance(value, type(deliverymodes.LATEST)):
            assert value.__doc__, name


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path",
    [
        *sorted((PACKAGE / "_core").glob("*.py")),
        *sorted((PACKAGE / "_wire").glob("*.py")),
        PACKAGE / "_defaults.py",
    ],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_sans_io_core_imports_no_io(path: Path) -> None:
    assert imported_modules(path).isdisjoint(IO_MODULES)


def test_no_source_file_is_longer_than_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long


def module_imports() -> dict[str, set[str]]:
    """Each module of the package, and the modules of the package it imports when it is loaded
    (module-level imports only: not those inside functions or under TYPE_CHECKING)."""
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                if not node.level:
                    target = node.module or ""
                for alias in node.names:
                    child = f"{target}.{alias.name}"
                    edges.add(child if child in modules else target)
            elif isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
        graph[name] = {edge for edge in edges if edge in modules and edge != name}
    return graph


def test_no_import_cycles() -> None:
    graph = module_imports()
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str], done: set[str]) -> None:
        for imported in sorted(graph[module]):
            if imported in path:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in done:
                visit(imported, [*path, imported], done)
        done.add(module)

    finished: set[str] = set()
    for module in sorted(graph):
        if module not in finished:
            visit(module, [module], finished)
    assert not cycles
    assert "deliverymodes._wire" in graph["deliverymodes._remote._connection"]  # it reads imports


def test_core_runs_without_any_async_library() -> None:
    """Load the core modules alone, with anyio and trio made unimportable."""
    code = f"""
import sys, importlib.util, types
for name in ("anyio", "trio", "asyncio", "sniffio"):
    sys.modules[name] = None
package = types.ModuleType("deliverymodes")
package.__path__ = [{str(PACKAGE)!r}]
sys.modules["deliverymodes"] = package
import deliverymodes._core as core
log = core.RetentionLog(core.Retention(max_messages=2))
for n in range(3):
    log.append(n, 1, 0.0)
assert [m.payload for m in log.read(0, None, None).messages] == [1, 2]
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_exits_zero(example: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_the_required_examples_exist() -> None:
    assert {"switch_modes.py", "price_ticker.py"} <= {path.name for path in EXAMPLES}


README_OUTPUTS = ["0 BTC-USD 97 000\n", "[97000.0]\n"]


@pytest.mark.parametrize("index", range(len(README_OUTPUTS)))
def test_readme_examples_run(index: int) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert len(code) == len(README_OUTPUTS)
    result = subprocess.run(
        [sys.executable, "-c", code[index]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(README_OUTPUTS[index])


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("channels.py --messages 2000 --runs 1", "LongPollChannel, batches of 100"),
        ("tcp.py --messages 2000 --runs 1", "remote long poll"),
        ("http.py --clients 4 --seconds 0.3 --runs 1", "long poll 10/100ms"),
    ],
)
def test_benchmark_script_runs(command: str, expected: str) -> None:
    """A smoke run with tiny counts: it must work, its figures are not judged here."""
    script, *options = command.split()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def unused_imports(code: str) -> set[str]:
    tree = ast.parse(code)
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return imported - used


@pytest.mark.parametrize("index", range(len(README_OUTPUTS)))
def test_readme_examples_import_only_what_they_use(index: int) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert unused_imports(code[index]) == set()


def run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``module`` cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.modules[{module!r}] = None\n{code}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_http_clients_without_httpx_say_which_extra_to_install() -> None:
    result = run_without("httpx", "from deliverymodes.http import HttpRemote")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        'ModuleNotFoundError: HttpRemote needs httpx: pip install "deliverymodes[http]"'
    )


def test_the_http_app_needs_no_httpx() -> None:
    result = run_without("httpx", "from deliverymodes.http import HttpApp; print(HttpApp)")
    assert result.returncode == 0, result.stderr
    result = run_without("httpx", "import deliverymodes.http as h; h.NoSuchName")
    assert "AttributeError: module 'deliverymodes.http' has no attribute 'NoSuchName'" in (
        result.stderr
    )


WEB_EXAMPLE = ROOT / "examples" / "price_ticker_web" / "server.py"


def test_web_example_without_hypercorn_says_what_to_install() -> None:
    code = f"import runpy; runpy.run_path({str(WEB_EXAMPLE)!r}, run_name='__main__')"
    result = run_without("hypercorn", code)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "needs an ASGI server: pip install hypercorn" in result.stderr


def test_web_example_stops_cleanly_on_ctrl_c() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(WEB_EXAMPLE), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("serving")  # Ctrl-C is watched from here
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "stopping" in out


#: Where requirements came from is no part of the project: no file speaks of one as a source.
#: (The character classes keep this pattern from matching itself.)
OUTSIDE_WORDING = re.compile(r"\b(b[r]ief|i[s]sues?)\b", flags=re.IGNORECASE)
PROJECT_FILES = [
    ROOT / name for name in ("README.md", "CHANGELOG.md", "pyproject.toml", ".ci/run")
] + [
    path
    for folder in ("src", "docs", "examples", "benchmarks", "tests")
    for path in sorted((ROOT / folder).rglob("*"))
    if path.suffix in {".py", ".md", ".html", ".toml", ".txt"}
]


def test_no_file_speaks_of_requirements_from_outside_the_project() -> None:
    found = []
    for path in PROJECT_FILES:
        text = path.read_text(encoding="utf-8")
        for match in OUTSIDE_WORDING.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
    assert found == []


def test_no_document_repeats_a_heading() -> None:
    """A heading that comes twice in one document is text pasted twice, or a section that
    should have another name."""
    repeated = {}
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        lines = document.read_text(encoding="utf-8").splitlines()
        fenced = False
        headings = []
        for line in lines:
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and line.startswith("#"):
                headings.append(line.strip())
        twice = sorted({heading for heading in headings if headings.count(heading) > 1})
        if twice:
            repeated[document.name] = twice
    assert not repeated

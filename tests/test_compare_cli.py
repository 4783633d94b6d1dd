"""``deliverymodes compare`` as a command: what it refuses before measuring, and every output it
was asked for, produced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deliverymodes import __version__
from deliverymodes._cli import main
from deliverymodes._compare._options import SWEEPABLE

QUICK = ["--duration", "0.2", "--subscribers", "2"]


def run_without(module: str, arguments: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the command in a fresh interpreter where ``module`` cannot be imported."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from deliverymodes._cli import main\n"
        f"sys.exit(main({arguments!r}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_plot_without_matplotlib_is_refused_before_measuring(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    arguments = ["compare", "--sweep", "subscribers=1,10", *QUICK, "--plot", str(target)]
    result = run_without("matplotlib", arguments)
    assert result.returncode == 2
    assert '--plot needs matplotlib: pip install "deliverymodes[plot]"' in result.stderr
    assert "usage: deliverymodes compare" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # refused before the workload line: nothing was measured
    assert not target.exists()


def test_http_transport_without_its_extra_is_refused_before_measuring() -> None:
    result = run_without("hypercorn", ["compare", "--transport", "http", *QUICK])
    assert result.returncode == 2
    assert '--transport http needs hypercorn: pip install "deliverymodes[compare]"' in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_json_on_stdout_and_a_plot_are_both_produced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "sweep.png"
    arguments = ["--sweep", "rate=50,100", "--models", "push,long-poll", *QUICK]
    code = main(["compare", *arguments, "--json", "-", "--plot", str(target)])
    assert code == 0
    out, err = capsys.readouterr()
    data = json.loads(out)  # stdout is the JSON document and nothing else
    assert {row["model"] for row in data["results"]} == {"push", "long poll"}
    assert target.read_bytes().startswith(b"\x89PNG")
    assert f"plot written to {target}" in err


@pytest.mark.parametrize(
    ("option", "path", "message"),
    [
        ("--json", "/nonexistent/dir/x.json", "--json: no directory '/nonexistent/dir'"),
        ("--plot", "/nonexistent/dir/x.png", "--plot: no directory '/nonexistent/dir'"),
        ("--json", "{tmp}", "--json: {tmp} is a directory"),
        ("--plot", "{tmp}/x.unknown", "--plot {tmp}/x.unknown: expected a file name ending in"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_measuring(
    option: str, path: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, message = path.format(tmp=tmp_path), message.format(tmp=tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--sweep", "rate=50,100", *QUICK, option, path])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert message in err
    assert out == ""


def test_json_and_plot_to_one_file_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = str(tmp_path / "out.png")
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--sweep", "rate=50,100", *QUICK, "--json", same, "--plot", same])
    assert exited.value.code == 2
    assert "--json and --plot name the same file" in capsys.readouterr().err


def test_an_output_that_fails_after_measuring_gives_a_non_zero_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(path: str, text: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr("deliverymodes._cli._write_text", fail)
    target = tmp_path / "out.json"
    assert main(["compare", *QUICK, "--models", "push", "--json", str(target)]) == 1
    assert f"--json {target}: could not write it" in capsys.readouterr().err


def test_a_sweep_says_what_it_sweeps_and_how_each_claim_fares(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", *QUICK, "--sweep", "subscribers=1,3"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert header.startswith("1 or 3 subscribers, 100 messages/s")
    assert "20 subscribers" not in out
    assert "subscribers = 1\n" in out
    assert "subscribers = 3\n" in out
    words = " ".join(out.split())  # claim lines are wrapped
    assert "The claims across subscribers: - push has the lowest median latency: " in words
    assert "- most polls come back empty: " in words
    assert " at subscribers = " in words
    assert out.count("For this workload, ") == 2  # a recommendation under each table


def test_help_lists_the_settings_a_sweep_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in SWEEPABLE:
        assert name in text


def test_json_says_what_was_measured(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = [
        "--rate",
        "80",
        "--payload-size",
        "32",
        "--burst",
        "4",
        "--overflow",
        "drop-oldest",
    ]
    assert main(["compare", *QUICK, *arguments, "--models", "push,poll", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["deliverymodes"] == __version__
    assert data["models"] == ["push", "poll"]
    assert data["sweep"] is None
    workload = data["workload"]
    assert workload["subscribers"] == 2
    assert workload["rate"] == 80.0
    assert workload["payload_size"] == 32
    assert workload["burst"] == 4
    assert workload["duration"] == 0.2
    assert workload["overflow"] == "drop-oldest"
    assert workload["transport"] == "memory"
    assert data["recommendation"].startswith("For this workload, ")
    assert [claim["claim"] for claim in data["claims"]] == [
        "push has the lowest median latency",
        "most polls come back empty",
        "push delivers the most messages per second",
    ]


def test_json_of_a_sweep_carries_the_swept_value_everywhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", *QUICK, "--sweep", "burst=1,5", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sweep"] == {"setting": "burst", "values": [1, 5]}
    assert "burst" not in data["workload"]
    assert {row["burst"] for row in data["results"]} == {1, 5}
    assert {claim["burst"] for claim in data["claims"]} == {1, 5}
    assert [item["burst"] for item in data["recommendations"]] == [1, 5]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"deliverymodes {__version__}\n"


def test_an_unknown_option_shows_the_usage_of_compare(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--frobnicate"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: deliverymodes compare")
    assert "unrecognized arguments: --frobnicate" in err


def test_the_plot_is_written_at_the_path_given_even_without_an_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "runs.v2"
    folder.mkdir()
    target = folder / "plot"
    arguments = ["--sweep", "rate=50,100", "--models", "push", *QUICK, "--plot", str(target)]
    assert main(["compare", *arguments]) == 0
    assert target.read_bytes().startswith(b"\x89PNG")
    assert f"plot written to {target}\n" in capsys.readouterr().out

"""``deliverymodes compare``: options, a real short run of every model, and its consistency."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deliverymodes._cli import main
from deliverymodes._compare import MODELS, Result, Workload, run_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--subscribers", "0"], "--subscribers"),
        (["--rate", "-5"], "--rate"),
        (["--rate", "lots"], "--rate"),
        (["--overflow", "sideways"], "--overflow"),
        (["--models", "push,carrier-pigeon"], "--models"),
        (["--slow-share", "2"], "--slow-share"),
        (["--duration", "-1"], "--duration"),
        (["--transport", "pigeon"], "--transport"),
        (["--sweep", "colour=1,2"], "--sweep"),
        (["--sweep", "rate=fast,slow"], "--sweep"),
        (["--plot", "out.png"], "--plot"),
        (["--frobnicate"], "unrecognized"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", *arguments])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def check_consistency(result: Result, workload: Workload) -> None:
    assert result.published > 0
    for delivered, dropped, missed in result.per_subscriber:
        assert delivered + dropped + missed == result.published, result
    assert len(result.per_subscriber) == workload.subscribers
    assert result.delivered == sum(d for d, _, _ in result.per_subscriber)
    non_empty = result.requests - result.empty_responses
    assert 0 <= non_empty <= result.requests
    assert non_empty <= result.delivered
    assert result.latency_p50 is not None
    assert result.latency_max is not None
    assert 0 <= result.latency_p50 <= result.latency_max


SHORT = {"duration": 0.4, "subscribers": 4, "rate": 200.0, "burst": 4}


@pytest.mark.parametrize("model", MODELS)
async def test_every_model_in_memory_accounts_for_every_message(model: str) -> None:
    workload = Workload(**SHORT, slow_share=0.25, buffer_size=4)  # type: ignore[arg-type]
    result = await run_model(model, workload)
    check_consistency(result, workload)
    assert result.bytes_per_message is None


@pytest.mark.parametrize("transport", ["tcp", "http"])
@pytest.mark.parametrize("model", MODELS)
async def test_every_model_over_remote_transports(model: str, transport: str) -> None:
    workload = Workload(**SHORT, transport=transport)  # type: ignore[arg-type]
    result = await run_model(model, workload)
    check_consistency(result, workload)
    assert result.bytes_per_message is not None
    assert result.bytes_per_message > 0
    assert result.cpu_seconds > 0


def test_poll_comes_back_empty_more_often_than_long_poll_on_a_sparse_workload(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "compare",
            "--json",
            "-",
            "--rate",
            "20",
            "--burst",
            "1",
            "--duration",
            "0.6",
            "--subscribers",
            "3",
            "--poll-interval",
            "0.005",
            "--max-wait",
            "1",
        ]
    )
    assert code == 0
    results = {r["model"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert set(results) == set(MODELS)
    assert results["poll"]["empty_share"] > results["long poll"]["empty_share"]
    assert results["poll"]["requests_per_message"] > results["long poll"]["requests_per_message"]


def test_table_and_claims_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--duration", "0.3", "--subscribers", "2"]) == 0
    output = capsys.readouterr().out
    header = next(line for line in output.splitlines() if line.startswith("model"))
    for column in ("p50 ms", "req/msg", "empty", "bytes/msg", "peak buffered", "server CPU s"):
        assert column in header
    for model in MODELS:
        assert any(line.startswith(model) for line in output.splitlines())
    assert "lowest median latency" in output


def test_sweep_with_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "sweep.png"
    report = tmp_path / "sweep.json"
    code = main(
        [
            "compare",
            "--duration",
            "0.2",
            "--subscribers",
            "2",
            "--sweep",
            "rate=50,200",
            "--plot",
            str(plot),
            "--json",
            str(report),
        ]
    )
    assert code == 0
    assert plot.read_bytes().startswith(b"\x89PNG")
    rows = json.loads(report.read_text())["results"]
    assert sorted({row["rate"] for row in rows}) == [50.0, 200.0]
    assert len(rows) == 2 * len(MODELS)
    assert "rate = 50\n" in capsys.readouterr().out


def test_module_entry_point_and_ctrl_c() -> None:
    command = [sys.executable, "-m", "deliverymodes", "compare", "--duration", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()  # the workload line: the run has started
    assert "subscribers" in first
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("transport", ["memory", "tcp", "http"])
@pytest.mark.parametrize("model", MODELS)
async def test_peak_buffered_counts_every_unread_copy_the_same_way_everywhere(
    model: str, transport: str
) -> None:
    """One burst, published without a pause: when its last message is published no reader can
    have received any of it yet, wherever the messages wait (push buffer, retention log, socket,
    HTTP response), so the peak is the whole burst once per subscriber, exactly."""
    workload = Workload(subscribers=3, messages=4, burst=4, rate=1000.0, transport=transport)
    result = await run_model(model, workload)
    assert result.published == 4
    assert result.peak_buffered == 4 * 3

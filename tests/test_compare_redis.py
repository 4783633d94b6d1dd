"""``deliverymodes compare --transport redis``: every model through a private Redis, and what the
command refuses or reports plainly (no URL, a URL without the transport, no extra, no Redis)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import anyio
import pytest

from deliverymodes._cli import main
from deliverymodes._compare import MODELS, Workload, run_model
from deliverymodes.redis import RedisClient
from tests.redis_server import private_redis
from tests.test_compare import check_consistency
from tests.test_compare_cli import QUICK, run_without

PREFIX = "deliverymodes:compare:*"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with private_redis() as url:
        yield url


async def keys_left(url: str) -> list[bytes]:
    async with RedisClient(url) as client:
        keys: list[bytes] = await client.execute("KEYS", PREFIX)
    return keys


def test_the_redis_transport_without_a_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--transport", "redis", *QUICK])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert "--transport redis needs --redis-url URL" in err
    assert "usage: deliverymodes compare" in err
    assert out == ""


@pytest.mark.parametrize("transport", [None, "memory", "tcp", "http"])
def test_a_redis_url_without_the_redis_transport_is_refused(
    transport: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = [] if transport is None else ["--transport", transport]
    with pytest.raises(SystemExit) as exited:
        main(["compare", *chosen, "--redis-url", "redis://127.0.0.1:6379", *QUICK])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert f"--redis-url goes with --transport redis, not --transport {transport or 'memory'}" in (
        err
    )
    assert out == ""


def test_the_redis_transport_without_its_extra_is_refused_before_measuring() -> None:
    arguments = ["compare", "--transport", "redis", "--redis-url", "redis://127.0.0.1:1", *QUICK]
    result = run_without("hiredis", arguments)
    assert result.returncode == 2
    assert 'pip install "deliverymodes[redis]"' in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unreachable_redis_is_one_line_and_a_non_zero_status() -> None:
    url = "redis://user:secret@127.0.0.1:1"
    command = [sys.executable, "-m", "deliverymodes", "compare", "--transport", "redis"]
    result = subprocess.run(
        [*command, "--redis-url", url, *QUICK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    shown = "redis://user:***@127.0.0.1:1"  # the password is not shown
    assert result.stderr.startswith(f"deliverymodes: cannot connect to Redis at {shown}: ")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""  # nothing measured


def test_a_redis_url_that_is_not_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--transport", "redis", "--redis-url", "http://127.0.0.1", *QUICK])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert "--redis-url: url must start with redis://, rediss:// or unix://" in err
    assert out == ""


async def test_the_redis_transport_needs_its_url_and_only_it_does() -> None:
    with pytest.raises(ValueError, match="redis_url"):
        await run_model("push", Workload(transport="redis"))
    with pytest.raises(ValueError, match="redis_url"):
        await run_model("push", Workload(), redis_url="redis://127.0.0.1:1")


@pytest.mark.parametrize("model", MODELS)
async def test_every_model_through_redis_accounts_for_every_message(
    model: str, redis_url: str
) -> None:
    workload = Workload(
        duration=0.4, subscribers=3, rate=200.0, burst=4, slow_share=0.34, transport="redis"
    )
    result = await run_model(model, workload, redis_url=redis_url)
    check_consistency(result, workload)
    assert result.transport == "redis"
    assert result.delivered == result.published * workload.subscribers
    assert await keys_left(redis_url) == []


def test_the_command_runs_every_model_through_redis(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--transport", "redis", "--redis-url", redis_url, *QUICK, "--json", "-"]
    code = main(["compare", *arguments])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workload"]["transport"] == "redis"
    assert redis_url not in json.dumps(data)
    results = {row["model"]: row for row in data["results"]}
    assert set(results) == set(MODELS)
    for row in results.values():
        assert row["transport"] == "redis"
        assert row["delivered"] > 0


def shut_down(url: str) -> None:
    """Stop the Redis at a ``unix://`` URL, as if it crashed: no saving, clients cut off."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(url.removeprefix("unix://"))
        connection.sendall(b"SHUTDOWN NOSAVE\r\n")
        connection.recv(64)  # the server closes the connection as it goes


def test_redis_going_away_during_the_run_is_one_line_and_a_non_zero_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with private_redis() as url:
        timer = threading.Timer(0.5, shut_down, [url])
        timer.start()
        try:
            arguments = ["--transport", "redis", "--redis-url", url, "--duration", "3"]
            code = main(["compare", *arguments, "--subscribers", "2", "--models", "push"])
        finally:
            timer.join()
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("deliverymodes: the run stopped: ")
    assert url in err
    assert err.count("\n") == 1


def test_ctrl_c_through_redis_leaves_no_key_behind(redis_url: str) -> None:
    command = [sys.executable, "-m", "deliverymodes", "compare", "--transport", "redis"]
    process = subprocess.Popen(
        [*command, "--redis-url", redis_url, "--duration", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "over redis" in process.stdout.readline()  # the workload line: the run has started
    deadline = time.monotonic() + 10
    while not anyio.run(keys_left, redis_url):  # the first model's key, once it is made
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert anyio.run(keys_left, redis_url) == []


@pytest.mark.parametrize("model", MODELS)
async def test_a_run_through_redis_stopped_midway_is_cancelled_and_leaves_no_key(
    model: str, redis_url: str
) -> None:
    """As Ctrl-C stops it: the clients closing under the run are no failure of Redis's."""
    workload = Workload(duration=5, subscribers=5, transport="redis")
    with anyio.move_on_after(0.2) as scope:
        await run_model(model, workload, redis_url=redis_url)
    assert scope.cancelled_caught
    assert await keys_left(redis_url) == []

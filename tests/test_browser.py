"""The live price page in a real headless Chromium: prices update in every model.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). Without them the
tests are skipped, unless ``DELIVERYMODES_REQUIRE_BROWSER=1`` (as in CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")

if not (CHROMIUM and DRIVER):
    if os.environ.get("DELIVERYMODES_REQUIRE_BROWSER") == "1":
        raise RuntimeError("chromium and chromedriver are required here but not installed")
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_site(port: int) -> Iterator[str]:
    """The example site in a process of its own on ``port``."""
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples/price_ticker_web/server.py"),
            *("--port", str(port), "--rate", "20", "--duration", "120"),
        ],
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with running_site(free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def number(driver: webdriver.Chrome, element: str) -> int:
    return int(driver.find_element(By.ID, element).text or 0)


@pytest.mark.parametrize("model", ["sse", "longpoll", "poll"])
def test_prices_update_live_in_every_model(
    site: str, browser: webdriver.Chrome, model: str
) -> None:
    browser.get(f"{site}/?model={model}")
    wait = WebDriverWait(browser, 30, poll_frequency=0.1)
    assert browser.find_element(By.ID, "model").text == model
    wait.until(lambda driver: number(driver, "messages") >= 3)
    cell = browser.find_element(By.CSS_SELECTOR, "#prices tr .price")
    before = cell.text
    assert float(before) > 0
    seen = number(browser, "messages")
    wait.until(lambda driver: number(driver, "messages") >= seen + 10)  # still updating
    requests = number(browser, "requests")
    assert requests >= 1
    if model == "sse":
        assert requests <= 2  # one stream (a reconnection at most)
    if model == "poll":
        assert number(browser, "empty") >= 1  # polling asks in vain between ticks


@pytest.mark.parametrize("model", ["sse", "longpoll"])
def test_the_page_goes_on_across_a_server_restart(browser: webdriver.Chrome, model: str) -> None:
    """The server restarts on the same port with a new life of its channel: the browser's own
    EventSource (or the page's long polls) carries on, shows the gap, and never a duplicate."""
    port = free_port()
    wait = WebDriverWait(browser, 60, poll_frequency=0.1)
    with running_site(port) as url:
        browser.get(f"{url}/?model={model}")
        wait.until(lambda driver: number(driver, "messages") >= 5)
    before = number(browser, "messages")
    with running_site(port):
        wait.until(lambda driver: number(driver, "messages") >= before + 10)
        assert number(browser, "restarts") == 1  # the gap is shown
        assert number(browser, "duplicates") == 0

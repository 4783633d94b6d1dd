"""Every message is accounted for, for every subscriber: delivered, dropped or missed, also for
a subscriber the DISCONNECT policy cut off."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from deliverymodes import Overflow
from deliverymodes._compare import Workload, run_model
from tests.test_compare import check_consistency

ROOT = Path(__file__).resolve().parent.parent


async def test_compare_accounts_for_cut_off_subscribers() -> None:
    workload = Workload(
        duration=0.4,
        subscribers=4,
        rate=2000.0,
        burst=20,
        slow_share=0.5,
        slow_delay=0.01,
        buffer_size=4,
        overflow=Overflow.DISCONNECT,
    )
    result = await run_model("push", workload)
    check_consistency(result, workload)
    assert result.dropped > 0  # the slow half was cut off


def test_the_price_ticker_example_accounts_for_every_tick() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples/price_ticker.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    counts = re.findall(r"delivered (\d+) \+ dropped (\d+) = \d+ of (\d+)", run.stdout)
    assert len(counts) == 8  # two readers under each of the four policies
    for delivered, dropped, published in counts:
        assert int(delivered) + int(dropped) == int(published) == 1000
    assert "cut off after" in run.stdout

"""Tasks for the time-limit and cancellation tests: loops that only an interruption
ends, and ways to see from the caller that the interruption really happened."""

from __future__ import annotations

import time
from pathlib import Path

from interpool._platform import interpreters


def spin_forever(marker: str | None = None) -> None:
    """Loop in pure Python until interrupted; then write ``marker`` (a file path)."""
    try:
        while True:
            pass
    finally:
        if marker is not None:
            Path(marker).write_text(f"interrupted in {interpreters.get_current().id}")


def spin_for(seconds: float, value: object = None) -> object:
    """Busy for ``seconds`` (pure Python), then return ``value``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return value


def sleep_then_mark(seconds: float, marker: str) -> str:
    """Block in one C call for ``seconds``, then write ``marker`` (reached only if the
    call was not interrupted) and return it."""
    time.sleep(seconds)
    Path(marker).write_text("slept")
    return marker


def spin_if(x: int, bad: int) -> int:
    """``x * 2``, except for ``bad``, which spins until interrupted."""
    if x == bad:
        spin_forever()
    return x * 2


def interp_id() -> int:
    return interpreters.get_current().id


def print_ready_then_spin() -> None:
    spin_forever()

"""The platform primitives: signals, event-loop detection, the callback timer; and the
argument checks channels share with the pool."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from interpool._api import arguments
from interpool._platform import deadlines, eventloop, signals

from ..support import run_python

pytestmark = pytest.mark.timeout(60)


# -- signals --------------------------------------------------------------------------------


def test_blocking_signal_wait_and_wait_for() -> None:
    signal = signals.Signal()
    try:
        assert not signals.wait_for(signal.rfd, 0)
        assert not signals.wait_for(signal.rfd, 0.01)
        signal.notify()
        signal.notify()
        assert signals.wait_for(signal.rfd, 1)  # consumes both
        assert not signals.wait_for(signal.rfd, 0)
        signal.notify()
        signal.wait()
        threading.Timer(0.05, signal.notify).start()
        signal.wait()
    finally:
        signal.close()
        signal.close()  # idempotent


def test_non_blocking_signal_readable_and_drain() -> None:
    rfd, wfd = signals.new(blocking=False)
    try:
        signals.drain(rfd)  # nothing pending: returns at once
        assert not signals.readable(rfd, 0)
        signals.notify(wfd)
        assert signals.readable(rfd, 0)
        assert signals.readable(rfd, None)  # readable does not consume
        signals.drain(rfd)
        assert not signals.readable(rfd, 10)
    finally:
        signals.close(rfd, wfd)


def test_wait_for_does_not_wake_early() -> None:
    signal = signals.Signal()
    try:
        start = time.monotonic()
        assert not signals.wait_for(signal.rfd, 0.0105)
        assert time.monotonic() - start >= 0.0105
    finally:
        signal.close()


def test_signals_beyond_select_limit() -> None:
    """Waiting with a time limit works on descriptors above ``select``'s 1024."""
    signal = signals.Signal()
    high = 1500
    try:
        os.dup2(signal.rfd, high)
    except OSError:
        pytest.skip("cannot open a descriptor above 1024 here")
    try:
        assert not signals.wait_for(high, 0.001)
        signal.notify()
        assert signals.wait_for(high, 1)
    finally:
        os.close(high)
        signal.close()


# -- event loops ----------------------------------------------------------------------------


def test_no_event_loop() -> None:
    assert eventloop.asyncio_loop() is None
    assert eventloop.trio() is None


def test_asyncio_detected() -> None:
    async def main() -> tuple[object, object, object]:
        return eventloop.asyncio_loop(), asyncio.get_running_loop(), eventloop.trio()

    found, running, trio = asyncio.run(main())
    assert found is running
    assert trio is None


def test_trio_detected() -> None:
    trio = pytest.importorskip("trio")

    async def main() -> tuple[object, object]:
        return eventloop.asyncio_loop(), eventloop.trio()

    assert trio.run(main) == (None, trio)
    assert eventloop.trio() is None  # outside the run


def test_eventloop_imports_no_asyncio_trio_or_typing() -> None:
    code = (
        "import sys, interpool._platform.eventloop as e\n"
        "assert e.asyncio_loop() is None and e.trio() is None\n"
        "print(sorted(m for m in ('asyncio', 'trio', 'typing') if m in sys.modules))"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the callback timer ------------------------------------------------------------------


def test_deadlines_run_in_order_and_cancel() -> None:
    fired: list[str] = []
    done = threading.Event()
    deadlines.at(0.06, lambda: (fired.append("late"), done.set()))
    cancelled = deadlines.at(0.03, lambda: fired.append("cancelled"))
    deadlines.at(0.01, lambda: fired.append("early"))
    cancelled.cancel()
    assert done.wait(10)
    assert fired == ["early", "late"]


# -- argument checks ---------------------------------------------------------------------


def test_deadline() -> None:
    assert arguments.deadline(None) is None
    start = time.monotonic()
    end = arguments.deadline(2)
    assert end is not None and start + 2 <= end <= time.monotonic() + 2
    with pytest.raises(TypeError, match=r"not bool \(hint\)$"):
        arguments.deadline(True, " (hint)")
    with pytest.raises(TypeError, match=r"number of seconds or None, not str$"):
        arguments.deadline("1", " (hint)")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be >= 0"):
        arguments.deadline(float("nan"))
    with pytest.raises(ValueError, match="must be >= 0"):
        arguments.deadline(-1)

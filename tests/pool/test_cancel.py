"""Cancelling tasks: queued, running (interrupted), from asyncio, at shutdown, Ctrl-C."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import interpool

from ..support import PATIENCE, interpreter_ids, wait_until, warm_up, write
from ..tasks import basic as tasks
from ..tasks import interrupts as it

pytestmark = pytest.mark.timeout(60)


def test_cancelling_a_running_task_interrupts_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with interpool.Pool(1) as pool:
        old = pool.submit(it.interp_id).result(timeout=PATIENCE)
        future = pool.submit(it.spin_forever, str(marker))
        time.sleep(0.2)
        assert future.running()
        assert future.cancel()
        assert future.cancelled()
        assert future.done()
        with pytest.raises(cf.CancelledError):
            future.result(timeout=0)
        assert wait_until(lambda: marker.exists() and marker.read_text() != "", timeout=5.0)
        assert marker.read_text() == f"interrupted in {old}"
        # A fresh worker took its place, and the old interpreter is gone.
        new = pool.submit(it.interp_id).result(timeout=PATIENCE)
        assert new != old
        assert wait_until(lambda: old not in interpreter_ids())
        assert future.cancel()  # again: still cancelled


def test_wait_and_as_completed_see_a_cancelled_running_task(pool1: interpool.Pool) -> None:
    pool1.submit(tasks.add, 0, 0).result(timeout=PATIENCE)  # the worker is up
    future = pool1.submit(it.spin_forever)
    other = pool1.submit(tasks.add, 1, 2)
    time.sleep(0.1)
    results: list[cf.Future[object]] = []

    def cancel_soon() -> None:
        time.sleep(0.2)
        future.cancel()

    import threading

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    done, _ = cf.wait([future], timeout=PATIENCE)
    assert future in done
    results.extend(cf.as_completed([future, other], timeout=PATIENCE))
    canceller.join()
    assert set(results) == {future, other}
    assert other.result() == 3


def test_a_queued_task_that_is_cancelled_never_runs(pool1: interpool.Pool) -> None:
    pool1.submit(tasks.add, 0, 0).result(timeout=PATIENCE)  # the worker is up
    blocker = pool1.submit(it.spin_for, 0.4, "done")
    queued = pool1.submit(tasks.count_call, "cancel-queued")  # in the workers' queue
    time.sleep(0.1)
    assert queued.cancel(interrupt=False)
    assert queued.cancelled()
    assert not blocker.cancel(interrupt=False)  # running, and left alone
    assert blocker.result(timeout=PATIENCE) == "done"
    # The worker skipped the cancelled call: this is the first one to run.
    assert pool1.submit(tasks.count_call, "cancel-queued").result(timeout=PATIENCE) == 1


def test_cancel_a_finished_task_returns_false(pool: interpool.Pool) -> None:
    future = pool.submit(tasks.add, 1, 1)
    assert future.result(timeout=PATIENCE) == 2
    assert not future.cancel()
    assert not future.cancelled()


def test_cancelling_an_awaiting_task_interrupts_the_call(tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    async def main(pool: interpool.Pool) -> None:
        task = asyncio.ensure_future(pool.run(it.spin_forever, str(marker)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.run(tasks.add, 2, 3) == 5

    with interpool.Pool(1) as pool:
        pool.submit(tasks.add, 0, 0).result(timeout=PATIENCE)  # the worker is up
        asyncio.run(main(pool))
        assert wait_until(marker.exists, timeout=5.0)


def test_shutdown_cancel_running_returns_promptly(tmp_path: Path) -> None:
    markers = [tmp_path / f"m{i}" for i in range(2)]
    pool = interpool.Pool(2)
    warm_up(pool)
    running = [pool.submit(it.spin_forever, str(m)) for m in markers]
    queued = [pool.submit(tasks.add, i, i) for i in range(10)]
    time.sleep(0.3)
    start = time.monotonic()
    pool.shutdown(wait=True, cancel_futures=True, cancel_running=True)
    assert time.monotonic() - start < 5.0
    assert all(f.cancelled() for f in running)
    assert all(f.done() for f in queued)
    assert wait_until(lambda: all(m.exists() for m in markers), timeout=5.0)


@pytest.mark.parametrize("attempt", range(4))
def test_shutdown_does_not_wait_for_a_task_stuck_in_c(attempt: int) -> None:
    """A running task blocked in one C call (here ``time.sleep``) cannot be stopped
    before the call returns, but ``shutdown(wait=True, cancel_running=True)`` must not
    wait for it (the collector used to miss the moment its worker was retired, and
    waited until the call returned)."""
    before = interpreter_ids()
    pool = interpool.Pool(1)
    warm_up(pool)
    future = pool.submit(tasks.sleep_return, 2.0, None)
    time.sleep(0.2)
    start = time.monotonic()
    pool.shutdown(wait=True, cancel_futures=True, cancel_running=True)
    assert time.monotonic() - start < 1.0  # the call still has 1.8 s to go
    assert future.cancelled()
    # Leave no interpreter behind for the next tests: the call ends after 2 s.
    assert wait_until(lambda: interpreter_ids() <= before, timeout=PATIENCE)


def test_map_closed_early_does_not_interrupt_running_chunks(pool1: interpool.Pool) -> None:
    pool1.submit(tasks.add, 0, 0).result(timeout=PATIENCE)  # the worker is up
    results = pool1.map(it.spin_for, [0.2] * 6, range(6), chunksize=1)
    assert next(results) == 0
    first = pool1.submit(it.interp_id).result(timeout=PATIENCE)
    results = pool1.map(it.spin_for, [0.2] * 6, range(6), chunksize=1)
    assert next(results) == 0
    results.close()  # type: ignore[attr-defined]
    # The running chunk finished in the same worker: nothing was interrupted.
    assert pool1.submit(it.interp_id).result(timeout=PATIENCE) == first


# -- Ctrl-C ----------------------------------------------------------------------------

_CTRL_C_SCRIPTS = {
    "map in a with block": """
        with interpool.Pool(2) as pool:
            print("ready", flush=True)
            list(pool.map(it.spin_if, range(8), [3] * 8, chunksize=1))
    """,
    "result() in a with block": """
        with interpool.Pool(2) as pool:
            futures = [pool.submit(it.spin_forever) for _ in range(4)]
            print("ready", flush=True)
            futures[0].result()
    """,
    "async run": """
        import asyncio

        async def main():
            async with interpool.Pool(2) as pool:
                print("ready", flush=True)
                await asyncio.gather(*(pool.run(it.spin_forever) for _ in range(3)))

        asyncio.run(main())
    """,
}

_PRELUDE = """
import signal, sys
# A test run started in the background by a shell inherits an ignored SIGINT: restore
# Python's handler, which is what a user at a terminal has.
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {root!r})
import interpool
from tests.tasks import interrupts as it
"""


@pytest.mark.parametrize("case", sorted(_CTRL_C_SCRIPTS))
def test_ctrl_c_returns_control_promptly(tmp_path: Path, case: str) -> None:
    root = str(Path(__file__).resolve().parents[2])
    import textwrap

    source = _PRELUDE.format(root=root) + textwrap.dedent(_CTRL_C_SCRIPTS[case])
    script = write(tmp_path / "ctrl_c.py", source)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # the tasks are running
        os.kill(proc.pid, signal.SIGINT)
        start = time.monotonic()
        _, stderr = proc.communicate(timeout=PATIENCE)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 3.0, f"{case}: exit took {took:.1f} s"
    assert "KeyboardInterrupt" in stderr
    assert "Fatal" not in stderr
    assert proc.returncode != 0


def test_ctrl_c_in_result_outside_a_with_block_leaves_the_pool_usable(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    source = _PRELUDE.format(root=root) + (
        "pool = interpool.Pool(2)\n"
        "future = pool.submit(it.spin_for, 1.5, 'late')\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    future.result()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "print(pool.submit(pow, 2, 10).result(), future.result(), flush=True)\n"
        "pool.shutdown()\n"
    )
    script = write(tmp_path / "ctrl_c.py", source)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0, stderr
    assert stdout.split() == ["interrupted", "1024", "late"]

"""Coroutine functions run on an event loop inside the worker interpreters."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest

import interpool

from ..support import PATIENCE, interpreter_ids, wait_until
from ..tasks import basic as tasks
from ..tasks import coroutines as async_tasks

pytestmark = pytest.mark.timeout(90)


def test_submit_an_async_function(pool: interpool.Pool) -> None:
    assert pool.submit(async_tasks.add_later, 2, 3).result(timeout=PATIENCE) == 5
    assert pool.submit(async_tasks.returns_coroutine, 4).result(timeout=PATIENCE) == 5


def test_one_worker_serves_many_coroutines_at_once(pool1: interpool.Pool) -> None:
    """50 coroutines that each wait for all 50 to have started: only possible if the
    single worker runs them all at the same time."""
    with tempfile.TemporaryDirectory() as directory:
        futures = [
            pool1.submit(async_tasks.wait_for_files, directory, f"c{i}", 50, PATIENCE)
            for i in range(50)
        ]
        ids = {f.result(timeout=PATIENCE + 5) for f in futures}
    assert len(ids) == 1


def test_sync_tasks_run_while_coroutines_wait(pool1: interpool.Pool) -> None:
    slow = pool1.submit(async_tasks.add_later, 1, 1, 1.0)
    start = time.monotonic()
    assert pool1.submit(tasks.add, 2, 2).result(timeout=PATIENCE) == 4
    assert not slow.done() or time.monotonic() - start < 1.0
    assert slow.result(timeout=PATIENCE) == 2


def test_errors_come_back_as_themselves(pool: interpool.Pool) -> None:
    with pytest.raises(ValueError, match="boom") as info:
        pool.submit(async_tasks.fail_later, "boom", 0.01).result(timeout=PATIENCE)
    assert "fail_later" in str(info.value.__cause__)
    with pytest.raises(asyncio.CancelledError):
        pool.submit(async_tasks.self_cancel).result(timeout=PATIENCE)
    assert pool.submit(async_tasks.add_later, 1, 2).result(timeout=PATIENCE) == 3


def test_time_limit_cancels_the_coroutine_and_keeps_the_worker(pool1: interpool.Pool) -> None:
    worker = pool1.submit(tasks.interp_id).result(timeout=PATIENCE)
    # The task's module (and asyncio) loaded first, so that the limit finds the
    # coroutine on the worker's event loop: under load, importing them can outlast the
    # limit, which then interrupts the worker like any running task, and replaces it
    # (see test_a_lost_interruption_never_starts_the_coroutine).
    assert pool1.submit(async_tasks.add_later, 1, 1).result(timeout=PATIENCE) == 2
    with tempfile.TemporaryDirectory() as directory:
        future = pool1.options(task_timeout=0.2).submit(async_tasks.mark_when_cancelled, directory)
        with pytest.raises(TimeoutError, match=r"time limit of 0\.2 s"):
            future.result(timeout=PATIENCE)
        assert wait_until(lambda: Path(directory, "cancelled").exists())
    assert pool1.submit(tasks.interp_id).result(timeout=PATIENCE) == worker


def test_cancel_cancels_the_coroutine_in_the_worker(pool1: interpool.Pool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        future = pool1.submit(async_tasks.mark_when_cancelled, directory)
        # Wait until the coroutine runs: cancelled before its first step, it would
        # never run at all (as an asyncio task cancelled before it starts).
        assert wait_until(lambda: Path(directory, "started").exists())
        assert future.cancel()
        assert future.cancelled()
        assert wait_until(lambda: Path(directory, "cancelled").exists())
    assert pool1.submit(async_tasks.add_later, 1, 1).result(timeout=PATIENCE) == 2


def test_cancel_without_interrupt_leaves_a_running_coroutine(pool1: interpool.Pool) -> None:
    future = pool1.submit(async_tasks.add_later, 1, 1, 0.3)
    assert pool1.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2
    assert isinstance(future, interpool.PoolFuture)
    assert future.cancel(interrupt=False) is False
    assert future.result(timeout=PATIENCE) == 2


def test_cancelling_the_awaiting_task_cancels_the_coroutine() -> None:
    # Several times: the order of events varies from one round to the next.
    async def main(directory: str) -> None:
        task = asyncio.ensure_future(pool.run(async_tasks.mark_when_cancelled, directory))
        # Wait until the coroutine runs.  (Not by awaiting another pool.run() first:
        # ensure_future() submits only once the new task first runs, after that other
        # call, whose result then says nothing about the coroutine, which may still be
        # queued or not begun, and then never runs at all.)
        while not Path(directory, "started").exists():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(wait_until, lambda: Path(directory, "cancelled").exists())

    async def rounds() -> None:
        worker = await pool.run(tasks.interp_id)
        for _ in range(5):
            with tempfile.TemporaryDirectory() as directory:
                await main(directory)
        assert await pool.run(async_tasks.add_later, 2, 2) == 4
        assert await pool.run(tasks.interp_id) == worker  # nothing was interrupted

    with interpool.Pool(1) as pool:
        asyncio.run(rounds())


@pytest.mark.parametrize("how", ["time limit", "cancel"])
def test_a_lost_interruption_never_starts_the_coroutine(how: str) -> None:
    """The pool interrupts a task whose call will return a coroutine (the worker is
    still importing or calling): the interruption lands in a weakref callback and is
    lost, then the call returns its coroutine.  The future has already failed: the
    worker must not run the coroutine (nor stay: it is replaced)."""
    with tempfile.TemporaryDirectory() as directory, interpool.Pool(1) as pool:
        worker = pool.submit(tasks.interp_id).result(timeout=PATIENCE)
        # The worker imports the tasks' module now, not within the time limit below.
        assert pool.submit(async_tasks.add_later, 0, 0).result(timeout=PATIENCE) == 0
        if how == "cancel":
            future = pool.submit(async_tasks.loses_an_interruption, directory)
            assert wait_until(lambda: Path(directory, "calling").exists())
            assert future.cancel()
        else:
            future = pool.options(task_timeout=0.1).submit(
                async_tasks.loses_an_interruption, directory
            )
            with pytest.raises(TimeoutError, match=r"time limit of 0\.1 s"):
                future.result(timeout=PATIENCE)
        assert pool.submit(async_tasks.add_later, 1, 1).result(timeout=PATIENCE) == 2
        assert pool.submit(tasks.interp_id).result(timeout=PATIENCE) != worker
        assert Path(directory, "calling").exists()
        assert not wait_until(lambda: Path(directory, "started").exists(), timeout=0.5)


def test_map_of_an_async_function_runs_each_chunk_concurrently(pool1: interpool.Pool) -> None:
    start = time.monotonic()
    results = list(pool1.map(async_tasks.add_later, range(40), range(40), [0.2] * 40))
    elapsed = time.monotonic() - start
    assert results == [2 * i for i in range(40)]
    assert elapsed < 40 * 0.2 / 2  # far from one after the other (8 s)


def test_map_of_an_async_function_stops_at_the_first_error(pool: interpool.Pool) -> None:
    it = pool.map(async_tasks.fail_if, range(20), [7] * 20, chunksize=5)
    assert [next(it) for _ in range(7)] == [2 * i for i in range(7)]
    with pytest.raises(ValueError, match="bad item 7"):
        next(it)


def test_large_results_of_coroutines(pool: interpool.Pool) -> None:
    size = 8 << 20
    assert pool.submit(async_tasks.big_bytes, size).result(timeout=PATIENCE) == bytes(size)
    value = pool.submit(async_tasks.big_bytearray, size).result(timeout=PATIENCE)
    assert value == bytearray(b"x" * size)


def test_shutdown_waits_for_running_coroutines() -> None:
    before = interpreter_ids()
    pool = interpool.Pool(1)
    futures = [pool.submit(async_tasks.add_later, i, 1, 0.3) for i in range(10)]
    pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE)
    pool.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futures] == [i + 1 for i in range(10)]
    assert interpreter_ids() <= before


def test_shutdown_cancel_running_cancels_coroutines() -> None:
    pool = interpool.Pool(1)
    future = pool.submit(async_tasks.sleep_forever)
    pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE)
    start = time.monotonic()
    pool.shutdown(wait=True, cancel_futures=True, cancel_running=True)
    assert time.monotonic() - start < PATIENCE
    assert future.cancelled()


def test_recycling_waits_for_coroutines(tmp_path: Path) -> None:
    with interpool.Pool(1, max_tasks_per_worker=2) as pool:
        futures = [pool.submit(async_tasks.add_later, i, 0, 0.1) for i in range(10)]
        assert [f.result(timeout=PATIENCE) for f in futures] == list(range(10))


def test_idle_timeout_does_not_end_a_worker_with_running_coroutines() -> None:
    with interpool.Pool(1, idle_timeout=0.05) as pool:
        future = pool.submit(async_tasks.add_later, 1, 2, 0.5)
        assert future.result(timeout=PATIENCE) == 3


def test_a_coroutine_may_gather_inside_the_worker(pool: interpool.Pool) -> None:
    assert pool.submit(async_tasks.gather_in_worker, 100, 0.05).result(timeout=PATIENCE) == 4950


def test_bookkeeping_stays_exact_under_many_coroutines(pool1: interpool.Pool) -> None:
    """A coroutine's result may be collected (by a caller helping in ``result()``)
    before its ACCEPTED message: the queue's count must not drift."""
    for _ in range(300):
        pool1.submit(async_tasks.add_later, 1, 1).result(timeout=PATIENCE)
    scheduler = pool1._backend.scheduler
    assert wait_until(lambda: scheduler._in_queue == 0 and not scheduler._accepted)
    assert not scheduler._replied
    # The queue bound holds: most of a burst waits (cancellable) in the pool.
    blocker = pool1.submit(tasks.sleep_return, 0.5, None)
    burst = [pool1.submit(tasks.add, i, 0) for i in range(50)]
    assert scheduler._in_queue <= scheduler._depth
    blocker.result(timeout=PATIENCE)
    assert [f.result(timeout=PATIENCE) for f in burst] == list(range(50))


def test_thousands_of_cancelled_coroutines_are_all_cancelled() -> None:
    pool = interpool.Pool(1)
    futures = [pool.submit(async_tasks.sleep_forever) for _ in range(5000)]
    assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2
    assert all(f.cancel() for f in futures)
    start = time.monotonic()
    pool.shutdown(wait=True)  # waits for every coroutine: each must have been cancelled
    assert time.monotonic() - start < PATIENCE
    assert all(f.cancelled() for f in futures)


def test_recycling_replaces_a_worker_that_waits_for_its_coroutines() -> None:
    with interpool.Pool(1, max_tasks_per_worker=1) as pool:
        slow = pool.submit(async_tasks.add_later, 1, 1, 3.0)
        start = time.monotonic()
        assert pool.submit(tasks.add, 2, 2).result(timeout=PATIENCE) == 4
        assert time.monotonic() - start < 2.5  # not after the 3 s coroutine
        assert slow.result(timeout=PATIENCE) == 2


def test_a_coroutine_cancelled_before_its_first_step_still_ends() -> None:
    """The loop cancels a coroutine's task after creating it and before its first step
    (a cancel that arrives right after the coroutine begins): asyncio then never enters
    the runner's wrapper, and the worker used to wait for that coroutine forever when
    it left.  It must reply SKIPPED and count the coroutine as ended."""
    import os
    import threading

    from interpool._platform import interpreters as _interp
    from interpool._wire.protocol import FROM_LOOP, SKIPPED
    from interpool._worker.coroutines import CoroutineRunner

    replies: list[tuple[int, int]] = []
    cancel_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    runner = CoroutineRunner(lambda r: replies.append(r[:2]), _interp.create_queue(), cancel_fd)
    try:
        never_run = asyncio.sleep(3600)
        runner.expect(7)
        runner.start(7, never_run, None)  # queues the task's creation on the loop...

        def cancel_before_first_step() -> None:  # ...and this right after it
            runner._cancelled.add(7)
            runner._tasks[7].cancel()

        loop = runner._loop
        assert loop is not None
        loop.call_soon_threadsafe(cancel_before_first_step)
        finished = threading.Thread(target=runner.finish)
        finished.start()
        finished.join(PATIENCE)
        assert not finished.is_alive(), "the worker waits forever for the coroutine"
        assert replies == [(7, SKIPPED + FROM_LOOP)]
        assert never_run.cr_frame is None  # closed, never awaited
    finally:
        os.close(cancel_fd)

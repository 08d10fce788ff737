"""What only the threads backend does: interruptions raised in the pool's own threads
must never leak into its bookkeeping (a lock left held, a task left unfinished), even
when a time limit fires just as a task ends."""

from __future__ import annotations

import threading
import time

import pytest

import interpool

from ..support import PATIENCE, wait_until
from ..tasks import backends as bt
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(120)


def test_time_limits_that_fire_as_tasks_end_leave_the_pool_sound() -> None:
    # Each task takes about as long as its limit: many limits fire while the worker
    # is finishing the task, in the pool's own code.
    with interpool.Pool(2, backend="threads") as pool:
        limited = pool.options(task_timeout=0.002)
        futures = [limited.submit(bt.spin, 0.002) for _ in range(300)]
        done = [f.exception(timeout=PATIENCE) for f in futures]
        assert all(e is None or isinstance(e, TimeoutError) for e in done)
        assert pool.submit(tasks.square, 7).result(timeout=PATIENCE) == 49
        backend = pool._backend
        assert not any(w.task is not None for w in backend._workers)  # type: ignore[attr-defined]
    assert wait_until(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("interpool-thread")]
    )


def test_queued_tasks_run_after_a_task_stopped_after_shutdown() -> None:
    pool = interpool.Pool(1, backend="threads", task_timeout=0.3)
    slow = pool.submit(bt.spin, 5.0)
    quick = pool.submit(tasks.square, 3)
    pool.shutdown(wait=True)
    with pytest.raises(TimeoutError):
        slow.result(timeout=0)
    assert quick.result(timeout=PATIENCE) == 9


def test_shutdown_with_wait_from_a_task_returns() -> None:
    pool = interpool.Pool(2, backend="threads")
    started = time.monotonic()
    assert pool.submit(pool.shutdown, True).result(timeout=PATIENCE) is None
    assert time.monotonic() - started < PATIENCE
    pool.shutdown()


def test_a_failing_initializer_breaks_the_pool_after_running_tasks_end() -> None:
    pool = interpool.Pool(1, backend="threads", initializer=tasks.failing_init)
    first = pool.submit(tasks.square, 2)
    with pytest.raises(interpool.BrokenPool, match="initializer exploded"):
        first.result(timeout=PATIENCE)
    with pytest.raises(interpool.BrokenPool):
        pool.submit(tasks.square, 2)
    pool.shutdown()

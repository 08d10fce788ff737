"""``Pool(fallback="processes")``: tasks that hit an incompatible extension module
(numpy here) run again in a process, transparently."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from collections.abc import Iterator

import pytest

import interpool

from ..support import PATIENCE, wait_until
from ..tasks import basic as tasks
from ..tasks import needs_numpy as nt
from ..tasks import processes as pt

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def fpool() -> Iterator[interpool.Pool]:
    with interpool.Pool(2, fallback="processes") as p:
        yield p


def test_without_fallback_the_task_fails_with_incompatible_module_error(
    pool: interpool.Pool,
) -> None:
    with pytest.raises(interpool.IncompatibleModuleError, match="numpy") as info:
        pool.submit(nt.numpy_sum, 10).result(timeout=PATIENCE)
    assert info.value.name is not None
    assert info.value.name.startswith("numpy")
    assert 'fallback="processes"' in str(info.value)
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3


def test_a_task_that_needs_numpy_runs_in_a_process(fpool: interpool.Pool) -> None:
    assert fpool.submit(nt.numpy_sum, 10).result(timeout=PATIENCE) == 45
    # Later calls of the same function go straight to a process.
    value, pid = fpool.submit(nt.numpy_sum_with_pid, 100).result(timeout=PATIENCE)
    assert value == 4950
    assert pid != os.getpid()
    value, pid = fpool.submit(nt.numpy_sum_with_pid, 4).result(timeout=PATIENCE)
    assert (value, pid != os.getpid()) == (6, True)
    # Other functions still run in worker interpreters of this process.
    assert fpool.submit(os.getpid).result(timeout=PATIENCE) == os.getpid()


def test_map_moves_the_rest_of_a_chunk_to_a_process(fpool: interpool.Pool) -> None:
    # Items below 5 need no numpy; from 5 on they do: each chunk's tail moves.
    xs = list(range(20))
    assert list(fpool.map(nt.numpy_above, xs, [5] * 20, chunksize=8)) == xs
    assert list(fpool.map(nt.numpy_above, xs, [0] * 20, chunksize=3)) == xs


def test_a_lambda_that_needs_numpy(fpool: interpool.Pool) -> None:
    def local(n: int) -> int:
        import numpy

        return int(numpy.ones(n).sum())

    assert fpool.submit(local, 7).result(timeout=PATIENCE) == 7
    assert fpool.submit(lambda: local(3)).result(timeout=PATIENCE) == 3


def test_errors_in_the_process_come_back_faithfully(fpool: interpool.Pool) -> None:
    with pytest.raises(ValueError, match=r"^boom 1$") as info:
        fpool.submit(nt.numpy_raises, "boom").result(timeout=PATIENCE)
    assert isinstance(info.value.__cause__, interpool.RemoteTraceback)
    assert "numpy_raises" in info.value.__cause__.tb


def test_async_run_falls_back_too(fpool: interpool.Pool) -> None:
    import asyncio

    async def main() -> int:
        return await fpool.run(nt.numpy_sum, 5)

    assert asyncio.run(main()) == 10


def test_an_async_def_task_that_needs_numpy_runs_in_a_process(fpool: interpool.Pool) -> None:
    assert fpool.submit(nt.numpy_sum_async, 10).result(timeout=PATIENCE) == 45
    assert list(fpool.map(nt.numpy_sum_async, [3, 4], chunksize=2)) == [3, 6]


def test_a_rerouted_task_can_be_cancelled(fpool: interpool.Pool) -> None:
    # Occupy the processes, then cancel a call waiting for one.
    fpool.submit(nt.numpy_sleep, 0.01).result(timeout=PATIENCE)
    busy = [fpool.submit(nt.numpy_sleep, 0.5) for _ in range(6)]
    last = fpool.submit(nt.numpy_sleep, 0.5)
    assert last.cancel()
    assert last.cancelled()
    with pytest.raises(cf.CancelledError):
        last.result(timeout=0)
    assert [f.result(timeout=PATIENCE) for f in busy] == [1] * 6


def test_a_crash_or_a_cancel_in_a_process_fails_that_task_only(fpool: interpool.Pool) -> None:
    error = fpool.submit(pt.numpy_then_exit, 3).exception(timeout=PATIENCE)
    assert isinstance(error, interpool.WorkerCrashed)
    assert "exited with code 3" in str(error)
    fpool.submit(nt.numpy_sleep, 0.01).result(timeout=PATIENCE)  # from now on: processes
    running = fpool.submit(nt.numpy_sleep, 30)
    assert wait_until(running.running)
    assert running.cancel()  # kills its process
    assert running.cancelled()
    assert fpool.submit(nt.numpy_sum, 4).result(timeout=PATIENCE) == 6


def test_shutdown_stops_the_processes() -> None:
    before = set(multiprocessing.active_children())
    pool = interpool.Pool(1, fallback="processes")
    assert pool.submit(nt.numpy_sum, 3).result(timeout=PATIENCE) == 3
    assert set(multiprocessing.active_children()) - before
    pool.shutdown(wait=True)
    deadline = time.monotonic() + PATIENCE
    while set(multiprocessing.active_children()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(multiprocessing.active_children()) - before


def test_a_pool_that_never_falls_back_starts_no_process() -> None:
    before = set(multiprocessing.active_children())
    with interpool.Pool(1, fallback="processes") as pool:
        assert pool.submit(tasks.add, 2, 2).result(timeout=PATIENCE) == 4
        assert list(pool.map(tasks.add, [1, 2], [3, 4])) == [4, 6]
    assert set(multiprocessing.active_children()) == before


def test_invalid_fallback_is_refused() -> None:
    with pytest.raises(ValueError, match='fallback must be None or "processes"'):
        interpool.Pool(1, fallback="threads")  # type: ignore[arg-type]


def test_a_rerouted_task_keeps_its_time_limit_and_its_process_is_killed() -> None:
    with interpool.Pool(1, fallback="processes") as pool:
        assert pool.submit(nt.numpy_sum, 10).result(timeout=PATIENCE) == 45  # now rerouted
        started = time.monotonic()
        future = pool.options(task_timeout=0.5).submit(nt.numpy_sleep, 30)
        with pytest.raises(TimeoutError, match="killed"):
            future.result(timeout=PATIENCE)
        assert time.monotonic() - started < 10
        assert pool.submit(nt.numpy_sum, 4).result(timeout=PATIENCE) == 6

"""An event loop that waits for a pool's futures collects their results on its own
thread (``_platform.eventloop``, ``Scheduler.listen``), and nothing is lost when that
loop blocks, stops or closes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading

import pytest

import interpool

from ..support import wait_until
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _completed_on(future: concurrent.futures.Future[object]) -> list[int]:
    """The threads on which ``future``'s done callbacks run (filled when done)."""
    threads: list[int] = []
    future.add_done_callback(lambda _: threads.append(threading.get_ident()))
    return threads


@pytest.fixture(scope="module")
def pool() -> interpool.Pool:
    with interpool.Pool(2) as pool:
        yield pool  # type: ignore[misc]


def test_awaited_results_are_completed_on_the_loops_thread(pool: interpool.Pool) -> None:
    async def main() -> list[int]:
        loop_thread = threading.get_ident()
        seen = []
        for i in range(20):
            future = pool.submit(tasks.sleep_return, 0.01, i)
            threads = _completed_on(future)
            assert await asyncio.wrap_future(future) == i
            seen.append(threads[0] == loop_thread)
        return seen

    seen = asyncio.run(main())
    # The collector thread may win a race now and then; the loop takes nearly all.
    assert sum(seen) >= 15, seen


def test_run_and_run_in_executor_under_asyncio(pool: interpool.Pool) -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        runs = [pool.run(tasks.add, i, 1) for i in range(50)]
        executed = [loop.run_in_executor(pool, tasks.add, i, 2) for i in range(50)]
        return list(await asyncio.gather(*runs, *executed))

    assert asyncio.run(main()) == [i + 1 for i in range(50)] + [i + 2 for i in range(50)]


def test_a_loop_blocked_on_a_future_still_gets_its_result(pool: interpool.Pool) -> None:
    """A coroutine that blocks its own loop on ``result()`` (or ``wait()``) while the
    loop listens: the collector thread completes the results instead."""

    async def main() -> tuple[object, object, object]:
        pending = asyncio.ensure_future(pool.run(tasks.sleep_return, 0.05, "awaited"))
        await asyncio.sleep(0)  # the loop listens now
        blocked = pool.submit(tasks.sleep_return, 0.05, "blocked").result(timeout=10)
        other = pool.submit(tasks.sleep_return, 0.05, "waited")
        done, _ = concurrent.futures.wait([other], timeout=10)
        assert done == {other}
        return await pending, blocked, other.result()

    assert asyncio.run(main()) == ("awaited", "blocked", "waited")


def test_another_threads_wait_is_not_held_up_by_a_stalled_loop(pool: interpool.Pool) -> None:
    async def main() -> object:
        task = asyncio.ensure_future(pool.run(tasks.sleep_return, 0.01, 1))
        await asyncio.sleep(0)
        result: list[object] = []

        def other() -> None:
            future = pool.submit(tasks.sleep_return, 0.01, "other")
            done, _ = concurrent.futures.wait([future], timeout=10)
            result.append(future.result() if done else None)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)  # the loop's thread stalls here, listening
        assert result == ["other"]
        return await task

    assert asyncio.run(main()) == 1


def test_closed_loops_leave_no_descriptors_behind(pool: interpool.Pool) -> None:
    async def once() -> object:
        return await pool.run(tasks.add, 1, 1)

    for _ in range(3):
        asyncio.run(once())
    before = _open_fds()
    for _ in range(30):
        assert asyncio.run(once()) == 2
    # Loops closed while listening are dropped by the collector's next backup wake.
    assert wait_until(lambda: _open_fds() <= before + 1)


def test_shutdown_from_a_listening_loop() -> None:
    async def main() -> object:
        pool = interpool.Pool(2)
        value = await pool.run(tasks.add, 2, 3)
        pool.shutdown(wait=True)
        return value

    assert asyncio.run(main()) == 5


def test_sync_results_after_an_async_session(pool: interpool.Pool) -> None:
    async def main() -> object:
        return await pool.run(tasks.add, 1, 2)

    assert asyncio.run(main()) == 3
    assert [pool.submit(tasks.add, i, 1).result(timeout=10) for i in range(50)] == list(
        range(1, 51)
    )


def test_trio_awaits_collect_on_the_trio_thread(pool: interpool.Pool) -> None:
    trio = pytest.importorskip("trio")

    async def main() -> tuple[list[object], int]:
        values = [await pool.run(tasks.add, i, 1) for i in range(30)]
        results: list[object] = []

        async def one(i: int) -> None:
            results.append(await pool.run(tasks.sleep_return, 0.01, i))

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(one, i)
        return values + sorted(results), len(results)  # type: ignore[type-var]

    values, n = trio.run(main)
    assert n == 20
    assert values == [i + 1 for i in range(30)] + list(range(20))

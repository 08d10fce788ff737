"""The asyncio API: ``await pool.run(...)`` and ``async with``."""

from __future__ import annotations

import asyncio
import threading

import pytest

import interpool

from ..support import PATIENCE, interpreter_ids, join_all
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)


def test_run_with_args_and_kwargs() -> None:
    async def main() -> object:
        async with interpool.Pool(2) as pool:
            assert isinstance(pool, interpool.Pool)
            return await pool.run(tasks.echo, 1, k=2)

    assert asyncio.run(main()) == ((1,), {"k": 2})


def test_async_with_shuts_down() -> None:
    before = interpreter_ids()

    async def main() -> interpool.Pool:
        async with interpool.Pool(2) as pool:
            assert await pool.run(tasks.add, 1, 2) == 3
        return pool

    pool = asyncio.run(main())
    with pytest.raises(RuntimeError):
        pool.submit(tasks.add, 1, 2)
    assert interpreter_ids() <= before


def test_many_concurrent_awaits(pool: interpool.Pool) -> None:
    n = 10_000

    async def main() -> list[int] | str:
        futures = [asyncio.ensure_future(pool.run(tasks.add, i, 1)) for i in range(n)]
        gathered = asyncio.gather(*futures)
        # Wait, but give up once nothing has completed for a while: a lost result
        # would otherwise hang the test until its timeout.
        pending: set[asyncio.Future[int]] = set(futures)
        idle = 0
        while pending and idle < 3:
            done, pending = await asyncio.wait(pending, timeout=1.0)
            idle = 0 if done else idle + 1
        if pending:
            gathered.cancel()
            return f"{len(pending)} of {n} awaits never completed"
        return await gathered

    # Not asyncio.run(): after a lost result, its cancelling of the stuck tasks hangs.
    loop = asyncio.new_event_loop()
    try:
        outcome = loop.run_until_complete(main())
    finally:
        loop.close()
    assert outcome == [i + 1 for i in range(n)]


def test_exception_propagates_through_await(pool: interpool.Pool) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="awaited failure") as info:
            await pool.run(tasks.raise_value_error, "awaited failure")
        assert isinstance(info.value.__cause__, interpool.RemoteTraceback)
        with pytest.raises(tasks.CustomError):
            await pool.run(tasks.raise_custom, "c", 1)
        assert await pool.run(tasks.add, 1, 1) == 2

    asyncio.run(main())


class Ticker:
    """Counts 20 ms ticks of the event loop while it runs: a blocked loop does not tick."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self.ticks += 1


def test_event_loop_stays_responsive(pool: interpool.Pool) -> None:
    ticker = Ticker()

    async def main() -> object:
        tick_task = asyncio.create_task(ticker.run())
        await asyncio.sleep(0)
        result = await pool.run(tasks.sleep_return, 0.5, "slept")
        tick_task.cancel()
        return result

    assert asyncio.run(main()) == "slept"
    # ~25 ticks if the loop runs freely; none if the await blocked it.
    assert ticker.ticks >= 5


def test_cancelling_a_running_await(pool: interpool.Pool) -> None:
    async def main() -> None:
        task = asyncio.create_task(pool.run(tasks.sleep_return, 0.3, "late"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.run(tasks.add, 2, 3) == 5
        results = await asyncio.gather(*(pool.run(tasks.square, i) for i in range(50)))
        assert results == [i * i for i in range(50)]

    asyncio.run(main())


def test_cancelling_before_a_worker_takes_the_call(pool1: interpool.Pool) -> None:
    async def main() -> None:
        # Occupy the only worker and the hand-over queue (2 * max_workers deep).
        blockers = [asyncio.ensure_future(pool1.run(tasks.sleep_return, 0.2)) for _ in range(2)]
        victim = asyncio.create_task(pool1.run(tasks.count_call, "async-cancel"))
        await asyncio.sleep(0.01)
        victim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await victim
        await asyncio.gather(*blockers)
        # The cancelled call never ran in the worker.
        assert await pool1.run(tasks.count_call, "async-cancel") == 1

    asyncio.run(main())


def test_run_from_several_event_loops(pool: interpool.Pool) -> None:
    results: dict[int, list[int]] = {}

    def loop_thread(n: int) -> None:
        async def main() -> list[int]:
            return await asyncio.gather(*(pool.run(tasks.add, n, i) for i in range(200)))

        results[n] = asyncio.run(main())

    threads = [threading.Thread(target=loop_thread, args=(n,), daemon=True) for n in range(3)]
    for t in threads:
        t.start()
    join_all(threads)
    assert results == {n: [n + i for i in range(200)] for n in range(3)}


def test_async_with_waits_for_running_tasks_without_blocking_the_loop() -> None:
    ticker = Ticker()

    async def main() -> object:
        tick_task = asyncio.create_task(ticker.run())
        async with interpool.Pool(1) as pool:
            future = asyncio.ensure_future(pool.run(tasks.sleep_return, 0.4, "finished"))
            await asyncio.sleep(0.01)
            ticks_before_exit = ticker.ticks
        # Leaving the block waited for the running call (~0.4 s), with the loop running.
        assert ticker.ticks - ticks_before_exit >= 5
        tick_task.cancel()
        return await asyncio.wait_for(future, PATIENCE)

    assert asyncio.run(main()) == "finished"

"""Streaming: ``imap``, ``imap_unordered`` and ``amap``, and ``await pool.run`` under
asyncio and trio (through anyio's pytest plugin)."""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

import interpool

from ..support import PATIENCE
from ..tasks import basic as tasks
from ..tasks import coroutines as async_tasks

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Counted:
    """An endless input that counts how many items were taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self) -> Iterator[int]:
        for i in itertools.count():
            self.taken = i + 1
            yield i


# -- imap ------------------------------------------------------------------------------


def test_imap_in_order_and_lazy(pool: interpool.Pool) -> None:
    source = Counted()
    it = pool.imap(tasks.square, source, window=3)
    assert [next(it) for _ in range(10)] == [i * i for i in range(10)]
    assert source.taken <= 10 + 3 + 1
    it.close()  # type: ignore[attr-defined]


def test_imap_chunks(pool: interpool.Pool) -> None:
    assert list(pool.imap(tasks.add, range(50), range(50), chunksize=7)) == [
        2 * i for i in range(50)
    ]


def test_imap_raises_at_the_failing_item(pool: interpool.Pool) -> None:
    it = pool.imap(tasks.fail_at, range(10), itertools.repeat(4))
    assert [next(it) for _ in range(4)] == [0, 10, 20, 30]
    with pytest.raises(ValueError):
        next(it)


def test_imap_unordered_yields_as_results_complete(pool: interpool.Pool) -> None:
    # The first call is slow: the others overtake it.
    delays = [1.0] + [0.0] * 9
    results = list(pool.imap_unordered(tasks.sleep_return, delays, range(10), window=4))
    assert sorted(results) == list(range(10))
    assert results[0] != 0 and results[-1] == 0


def test_imap_unordered_is_lazy_over_endless_input(pool: interpool.Pool) -> None:
    source = Counted()
    it = pool.imap_unordered(tasks.square, source, window=2)
    got = [next(it) for _ in range(20)]
    assert len(set(got)) == 20
    assert source.taken <= 20 + 2 + 1
    it.close()  # type: ignore[attr-defined]


def test_imap_unordered_raises_a_failed_call(pool1: interpool.Pool) -> None:
    it = pool1.imap_unordered(tasks.fail_at, [0, 1, 2], [1, 1, 1], window=1)
    assert next(it) == 0
    with pytest.raises(ValueError):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_imap_unordered_early_exit_cancels_queued_calls(pool1: interpool.Pool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        it = pool1.imap_unordered(
            tasks.touch, itertools.repeat(directory), map(str, range(1000)), window=5
        )
        next(it)
        it.close()  # type: ignore[attr-defined]
        pool1.submit(tasks.add, 1, 1).result(timeout=PATIENCE)  # the queue has drained
        made = len(list(Path(directory).iterdir()))
    assert made <= 1 + 5 + 1


def test_imap_unordered_timeout(pool1: interpool.Pool) -> None:
    it = pool1.imap_unordered(tasks.sleep_return, [2.0], [1], timeout=0.1)
    with pytest.raises(TimeoutError):
        next(it)


@pytest.mark.parametrize("name", ["imap", "imap_unordered"])
def test_bad_window(pool: interpool.Pool, name: str) -> None:
    with pytest.raises(ValueError, match=r"window must be None or > 0"):
        getattr(pool, name)(tasks.square, range(3), window=0)


# -- run and amap under asyncio and trio -------------------------------------------------


@pytest.mark.anyio
async def test_run(pool: interpool.Pool) -> None:
    assert await pool.run(tasks.add, 1, 2) == 3
    assert await pool.run(async_tasks.add_later, 1, 2) == 3
    assert await pool.options(task_timeout=5).run(tasks.echo, 1, k=2) == ((1,), {"k": 2})
    with pytest.raises(ValueError, match="boom"):
        await pool.run(tasks.raise_value_error, "boom")


@pytest.mark.anyio
async def test_async_with(anyio_backend: str) -> None:
    async with interpool.Pool(1) as pool:
        assert await pool.run(tasks.add, 1, 2) == 3
    with pytest.raises(RuntimeError, match="shutdown"):
        pool.submit(tasks.add, 1, 2)


@pytest.mark.anyio
async def test_async_input_keeps_its_own_context_managers(pool: interpool.Pool) -> None:
    """The input is read by one background task: a timeout (or cancel scope) inside the
    input generator works across its yields."""

    async def numbers() -> AsyncIterator[int]:
        with anyio.move_on_after(0.3):
            for i in itertools.count():
                yield i
                await anyio.sleep(0.05)

    got = [x async for x in pool.amap(tasks.square, numbers(), window=2)]
    assert 2 <= len(got) < 40
    assert got == [i * i for i in range(len(got))]


@pytest.mark.anyio
async def test_run_many_at_once(pool: interpool.Pool) -> None:
    results: list[int] = []

    async def one(i: int) -> None:
        results.append(await pool.run(tasks.add, i, 1))

    async with anyio.create_task_group() as group:
        for i in range(200):
            group.start_soon(one, i)
    assert sorted(results) == [i + 1 for i in range(200)]


@pytest.mark.anyio
async def test_cancelling_run_before_the_call_starts_drops_it(pool1: interpool.Pool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        blocker = pool1.submit(tasks.sleep_return, 0.5, None)
        with anyio.move_on_after(0.1) as scope:
            await pool1.run(tasks.touch, directory, "never")
        assert scope.cancelled_caught
        blocker.result(timeout=PATIENCE)
        await pool1.run(tasks.add, 1, 1)
        assert not Path(directory, "never").exists()


@pytest.mark.anyio
async def test_cancelling_a_running_call_returns_at_once(pool1: interpool.Pool) -> None:
    start = time.monotonic()
    with anyio.move_on_after(0.2) as scope:
        await pool1.run(tasks.sleep_return, 3.0, "late")
    assert scope.cancelled_caught
    assert time.monotonic() - start < 2.0  # the caller did not wait for the call
    # The worker was replaced: the pool goes on.
    assert await pool1.run(tasks.add, 1, 1) == 2


@pytest.mark.anyio
async def test_amap_ordered_and_unordered(pool: interpool.Pool) -> None:
    assert [x async for x in pool.amap(tasks.square, range(20))] == [i * i for i in range(20)]
    got = [x async for x in pool.amap(tasks.square, range(20), ordered=False)]
    assert sorted(got) == [i * i for i in range(20)]
    pairs = [x async for x in pool.amap(tasks.add, range(5), range(10, 15))]
    assert pairs == [10, 12, 14, 16, 18]


@pytest.mark.anyio
async def test_amap_unordered_yields_fast_results_first(pool: interpool.Pool) -> None:
    delays = [1.0] + [0.0] * 7
    got = [x async for x in pool.amap(tasks.sleep_return, delays, range(8), ordered=False)]
    assert sorted(got) == list(range(8)) and got[-1] == 0


async def _numbers(n: int | None, taken: list[int]) -> AsyncIterator[int]:
    for i in itertools.count() if n is None else range(n):
        await anyio.sleep(0)
        taken.append(i)
        yield i


@pytest.mark.anyio
async def test_amap_over_an_async_input(pool: interpool.Pool) -> None:
    taken: list[int] = []
    got = [x async for x in pool.amap(tasks.square, _numbers(30, taken), window=4)]
    assert got == [i * i for i in range(30)]


@pytest.mark.anyio
async def test_amap_over_an_endless_async_input_stops_early(pool: interpool.Pool) -> None:
    taken: list[int] = []
    out = []
    stream = pool.amap(tasks.square, _numbers(None, taken), window=3)
    async for x in stream:
        out.append(x)
        if len(out) == 10:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert out == [i * i for i in range(10)]
    assert len(taken) <= 10 + 3 + 2


@pytest.mark.anyio
async def test_amap_results_flow_while_the_input_is_slow(pool: interpool.Pool) -> None:
    """The first result arrives while the input still waits for its next item."""
    gate = anyio.Event()

    async def slow_input() -> AsyncIterator[int]:
        yield 1
        await gate.wait()
        yield 2

    stream = pool.amap(tasks.square, slow_input(), window=8)
    with anyio.fail_after(PATIENCE):
        assert await stream.__anext__() == 1
    gate.set()
    assert [x async for x in stream] == [4]


@pytest.mark.anyio
async def test_amap_error_at_its_place(pool: interpool.Pool) -> None:
    got = []
    with pytest.raises(ValueError):
        async for x in pool.amap(tasks.fail_at, range(10), itertools.repeat(5)):
            got.append(x)
    assert got == [0, 10, 20, 30, 40]


@pytest.mark.anyio
async def test_amap_of_coroutines_in_workers(pool: interpool.Pool) -> None:
    got = [x async for x in pool.amap(async_tasks.add_later, range(50), range(50), window=50)]
    assert got == [2 * i for i in range(50)]


@pytest.mark.anyio
async def test_cancelling_an_amap_consumer_stops_its_calls(pool1: interpool.Pool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        with anyio.move_on_after(0.3):
            async for _ in pool1.amap(
                tasks.sleep_return, itertools.repeat(0.05), itertools.count(), window=4
            ):
                pass
        assert await pool1.run(tasks.touch, directory, "after") == "after"


@pytest.mark.anyio
async def test_amap_bad_input(pool: interpool.Pool) -> None:
    with pytest.raises(ValueError, match="window"):
        pool.amap(tasks.square, range(3), window=-1)
    with pytest.raises(TypeError, match="at least one input"):
        pool.amap(tasks.square)


def test_run_outside_an_event_loop_says_what_to_do(pool: interpool.Pool) -> None:
    coro = pool.run(tasks.add, 1, 2)
    with pytest.raises(RuntimeError, match="asyncio or trio"):
        coro.send(None)
    coro.close()


def test_amap_from_a_thread_without_loop_fails_clearly(pool: interpool.Pool) -> None:
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            pool.amap(tasks.square, range(3)).__anext__().send(None)  # type: ignore[attr-defined]
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert errors and "asyncio or trio" in str(errors[0])

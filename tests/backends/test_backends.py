"""One suite, every backend: ``Pool(backend=...)`` keeps the same API and semantics on
interpreters, processes, threads and a Dask cluster (two worker processes on
127.0.0.1, shared by the session: see ``dask_fixtures``).  What only one backend
does (hard kills, lost Dask workers...) is tested in that backend's own module."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import interpool

from ..support import PATIENCE, wait_until
from ..tasks import backends as bt
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(120)

BACKENDS = ["interpreters", "processes", "threads", "dask"]
#: The fixtures' parameters: the Dask ones are marked ``dask`` (left out on 3.13).
PARAMS = [pytest.param(b, marks=pytest.mark.dask) if b == "dask" else b for b in BACKENDS]


def make_pool(backend: str, request: pytest.FixtureRequest, **options: Any) -> interpool.Pool:
    if backend == "dask":
        pytest.importorskip("distributed")
        address = request.getfixturevalue("dask_address")
        return interpool.Pool(backend="dask", address=address, **options)
    return interpool.Pool(2, backend=backend, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=PARAMS)
def bpool(request: pytest.FixtureRequest) -> Iterator[interpool.Pool]:
    """A two-worker pool of each backend, shared by this module's tests."""
    with make_pool(request.param, request) as pool:
        yield pool


@pytest.fixture(params=PARAMS)
def new_pool(request: pytest.FixtureRequest) -> Iterator[Callable[..., interpool.Pool]]:
    """Makes fresh pools of each backend (with options); shuts them down after."""
    made: list[interpool.Pool] = []

    def make(**options: Any) -> interpool.Pool:
        pool = make_pool(request.param, request, **options)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.shutdown(wait=True, cancel_futures=True, cancel_running=True)


# -- results and errors -----------------------------------------------------------------


def test_the_pool_says_its_backend_and_size(bpool: interpool.Pool) -> None:
    assert bpool.backend in BACKENDS
    assert bpool.max_workers == 2
    assert isinstance(bpool, cf.Executor)
    assert (bpool.interpreter_options is None) == (bpool.backend != "interpreters")


def test_submit_returns_the_result(bpool: interpool.Pool) -> None:
    assert bpool.submit(tasks.add, 2, b=3).result(timeout=PATIENCE) == 5
    assert bpool.submit(pow, 2, 10).result(timeout=PATIENCE) == 1024
    assert bpool.submit(lambda x: [x, {"k": x}], 7).result(timeout=PATIENCE) == [7, {"k": 7}]


def test_identical_calls_run_each_time(bpool: interpool.Pool) -> None:
    # (Dask would share one result between identical pure calls.)
    futures = [bpool.submit(time.monotonic_ns) for _ in range(4)]
    assert len({f.result(timeout=PATIENCE) for f in futures}) == 4


def test_an_error_keeps_its_type_and_message_and_the_pool_goes_on(bpool: interpool.Pool) -> None:
    with pytest.raises(ValueError, match=r"^no good$"):
        bpool.submit(tasks.raise_value_error, "no good").result(timeout=PATIENCE)
    assert bpool.submit(tasks.square, 9).result(timeout=PATIENCE) == 81


def test_a_coroutine_function_runs_to_completion(bpool: interpool.Pool) -> None:
    assert bpool.submit(bt.async_double, 21).result(timeout=PATIENCE) == 42


# -- map and streams --------------------------------------------------------------------


@pytest.mark.parametrize("chunksize", [None, 1, 7])
def test_map_keeps_input_order(bpool: interpool.Pool, chunksize: int | None) -> None:
    assert list(bpool.map(tasks.add, range(40), range(40), chunksize=chunksize)) == [
        2 * i for i in range(40)
    ]
    assert list(bpool.map(tasks.square, [], chunksize=chunksize)) == []


def test_map_raises_at_the_failing_item_after_the_results_before_it(
    bpool: interpool.Pool,
) -> None:
    results = bpool.map(tasks.fail_at, range(10), itertools.repeat(6), chunksize=4)
    assert [next(results) for _ in range(6)] == [i * 10 for i in range(6)]
    with pytest.raises(ValueError, match="bad item 6"):
        next(results)


def test_map_with_a_buffersize_reads_an_endless_input_lazily(bpool: interpool.Pool) -> None:
    results = bpool.map(tasks.square, itertools.count(), buffersize=4)
    assert list(itertools.islice(results, 10)) == [i * i for i in range(10)]
    results.close()  # type: ignore[attr-defined]


def test_imap_and_imap_unordered(bpool: interpool.Pool) -> None:
    assert list(itertools.islice(bpool.imap(tasks.square, itertools.count()), 12)) == [
        i * i for i in range(12)
    ]
    assert sorted(bpool.imap_unordered(tasks.square, range(12))) == [i * i for i in range(12)]


def test_await_run_and_amap(bpool: interpool.Pool) -> None:
    async def main() -> tuple[Any, list[Any], list[Any]]:
        one = await bpool.run(tasks.add, 1, 2)
        ordered = [x async for x in bpool.amap(tasks.square, range(8))]
        unordered = [x async for x in bpool.amap(bt.async_double, range(8), ordered=False)]
        return one, ordered, sorted(unordered)

    assert asyncio.run(main()) == (3, [i * i for i in range(8)], [2 * i for i in range(8)])


# -- time limits, cancellation, shutdown -----------------------------------------------


def test_a_task_past_its_time_limit_fails_with_timeout_error(bpool: interpool.Pool) -> None:
    started = time.monotonic()
    future = bpool.options(task_timeout=0.5).submit(bt.spin, 3.0)
    with pytest.raises(TimeoutError, match=r"time limit of 0\.5 s"):
        future.result(timeout=PATIENCE)
    assert time.monotonic() - started < 2.9  # failed at the limit, not at the task's end
    assert bpool.submit(tasks.square, 5).result(timeout=PATIENCE) == 25


def test_a_time_limit_applies_to_each_call_of_a_map_chunk(bpool: interpool.Pool) -> None:
    if bpool.backend == "dask":
        pytest.skip(
            "Dask's limits count from submission (a chunk's: limit x calls): a chunk "
            "queued behind a task still running in the cluster may time out"
        )
    # Three calls of 0.25 s per chunk: each call is within 0.5 s, the chunk is not.
    results = bpool.options(task_timeout=0.5).map(bt.spin, [0.25] * 6, chunksize=3)
    assert list(results) == ["finished"] * 6


def test_the_workers_run_at_the_same_time(
    new_pool: Callable[..., interpool.Pool], tmp_path: Path
) -> None:
    pool = new_pool()
    futures = [pool.submit(tasks.rendezvous, str(tmp_path), f"p{i}", 2, PATIENCE) for i in range(2)]
    for future in futures:  # (TimeoutError if the two calls did not run together)
        future.result(timeout=2 * PATIENCE)


def test_cancel_drops_a_queued_task_and_stops_a_running_one(bpool: interpool.Pool) -> None:
    running = bpool.submit(bt.spin, 2.0)
    queued = [bpool.submit(bt.spin, 2.0) for _ in range(6)]
    time.sleep(0.3)
    assert queued[-1].cancel()
    assert queued[-1].cancelled()
    for future in [running, *queued[:-1]]:
        assert future.cancel(), future  # queued: dropped; running: stopped at once
        assert future.cancelled()
    assert bpool.submit(tasks.square, 6).result(timeout=PATIENCE) == 36


def test_cancel_without_interrupt_leaves_a_running_task_alone(
    new_pool: Callable[..., interpool.Pool], tmp_path: Path
) -> None:
    pool = new_pool()
    if pool.backend == "dask":
        pytest.skip("Dask cannot tell a running task from a queued one: cancel() releases both")
    future = pool.submit(tasks.started_then_sleep, str(tmp_path), "started", 0.6)
    assert wait_until((tmp_path / "started.started").exists)
    assert not future.cancel(interrupt=False)  # type: ignore[call-arg]
    assert future.result(timeout=PATIENCE) == "started"


def test_shutdown_cancel_futures_cancels_what_has_not_started(
    new_pool: Callable[..., interpool.Pool],
) -> None:
    pool = new_pool()
    futures = [pool.submit(tasks.sleep_return, 0.3, i) for i in range(12)]
    time.sleep(0.1)
    pool.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in futures)
    cancelled = [f for f in futures if f.cancelled()]
    finished = [f for f in futures if not f.cancelled()]
    assert len(cancelled) >= 6
    assert all(f.result() == futures.index(f) for f in finished)
    with pytest.raises(RuntimeError, match="shutdown"):
        pool.submit(tasks.square, 1)


def test_shutdown_waits_for_the_queued_tasks(new_pool: Callable[..., interpool.Pool]) -> None:
    pool = new_pool()
    futures = [pool.submit(tasks.sleep_return, 0.05, i) for i in range(8)]
    pool.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futures] == list(range(8))


def test_the_initializer_runs_in_every_worker(new_pool: Callable[..., interpool.Pool]) -> None:
    pool = new_pool(initializer=bt.mark, initargs=("ready",))
    values = [pool.submit(bt.get_mark) for _ in range(6)]
    assert {f.result(timeout=PATIENCE) for f in values} == {"ready"}


def test_async_with_shuts_the_pool_down(new_pool: Callable[..., interpool.Pool]) -> None:
    pool = new_pool()

    async def main() -> int:
        async with pool:
            return await pool.run(tasks.square, 4)

    assert asyncio.run(main()) == 16
    with pytest.raises(RuntimeError):
        pool.submit(tasks.square, 1)


# -- choosing a backend -------------------------------------------------------------


def test_an_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'interpreters', 'processes', 'threads', 'dask'"):
        interpool.Pool(backend="gpu")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("backend", "option"),
    [
        ("threads", {"fallback": "processes"}),
        ("processes", {"interpreter": "legacy"}),
        ("threads", {"max_tasks_per_worker": 3}),
        ("dask", {"idle_timeout": 1.0}),
        ("interpreters", {"address": "tcp://127.0.0.1:8786"}),
    ],
)
def test_an_option_the_backend_lacks_is_refused(backend: str, option: dict[str, Any]) -> None:
    name = next(iter(option))
    with pytest.raises(ValueError, match=f"{name}= is an option of backend="):
        interpool.Pool(1, backend=backend, **option)  # type: ignore[arg-type]


def test_the_default_backend_is_interpreters_unless_the_build_is_free_threaded() -> None:
    import sys

    from interpool._backends.base import default_backend

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    assert default_backend() == ("interpreters" if gil else "threads")
    with interpool.Pool(1) as pool:
        assert pool.backend == default_backend()

"""``Pool.stats()`` and the trace (``Pool(trace=...)``, ``pool.trace(...)``) on the
interpreters, processes and threads backends: the counts equal what was submitted,
and the trace file has one complete event per task on one lane per worker."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import interpool
from interpool import PoolStats, WorkerStats

from ..tasks import backends as bt
from ..tasks import basic as tasks
from ..tasks import coroutines as coros

BACKENDS = ["interpreters", "processes", "threads"]


def _settle(pool: interpool.Pool) -> PoolStats:
    """The stats once every submitted task was counted (results are counted by the
    thread that collects them, just after or before the future completes)."""
    stats = pool.stats()
    end = time.monotonic() + 10
    while (stats.running or stats.queued) and time.monotonic() < end:
        time.sleep(0.01)
        stats = pool.stats()
    return stats


@pytest.mark.parametrize("backend", BACKENDS)
def test_stats_totals_equal_what_was_submitted(backend: str) -> None:
    with interpool.Pool(2, backend=backend) as pool:
        ok = [pool.submit(tasks.square, i) for i in range(20)]
        bad = [pool.submit(tasks.raise_value_error, "no") for _ in range(3)]
        for f in ok:
            f.result()
        for f in bad:
            assert isinstance(f.exception(), ValueError)
        # Two map chunks, the second stopping at its failing call.
        with pytest.raises(ValueError):
            list(pool.map(tasks.fail_at, range(8), [5] * 8, chunksize=4))
        pool.shutdown()
        stats = _settle(pool)
    assert (stats.done, stats.failed) == (21, 4)
    assert (stats.queued, stats.running) == (0, 0)
    assert sum(w.tasks_done for w in stats.workers) == 21
    assert sum(w.tasks_failed for w in stats.workers) == 4
    assert all(isinstance(w, WorkerStats) for w in stats.workers)
    assert 1 <= len(stats.workers) <= 2
    assert all(w.started >= 1 and w.replaced == 0 and w.recycled == 0 for w in stats.workers)
    assert all(w.busy_seconds >= 0 and w.idle_seconds >= 0 for w in stats.workers)
    assert stats.slowest and len(stats.slowest) <= 10
    seconds = [t.seconds for t in stats.slowest]
    assert seconds == sorted(seconds, reverse=True)
    assert {t.kind for t in stats.slowest} <= {"call", "map"}
    assert {t.worker for t in stats.slowest} <= {w.worker for w in stats.workers}


@pytest.mark.parametrize("backend", BACKENDS)
def test_stats_show_the_running_task_and_convert_to_json(backend: str) -> None:
    with interpool.Pool(1, backend=backend) as pool:
        future = pool.submit(tasks.sleep_return, 1.0, "x")
        end = time.monotonic() + 10
        stats = pool.stats()
        while stats.workers and stats.workers[0].running is None and time.monotonic() < end:
            time.sleep(0.01)
            stats = pool.stats()
        if not stats.workers:  # (not started yet: the loop above would not wait)
            while not pool.stats().running and time.monotonic() < end:
                time.sleep(0.01)
            stats = pool.stats()
        running = stats.workers[0].running
        assert running is not None and "sleep_return" in running.function
        assert stats.running == 1
        text = str(stats)
        assert "sleep_return" in text and "running now" in text
        plain = json.loads(json.dumps(stats.to_dict()))
        assert plain["workers"][0]["running"]["function"] == running.function
        assert plain["backend"] == backend
        future.result()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_replaced_or_recycled_worker_is_counted(backend: str) -> None:
    options: dict[str, Any] = {}
    if backend != "threads":
        options["max_tasks_per_worker"] = 2
    with interpool.Pool(1, backend=backend, **options) as pool:
        for i in range(4):
            pool.submit(tasks.square, i).result()
        slow = pool.submit(bt.spin, 30.0)
        end = time.monotonic() + 30
        # Until a worker runs it (a recycled worker's replacement may still be starting).
        while time.monotonic() < end and not any(
            w.running and "spin" in w.running.function for w in pool.stats().workers
        ):
            time.sleep(0.01)
        assert slow.cancel()
        pool.submit(tasks.square, 5).result()
        stats = _settle(pool)
    workers = stats.workers
    assert sum(w.replaced for w in workers) == 1
    if backend != "threads":
        assert sum(w.recycled for w in workers) == 2
    assert sum(w.tasks_done for w in workers) == 5
    assert sum(w.tasks_failed for w in workers) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_trace_file_has_one_complete_event_per_task_and_a_lane_per_worker(
    backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "run.json"
    with interpool.Pool(2, backend=backend, trace=path) as pool:
        for f in [pool.submit(tasks.square, i) for i in range(10)]:
            f.result()
        list(pool.map(tasks.square, range(12), chunksize=4))
        workers = {w.worker for w in pool.stats().workers}
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == 13  # 10 calls, 3 chunks
    assert {e["cat"] for e in complete} == {"call", "map"}
    assert all("square" in e["name"] for e in complete)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in complete)
    lanes = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert set(lanes) == workers
    assert {e["tid"] for e in complete} <= workers
    if backend == "threads":
        assert all(e["args"]["sent_bytes"] is None for e in complete)
    else:
        assert all(e["args"]["sent_bytes"] > 0 for e in complete)
        assert all(e["args"]["received_bytes"] > 0 for e in complete)


@pytest.mark.parametrize("backend", BACKENDS)
def test_trace_context_records_the_tasks_of_its_block(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "block.json"
    with interpool.Pool(2, backend=backend) as pool:
        pool.submit(tasks.square, 1).result()  # before: not in it
        with pool.trace(path):
            for f in [pool.submit(tasks.add, i, 1) for i in range(5)]:
                f.result()
            assert not path.exists()  # written when the block is left
        pool.submit(tasks.square, 2).result()  # after: not in it
    complete = [e for e in json.loads(path.read_text())["traceEvents"] if e["ph"] == "X"]
    assert len(complete) == 5
    assert all(e["name"].endswith("add") for e in complete)


def test_coroutine_tasks_get_lanes_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "async.json"
    with interpool.Pool(1, trace=path) as pool:
        for f in [pool.submit(coros.add_later, i, 1, 0.05) for i in range(3)]:
            f.result()
        stats = pool.stats()
    assert stats.done == 3
    events = json.loads(path.read_text())["traceEvents"]
    lanes = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == 3
    assert {lanes[e["tid"]] for e in complete} == {"interpool-worker-0 (coroutines)"}
    assert all(e["dur"] >= 40_000 for e in complete)  # µs: from the call to its end


def test_dask_has_no_stats_nor_trace() -> None:
    with pytest.raises(ValueError, match="trace="):
        interpool.Pool(1, backend="dask", trace="x.json")


def test_stats_rejects_a_bad_slowest() -> None:
    with interpool.Pool(1, backend="threads") as pool:
        with pytest.raises(ValueError, match="slowest must be >= 0"):
            pool.stats(slowest=-1)
        with pytest.raises(TypeError, match="slowest must be an int"):
            pool.stats(slowest=2.5)  # type: ignore[arg-type]
        assert pool.stats(slowest=0).slowest == ()


@pytest.mark.parametrize("backend", BACKENDS)
def test_stats_keep_no_reference_to_a_tasks_callable(backend: str) -> None:
    import gc
    import weakref

    from ..support import wait_until

    with interpool.Pool(1, backend=backend) as pool:  # type: ignore[arg-type]
        holder = tasks.Holder()
        alive = weakref.ref(holder)
        future = pool.submit(holder.method)
        assert future.result() == 1
        del holder
        assert wait_until(lambda: gc.collect() >= 0 and alive() is None)
        # Still among the slowest tasks, by its name (worker interpreters get a bound
        # method by value, and name it so).
        (timing,) = pool.stats().slowest
        if backend != "interpreters":
            assert timing.function == "tests.tasks.basic.Holder.method"
        del future

"""Worker health: recycling (``max_tasks_per_worker``), idle exit (``idle_timeout``),
replacement of crashed workers, initializers of replacement workers, and tasks that
raise ``SystemExit`` or ``KeyboardInterrupt``.

Every test uses a small pool of its own and shuts it down.  Interpreter ids grow
monotonically within a process, so :func:`next_interpreter_id` tells exactly how many
interpreters were created between two points (nothing else in the test process
creates interpreters meanwhile).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import interpool
from interpool._engine.scheduler import MAX_CRASHES
from interpool._platform import interpreters
from interpool.exceptions import WorkerCrashed

from ..support import PATIENCE, interpreter_ids, pool_threads, wait_until
from ..tasks import basic as tasks
from ..tasks import health as ht

MAIN = interpreters.get_main().id


def next_interpreter_id() -> int:
    """The id of a new interpreter, created and destroyed at once: ids are handed out
    in increasing order, so the ids of two such probes bound what was created between
    them."""
    interp = interpreters.create()
    try:
        return interp.id
    finally:
        interp.close()


def created_since(mark: int) -> int:
    """How many interpreters were created since the probe that returned ``mark``."""
    return next_interpreter_id() - mark - 1


def worker_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("interpool-worker"))


@pytest.fixture(autouse=True)
def clean_process() -> Iterator[set[int]]:
    """Every test starts and must end with the main interpreter only and no pool
    thread (waiting a little for what an earlier test's pool still tears down)."""
    wait_until(lambda: interpreter_ids() == {MAIN} and not pool_threads(), timeout=5.0)
    before_ids, before_threads = interpreter_ids(), pool_threads()
    yield before_ids
    assert wait_until(lambda: interpreter_ids() <= before_ids), interpreter_ids()
    assert wait_until(lambda: pool_threads() <= before_threads), pool_threads()


def assert_pool_gone(baseline: set[int]) -> None:
    """After ``shutdown(wait=True)``: no worker interpreter and no pool thread left."""
    assert wait_until(lambda: interpreter_ids() == baseline, timeout=5.0), interpreter_ids()
    assert baseline == {MAIN}
    assert not pool_threads(), pool_threads()


def run_at_once(pool: interpool.Pool, n: int) -> list[int]:
    """Run ``n`` calls of ``tasks.rendezvous`` that each wait for all ``n`` to have started;
    return their interpreter ids.  Fails unless ``n`` workers run at the same time."""
    with tempfile.TemporaryDirectory() as directory:
        futures = [pool.submit(tasks.rendezvous, directory, f"p{i}", n, 5.0) for i in range(n)]
        return [f.result(timeout=PATIENCE) for f in futures]


def per_interpreter(results: list[tuple[int, int, Any]]) -> dict[int, list[int]]:
    """``{interpreter id: [call numbers of ht.counted in it, in submission order]}``."""
    calls: dict[int, list[int]] = collections.defaultdict(list)
    for interp, number, _ in results:
        calls[interp].append(number)
    return dict(calls)


# -- max_tasks_per_worker -------------------------------------------------------------


def test_worker_is_recycled_after_max_tasks(clean_process: set[int]) -> None:
    pool = interpool.Pool(1, max_tasks_per_worker=3)
    try:
        results = [pool.submit(ht.counted, i).result(timeout=PATIENCE) for i in range(9)]
    finally:
        pool.shutdown()
    assert [x for _, _, x in results] == list(range(9))
    calls = per_interpreter(results)
    # Three interpreters, in turn, each a fresh one (its counter restarts at 1).
    assert len(calls) == 3, results
    assert list(calls.values()) == [[1, 2, 3]] * 3, results
    assert [interp for interp, _, _ in results] == sorted(interp for interp, _, _ in results)
    assert MAIN not in calls
    assert_pool_gone(clean_process)


def test_map_chunks_count_as_tasks_for_recycling(clean_process: set[int]) -> None:
    with interpool.Pool(1, max_tasks_per_worker=3) as pool:
        results = list(pool.map(ht.counted, range(9), chunksize=1))
        assert [x for _, _, x in results] == list(range(9))
        assert list(per_interpreter(results).values()) == [[1, 2, 3]] * 3, results
        # A chunk of 2 calls is one task: 3 chunks per interpreter, 6 calls each.
        results = list(pool.map(ht.counted, range(12), chunksize=2))
        assert [x for _, _, x in results] == list(range(12))
        assert list(per_interpreter(results).values()) == [[1, 2, 3, 4, 5, 6]] * 2, results
    assert_pool_gone(clean_process)


def test_no_task_is_lost_when_recycling_under_load(clean_process: set[int]) -> None:
    limit = 8
    with interpool.Pool(2, max_tasks_per_worker=limit) as pool:
        futures = [pool.submit(ht.counted, i) for i in range(100)]
        results = [f.result(timeout=PATIENCE) for f in futures]
        results += pool.map(ht.counted, range(100, 160), chunksize=1)
    assert [x for _, _, x in results] == list(range(160))
    calls = per_interpreter(results)
    assert len(calls) >= 160 // limit
    for interp, numbers in calls.items():
        # Each interpreter ran at most `limit` tasks, as a fresh one.
        assert numbers == list(range(1, len(numbers) + 1)), (interp, numbers)
        assert len(numbers) <= limit, (interp, numbers)
    assert_pool_gone(clean_process)


def test_shutdown_while_recycling_runs_every_task(clean_process: set[int]) -> None:
    pool = interpool.Pool(2, max_tasks_per_worker=3)
    futures = [pool.submit(ht.counted, i) for i in range(30)]
    pool.shutdown(wait=True)
    assert all(f.done() for f in futures)
    results = [f.result(timeout=0) for f in futures]
    assert [x for _, _, x in results] == list(range(30))
    assert all(len(n) <= 3 for n in per_interpreter(results).values())
    assert_pool_gone(clean_process)


# -- idle_timeout ---------------------------------------------------------------------


def test_idle_workers_exit_and_start_again_on_demand(clean_process: set[int]) -> None:
    with interpool.Pool(2, idle_timeout=0.3) as pool:
        first = set(run_at_once(pool, 2))
        assert len(first) == 2
        time.sleep(1.0)
        # Idle for 1 s: every worker has left, although the pool is open.
        assert wait_until(lambda: interpreter_ids() == clean_process, timeout=1.0), (
            interpreter_ids()
        )
        assert worker_threads() == []
        # An idle pool does not start workers by itself.
        mark = next_interpreter_id()
        time.sleep(0.4)
        assert created_since(mark) == 0
        # A new task starts a worker again, and gets its result.
        assert pool.submit(ht.square, 12).result(timeout=PATIENCE) == 144
        again = pool.submit(ht.interp_id).result(timeout=PATIENCE)
        assert again not in first
        assert again in interpreter_ids()
    assert_pool_gone(clean_process)


def test_tasks_run_in_parallel_again_after_idle_exit(clean_process: set[int]) -> None:
    with interpool.Pool(2, idle_timeout=0.3) as pool:
        first = set(run_at_once(pool, 2))
        assert wait_until(lambda: interpreter_ids() == clean_process, timeout=3.0)
        # Two tasks that each wait for the other: both workers start again, at once.
        mark = next_interpreter_id()
        ids = run_at_once(pool, 2)
        assert len(set(ids)) == 2, ids
        assert not set(ids) & first
        assert created_since(mark) == 2
    assert_pool_gone(clean_process)


def test_workers_started_after_idle_exit_run_the_initializer(clean_process: set[int]) -> None:
    with interpool.Pool(1, idle_timeout=0.2, initializer=ht.init_record) as pool:
        first, runs = pool.submit(ht.init_runs).result(timeout=PATIENCE)
        assert runs == 1
        assert wait_until(lambda: first not in interpreter_ids(), timeout=3.0)
        second, runs = pool.submit(ht.init_runs).result(timeout=PATIENCE)
        assert (second != first, runs) == (True, 1)
    assert_pool_gone(clean_process)


@pytest.mark.parametrize(
    ("name", "bad", "error", "message"),
    [
        ("idle_timeout", 0, ValueError, "must be None or a positive"),
        ("idle_timeout", -1, ValueError, "must be None or a positive"),
        ("idle_timeout", "x", TypeError, "must be a number of seconds or None"),
        ("idle_timeout", True, TypeError, "must be a number of seconds or None"),
        ("idle_timeout", float("nan"), ValueError, "must be None or a positive"),
        ("idle_timeout", float("inf"), ValueError, "must be None or a positive"),
        ("max_tasks_per_worker", 0, ValueError, r"must be None or > 0"),
        ("max_tasks_per_worker", -3, ValueError, r"must be None or > 0"),
        ("max_tasks_per_worker", 1.5, TypeError, "must be an integer or None"),
        ("max_tasks_per_worker", "3", TypeError, "must be an integer or None"),
        ("max_tasks_per_worker", True, TypeError, "must be an integer or None"),
        ("task_timeout", 0, ValueError, "must be None or a positive"),
        ("task_timeout", -0.5, ValueError, "must be None or a positive"),
        ("task_timeout", float("inf"), ValueError, "must be None or a positive"),
        ("task_timeout", "1", TypeError, "must be a number of seconds or None"),
    ],
)
def test_invalid_health_options_raise(
    name: str, bad: object, error: type[Exception], message: str
) -> None:
    threads = pool_threads()
    mark = next_interpreter_id()
    with pytest.raises(error, match=rf"^{name} {message}") as info:
        interpool.Pool(1, **{name: bad})  # type: ignore[arg-type]
    assert type(info.value) is error
    assert repr(bad) in str(info.value)
    # Nothing was started.
    assert pool_threads() == threads
    assert created_since(mark) == 0


def test_valid_health_options_are_accepted(clean_process: set[int]) -> None:
    with interpool.Pool(1, max_tasks_per_worker=1, idle_timeout=5, task_timeout=30.0) as pool:
        assert pool.submit(ht.square, 3).result(timeout=PATIENCE) == 9
    with interpool.Pool(1, max_tasks_per_worker=None, idle_timeout=None) as pool:
        assert pool.submit(ht.square, 4).result(timeout=PATIENCE) == 16
    assert_pool_gone(clean_process)


# -- crashed workers ------------------------------------------------------------------


def test_worker_crashing_between_tasks_is_replaced(clean_process: set[int]) -> None:
    with interpool.Pool(1) as pool:
        crashed = pool.submit(ht.break_idle_loop).result(timeout=PATIENCE)
        # The worker's loop raises once it is idle: its interpreter goes away...
        assert wait_until(lambda: crashed not in interpreter_ids(), timeout=5.0)
        # ... and a fresh worker runs everything that follows.
        futures = [pool.submit(ht.counted, i) for i in range(50)]
        results = [f.result(timeout=PATIENCE) for f in futures]
        results += pool.map(ht.counted, range(50, 100), chunksize=1)
        assert [x for _, _, x in results] == list(range(100))
        calls = per_interpreter(results)
        assert list(calls.values()) == [list(range(1, 101))], calls.keys()
        assert crashed not in calls
    assert_pool_gone(clean_process)


def test_worker_crashing_between_tasks_under_load_loses_nothing(
    clean_process: set[int],
) -> None:
    with interpool.Pool(2) as pool:
        sabotage = pool.submit(ht.break_idle_loop)
        futures = [pool.submit(ht.square, i) for i in range(200)]
        assert [f.result(timeout=PATIENCE) for f in futures] == [i * i for i in range(200)]
        crashed = sabotage.result(timeout=PATIENCE)
        assert wait_until(lambda: crashed not in interpreter_ids(), timeout=5.0)
        # The pool is back to two workers that run at the same time.
        ids = run_at_once(pool, 2)
        assert len(set(ids)) == 2
        assert crashed not in ids
        assert list(pool.map(ht.square, range(100))) == [i * i for i in range(100)]
    assert_pool_gone(clean_process)


def test_worker_crashing_while_running_a_task_fails_that_task_only(
    clean_process: set[int],
) -> None:
    with interpool.Pool(1) as pool:
        # After this task, the worker's loop fails as soon as it has marked its next
        # task as running, before that task's code starts.
        crashed = pool.submit(ht.release_loop_view, "skips").result(timeout=PATIENCE)
        futures = [pool.submit(ht.counted, i) for i in range(6)]
        error = futures[0].exception(timeout=PATIENCE)
        assert isinstance(error, WorkerCrashed), repr(error)
        assert isinstance(error, RuntimeError)
        assert "replaced" in str(error)
        assert error.__cause__ is not None
        assert "released memoryview" in str(error.__cause__)
        # The other tasks run in the replacement worker, a fresh interpreter.
        results = [f.result(timeout=PATIENCE) for f in futures[1:]]
        assert [x for _, _, x in results] == [1, 2, 3, 4, 5]
        calls = per_interpreter(results)
        assert list(calls.values()) == [[1, 2, 3, 4, 5]]
        assert crashed not in calls
        assert wait_until(lambda: crashed not in interpreter_ids(), timeout=5.0)
        assert pool.submit(ht.square, 7).result(timeout=PATIENCE) == 49
    assert_pool_gone(clean_process)


def test_worker_crashing_before_marking_its_task_loses_nothing(
    clean_process: set[int],
) -> None:
    pool = interpool.Pool(1)
    try:
        # The loop's marking of running tasks fails from now on: at the end of this
        # very task, then on taking the next one.
        pool.submit(ht.release_loop_view, "running").exception(timeout=PATIENCE)
        taken = pool.submit(ht.square, 3)
        done, _ = cf.wait([taken], timeout=2.0)
        assert done, "the task taken by the crashing worker never completed"
        error = taken.exception()
        assert error is None or isinstance(error, WorkerCrashed), repr(error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- initializer ----------------------------------------------------------------------


def test_failing_initializer_breaks_the_pool_without_looping(clean_process: set[int]) -> None:
    mark = next_interpreter_id()
    pool = interpool.Pool(2, initializer=ht.failing_init, initargs=("no luck",))
    try:
        error = pool.submit(ht.square, 3).exception(timeout=PATIENCE)
        assert isinstance(error, interpool.BrokenPool), repr(error)
        assert isinstance(error.__cause__, ht.InitError)
        assert str(error.__cause__) == "no luck"
        with pytest.raises(interpool.BrokenPool) as later:
            pool.submit(ht.square, 4)
        assert isinstance(later.value.__cause__, ht.InitError)
        with pytest.raises(interpool.BrokenPool):
            pool.map(ht.square, [1, 2])
        # The failed workers are not replaced again and again.
        busy = next_interpreter_id()
        time.sleep(1.0)
        assert created_since(busy) == 0
        assert created_since(mark) <= 2 + 2  # the two workers, and the two probes
        assert wait_until(lambda: interpreter_ids() == clean_process, timeout=5.0)
    finally:
        pool.shutdown()
    assert_pool_gone(clean_process)


def test_each_replacement_worker_runs_the_initializer_once(clean_process: set[int]) -> None:
    with interpool.Pool(1, max_tasks_per_worker=1, initializer=ht.init_record) as pool:
        results = [pool.submit(ht.init_runs).result(timeout=PATIENCE) for _ in range(4)]
        results += pool.map(ht.init_runs, range(4), chunksize=1)
        assert [runs for _, runs in results] == [1] * 8, results
        assert len({interp for interp, _ in results}) == 8, results
    assert_pool_gone(clean_process)


def test_worker_crashing_right_after_start_does_not_loop(clean_process: set[int]) -> None:
    mark = next_interpreter_id()
    pool = interpool.Pool(1, initializer=ht.break_idle_loop)
    try:
        time.sleep(1.0)
        created = created_since(mark)
        assert created <= MAX_CRASHES, f"{created} interpreters created in 1 s"
        # The pool gave up, and says why.
        with pytest.raises(interpool.BrokenPool, match="in a row failed"):
            pool.submit(ht.square, 2)
        mark = next_interpreter_id()
        time.sleep(0.5)
        assert created_since(mark) == 0
    finally:
        pool.shutdown()


# -- SystemExit and KeyboardInterrupt -------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "args", "kind"),
    [
        (ht.raise_system_exit, (3,), SystemExit),
        (ht.raise_keyboard_interrupt, (), KeyboardInterrupt),
    ],
)
def test_base_exceptions_fail_the_task_only(
    clean_process: set[int], fn: Any, args: tuple[Any, ...], kind: type[BaseException]
) -> None:
    with interpool.Pool(1) as pool:
        before = pool.submit(ht.interp_id).result(timeout=PATIENCE)
        for _ in range(3):
            error = pool.submit(fn, *args).exception(timeout=PATIENCE)
            assert type(error) is kind, repr(error)
            if kind is SystemExit:
                assert isinstance(error, SystemExit)
                assert error.code == 3
        # The same worker goes on.
        assert pool.submit(ht.square, 5).result(timeout=PATIENCE) == 25
        assert pool.submit(ht.interp_id).result(timeout=PATIENCE) == before
        assert interpreter_ids() == clean_process | {before}
    assert_pool_gone(clean_process)


def test_a_bug_in_the_collector_does_not_stop_it(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import interpool._engine.scheduler as sched

    real = sched._outcome
    calls = [0]

    def broken_once(*args: object) -> object:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("simulated bug")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sched, "_outcome", broken_once)
    with interpool.Pool(1) as pool:
        first = pool.submit(ht.square, 2)
        cf.wait([first], timeout=2.0)  # collected by the collector thread, which fails
        # The collector goes on: later results still arrive without a caller polling.
        later = [pool.submit(ht.square, i) for i in range(5)]
        done, _ = cf.wait(later, timeout=PATIENCE)
        assert len(done) == 5
        assert [f.result() for f in later] == [i * i for i in range(5)]
        first.cancel()
    assert "error in the pool's collector thread" in capfd.readouterr().err

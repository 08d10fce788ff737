"""Pool basics: the Executor contract, workers, reuse, initializer, sys.path, threads."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
import time
from pathlib import Path

import pytest

import interpool
from interpool._platform import interpreters

from ..support import (
    PATIENCE,
    join_all,
    pool_threads,
    run_python,
    run_together,
    wait_until,
    warm_up,
)
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)


# -- the Executor contract ------------------------------------------------------------


def test_pool_is_an_executor() -> None:
    assert issubclass(interpool.Pool, cf.Executor)


def test_submit_returns_a_concurrent_future(pool: interpool.Pool) -> None:
    future = pool.submit(tasks.add, 2, 3)
    assert isinstance(future, cf.Future)
    assert future.result(timeout=PATIENCE) == 5
    assert future.done()
    assert not future.cancelled()
    assert future.exception() is None


def test_submit_passes_args_and_kwargs(pool: interpool.Pool) -> None:
    future = pool.submit(tasks.echo, 1, "two", three=3, four=[4])
    assert future.result(timeout=PATIENCE) == ((1, "two"), {"three": 3, "four": [4]})


def test_submit_accepts_keyword_named_fn(pool: interpool.Pool) -> None:
    # ``fn`` is positional-only, as in concurrent.futures.
    assert pool.submit(tasks.echo, fn=1, self=2).result(timeout=PATIENCE) == (
        (),
        {"fn": 1, "self": 2},
    )


def test_results_of_many_futures(pool: interpool.Pool) -> None:
    futures = [pool.submit(tasks.square, i) for i in range(200)]
    assert [f.result(timeout=PATIENCE) for f in futures] == [i * i for i in range(200)]


def test_as_completed_and_wait(pool: interpool.Pool) -> None:
    futures = {pool.submit(tasks.sleep_return, 0.01 * (i % 3), i): i for i in range(12)}
    seen = {futures[f]: f.result() for f in cf.as_completed(futures, timeout=PATIENCE)}
    assert seen == {i: i for i in range(12)}

    more = [pool.submit(tasks.square, i) for i in range(10)]
    done, not_done = cf.wait(more, timeout=PATIENCE)
    assert not not_done
    assert {f.result() for f in done} == {i * i for i in range(10)}

    slow = pool.submit(tasks.sleep_return, 0.2, "slow")
    failing = pool.submit(tasks.raise_value_error, "boom")
    done, _ = cf.wait([slow, failing], timeout=PATIENCE, return_when=cf.FIRST_EXCEPTION)
    assert failing in done
    assert slow.result(timeout=PATIENCE) == "slow"


def test_add_done_callback(pool: interpool.Pool) -> None:
    got: list[object] = []
    event = threading.Event()

    def callback(future: cf.Future[int]) -> None:
        got.append(future.result())
        event.set()

    pool.submit(tasks.add, 20, 22).add_done_callback(callback)
    assert event.wait(PATIENCE)
    assert got == [42]


def test_cancel_a_pending_future(pool1: interpool.Pool) -> None:
    # One worker, at most 2 tasks handed over ahead of time: the rest stay pending.
    blockers = [pool1.submit(tasks.sleep_return, 1.0, i) for i in range(2)]
    pending = [pool1.submit(tasks.count_call, "cancel-pending") for _ in range(4)]
    assert pending[-1].cancel()
    assert pending[-1].cancelled()
    assert pending[-1].done()
    with pytest.raises(cf.CancelledError):
        pending[-1].result()
    time.sleep(0.3)
    # Without interrupt=False a running task is left alone, as in concurrent.futures...
    assert not blockers[0].cancel(interrupt=False)
    assert not blockers[0].cancelled()
    # ...but one waiting in the workers' queue is cancelled: the worker skips it.
    assert blockers[1].cancel(interrupt=False)
    assert blockers[1].cancelled()
    assert blockers[0].result(timeout=PATIENCE) == 0
    # The other pending calls still ran, and the cancelled one did not.
    assert [f.result(timeout=PATIENCE) for f in pending[:-1]] == [1, 2, 3]
    assert pool1.submit(tasks.count_call, "cancel-pending").result(timeout=PATIENCE) == 4


def test_submit_after_shutdown_raises_runtime_error() -> None:
    pool = interpool.Pool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(tasks.add, 1, 2)
    with pytest.raises(RuntimeError):
        pool.map(tasks.square, [1, 2])


def test_context_manager_returns_pool_and_shuts_down() -> None:
    with interpool.Pool(1) as pool:
        assert isinstance(pool, interpool.Pool)
        future = pool.submit(tasks.sleep_return, 0.1, "done")
    assert future.done()
    assert future.result() == "done"
    with pytest.raises(RuntimeError):
        pool.submit(tasks.add, 1, 2)


def test_done_callbacks_that_call_result() -> None:
    """The common pattern of a done-callback reading ``future.result()`` must work for
    every future, and every future must complete."""
    ok: list[int] = []
    errors: list[BaseException] = []

    def callback(future: cf.Future[int]) -> None:
        time.sleep(0.0005)  # a callback doing a little work
        try:
            ok.append(future.result())
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    with interpool.Pool(2) as pool:
        warm_up(pool)
        futures = []
        for i in range(1000):
            future = pool.submit(tasks.add, i, 1)
            future.add_done_callback(callback)
            futures.append(future)
        # Wait for completion, but stop early once nothing moves any more.
        done_before = -1
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            done, not_done = cf.wait(futures, timeout=1.0)
            if not not_done or len(done) == done_before:
                break
            done_before = len(done)
        stuck = [f for f in futures if not f.done()]
        for f in stuck:
            f.cancel()
    assert not errors, f"{len(errors)} callbacks failed, first: {errors[0]!r}"
    assert not stuck, f"{len(stuck)} futures never completed"
    assert sorted(ok) == [i + 1 for i in range(1000)]


# -- workers ------------------------------------------------------------------------


def test_max_workers_defaults_to_process_cpu_count() -> None:
    with interpool.Pool() as pool:
        assert pool.max_workers == os.process_cpu_count()
        assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2


def test_max_workers_is_kept(pool: interpool.Pool) -> None:
    assert pool.max_workers == 2


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        ("2", TypeError),
        (True, TypeError),
        (False, TypeError),
        (2.0, TypeError),
    ],
)
def test_invalid_max_workers_raise(bad: object, error: type[Exception]) -> None:
    # As concurrent.futures: "max_workers must be greater than 0" for a wrong value.
    threads = pool_threads()
    with pytest.raises(error, match="max_workers") as info:
        interpool.Pool(bad)  # type: ignore[arg-type]
    assert type(info.value) is error
    assert pool_threads() == threads


def test_tasks_run_in_sub_interpreters(pool: interpool.Pool) -> None:
    main_id = interpreters.get_main().id
    assert interpreters.get_current().id == main_id
    ids = {pool.submit(tasks.interp_id).result(timeout=PATIENCE) for _ in range(20)}
    assert main_id not in ids
    assert ids <= {interp.id for interp in interpreters.list_all()}


def test_tasks_run_in_parallel(pool: interpool.Pool) -> None:
    # Each call waits until both have started: only possible if they run at once.
    ids = run_together(pool)
    assert len(set(ids)) == 2
    assert interpreters.get_main().id not in ids


def test_idle_worker_is_woken_for_a_queued_task(pool: interpool.Pool, tmp_path: Path) -> None:
    # A call is queued while the other worker sleeps: it must be woken.  The race hits
    # a few percent of the pairs, so try many.
    for attempt in range(400):
        directory = tmp_path / str(attempt)
        directory.mkdir()
        time.sleep((0, 0.0002, 0.002)[attempt % 3])  # vary the workers' idle states
        futures = [pool.submit(tasks.rendezvous, str(directory), f"p{i}", 2, 1.0) for i in range(2)]
        errors = [f.exception(timeout=PATIENCE) for f in futures]
        assert errors == [None, None], f"pair {attempt} never met"


def test_workers_are_reused(pool: interpool.Pool) -> None:
    worker_ids = warm_up(pool)
    for _ in range(3):
        ids = {
            f.result(timeout=PATIENCE) for f in [pool.submit(tasks.interp_id) for _ in range(50)]
        }
        assert ids <= worker_ids
    assert set(pool.map(tasks.interp_id, range(100), chunksize=1)) <= worker_ids


def test_worker_keeps_module_state_between_tasks(pool1: interpool.Pool) -> None:
    assert pool1.submit(tasks.get_global, "reuse").result(timeout=PATIENCE) is None
    pool1.submit(tasks.set_global, "reuse", [1, 2, 3]).result(timeout=PATIENCE)
    assert pool1.submit(tasks.get_global, "reuse").result(timeout=PATIENCE) == [1, 2, 3]
    ids = {pool1.submit(tasks.interp_id).result(timeout=PATIENCE) for _ in range(10)}
    assert len(ids) == 1


def test_workers_do_not_share_module_state(pool1: interpool.Pool) -> None:
    # Each worker is its own interpreter: the caller's module globals are separate.
    tasks._store["isolated"] = "caller"
    try:
        assert pool1.submit(tasks.get_global, "isolated").result(timeout=PATIENCE) is None
        pool1.submit(tasks.set_global, "isolated", "worker").result(timeout=PATIENCE)
        assert tasks._store["isolated"] == "caller"
    finally:
        del tasks._store["isolated"]


# -- initializer --------------------------------------------------------------------


def test_initializer_runs_in_every_worker() -> None:
    with interpool.Pool(2, initializer=tasks.init_set, initargs=(42, [1])) as pool:
        results = run_together(pool, tasks.rendezvous_init)
        assert len({worker for worker, _ in results}) == 2
        assert [value for _, value in results] == [(42, [1]), (42, [1])]
        assert pool.submit(tasks.get_init_value).result(timeout=PATIENCE) == (42, [1])
    assert tasks.INIT_VALUE is None  # the caller's module is untouched


def test_failing_initializer_breaks_the_pool() -> None:
    threads = pool_threads()
    pool = interpool.Pool(2, initializer=tasks.failing_init)
    outcomes: list[BaseException | None] = []
    for i in range(5):
        try:
            future = pool.submit(tasks.add, i, 1)
        except interpool.BrokenPool as exc:
            outcomes.append(exc)
        else:
            outcomes.append(future.exception(timeout=PATIENCE))
    assert all(isinstance(exc, interpool.BrokenPool) for exc in outcomes), outcomes
    broken = outcomes[-1]
    assert isinstance(broken, cf.BrokenExecutor)
    assert isinstance(broken.__cause__, ValueError)
    assert "initializer exploded" in str(broken.__cause__)
    # Once broken, submitting fails at once.
    with pytest.raises(interpool.BrokenPool):
        pool.submit(tasks.add, 1, 2)
    with pytest.raises(interpool.BrokenPool):
        pool.map(tasks.square, [1])
    pool.shutdown()
    assert wait_until(lambda: pool_threads() <= threads)


def test_initializer_must_be_callable_and_sendable() -> None:
    threads = pool_threads()
    with pytest.raises(TypeError, match="callable"):
        interpool.Pool(1, initializer=42)  # type: ignore[arg-type]
    lock = threading.Lock()

    def init() -> None:  # a closure over a lock: cannot be pickled even by value
        lock.acquire()

    with pytest.raises(TypeError, match="cannot send"):
        interpool.Pool(1, initializer=init)
    with pytest.raises(TypeError, match="argument 0"):
        interpool.Pool(1, initializer=tasks.init_set, initargs=(threading.Lock(),))
    assert pool_threads() == threads


# -- environment ----------------------------------------------------------------------


def test_workers_inherit_sys_path(tmp_path: Path) -> None:
    module_name = "interpool_test_path_module"
    (tmp_path / f"{module_name}.py").write_text(
        "import os\n\ndef where(x):\n    return (os.path.basename(__file__), x * 2)\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        module = __import__(module_name)
        with interpool.Pool(1) as pool:
            assert pool.submit(module.where, 21).result(timeout=PATIENCE) == (
                f"{module_name}.py",
                42,
            )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module_name, None)


def test_worker_cwd_is_the_callers(pool: interpool.Pool) -> None:
    assert pool.submit(tasks.getcwd).result(timeout=PATIENCE) == os.getcwd()


# -- concurrency ----------------------------------------------------------------------


def test_submit_from_many_threads(pool: interpool.Pool) -> None:
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            futures = [pool.submit(tasks.add, n * 1000, i) for i in range(500)]
            results[n] = [f.result(timeout=PATIENCE) for f in futures]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    join_all(threads)
    assert not errors
    assert results == {n: [n * 1000 + i for i in range(500)] for n in range(4)}


def test_map_from_many_threads(pool: interpool.Pool) -> None:
    results: dict[int, list[int]] = {}

    def client(n: int) -> None:
        results[n] = list(pool.map(tasks.add, [n] * 300, range(300), chunksize=7))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    join_all(threads)
    assert results == {n: [n + i for i in range(300)] for n in range(4)}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_single_cpu_process_does_not_poll(tmp_path: Path) -> None:
    """With one usable CPU, callers and workers sleep instead of polling (polling
    would only delay the thread that has the work), and everything still works."""
    script = tmp_path / "one_cpu.py"
    script.write_text(
        "import os\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "import interpool\n"
        "if __name__ == '__main__':\n"
        "    with interpool.Pool(2) as pool:\n"
        "        print('POLL', pool._backend.scheduler._poll)\n"
        "        print('RESULTS', [pool.submit(abs, -i).result() for i in range(200)] == "
        "list(range(200)))\n"
    )
    proc = run_python(script)
    assert proc.returncode == 0, proc.stderr
    assert "POLL False" in proc.stdout
    assert "RESULTS True" in proc.stdout

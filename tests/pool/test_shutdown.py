"""Shutdown: what it waits for, what it cancels, what it releases, and clean exits."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import threading
import time
from pathlib import Path

import pytest

import interpool
from interpool._platform import interpreters

from ..support import (
    HAVE_PROC_FD,
    PATIENCE,
    assert_clean_stderr,
    interpreter_ids,
    open_fds,
    pool_threads,
    run_python,
    wait_until,
    warm_up,
    write,
)
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)

needs_proc_fd = pytest.mark.skipif(not HAVE_PROC_FD, reason="needs /proc/self/fd")


def released(interps: set[int], threads: set[threading.Thread], fds: int | None) -> bool:
    """True once no interpreter, pool thread or file descriptor is left beyond those."""
    return (
        interpreter_ids() <= interps
        and pool_threads() <= threads
        and (fds is None or open_fds() <= fds)
    )


def snapshot() -> tuple[set[int], set[threading.Thread], int | None]:
    return interpreter_ids(), pool_threads(), open_fds() if HAVE_PROC_FD else None


# -- resources ------------------------------------------------------------------------


@needs_proc_fd
def test_shutdown_releases_everything() -> None:
    interps, threads, fds = snapshot()
    pool = interpool.Pool(2)
    worker_ids = warm_up(pool)
    assert worker_ids <= interpreter_ids() - interps
    assert len(pool_threads() - threads) >= 2
    assert open_fds() > fds  # type: ignore[operator]
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3
    pool.shutdown()
    # shutdown(wait=True) returns after everything is released, without polling.
    assert interpreter_ids() <= interps
    assert interpreter_ids() & worker_ids == set()
    assert pool_threads() <= threads
    assert open_fds() <= fds  # type: ignore[operator]


def test_only_main_interpreter_left() -> None:
    with interpool.Pool(2) as pool:
        warm_up(pool)
        assert len(interpreter_ids()) >= 3
    # Every pool of the other tests is shut down by now.
    main = interpreters.get_main()
    assert wait_until(lambda: interpreters.list_all() == [main])
    assert wait_until(lambda: not pool_threads())


def test_shutdown_without_wait_releases_later() -> None:
    interps, threads, fds = snapshot()
    pool = interpool.Pool(2)
    warm_up(pool)
    futures = [pool.submit(tasks.sleep_return, 0.1, i) for i in range(4)]
    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError):
        pool.submit(tasks.add, 1, 2)
    # Queued tasks still run to completion.
    assert [f.result(timeout=PATIENCE) for f in futures] == [0, 1, 2, 3]
    assert wait_until(lambda: released(interps, threads, fds))


def test_shutdown_waits_for_queued_tasks(pool1: interpool.Pool) -> None:
    futures = [pool1.submit(tasks.sleep_return, 0.02, i) for i in range(10)]
    pool1.shutdown(wait=True)
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == list(range(10))


def test_shutdown_cancel_futures(pool1: interpool.Pool) -> None:
    futures = [pool1.submit(tasks.sleep_return, 0.2, i) for i in range(12)]
    time.sleep(0.05)
    pool1.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in futures)
    cancelled = [f.cancelled() for f in futures]
    # Every task the worker had not started was cancelled, including those already
    # handed over to the workers' queue: at most one (the running one) ran.
    assert cancelled[-1]
    assert sum(cancelled) >= 12 - 1
    assert cancelled == sorted(cancelled)  # a prefix ran, the rest was cancelled
    for i, f in enumerate(futures):
        if not f.cancelled():
            assert f.result() == i


def test_shutdown_twice_is_harmless() -> None:
    pool = interpool.Pool(1)
    assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2
    pool.shutdown()
    pool.shutdown()
    pool.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(RuntimeError):
        pool.submit(tasks.add, 1, 1)


def test_shutdown_without_wait_then_with_wait() -> None:
    interps, threads, _ = snapshot()
    pool = interpool.Pool(2)
    future = pool.submit(tasks.sleep_return, 0.1, "x")
    pool.shutdown(wait=False)
    pool.shutdown(wait=True)
    assert future.result(timeout=0) == "x"
    assert interpreter_ids() <= interps
    assert pool_threads() <= threads


def test_context_manager_shuts_down() -> None:
    interps, threads, fds = snapshot()
    with interpool.Pool(2) as pool:
        futures = [pool.submit(tasks.sleep_return, 0.05, i) for i in range(6)]
    assert [f.result(timeout=0) for f in futures] == list(range(6))
    assert released(interps, threads, fds)


def test_context_manager_shuts_down_on_error() -> None:
    interps, threads, _ = snapshot()
    with pytest.raises(KeyError), interpool.Pool(1) as pool:
        pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE)
        raise KeyError("inside")
    assert interpreter_ids() <= interps
    assert pool_threads() <= threads


def test_pool_dropped_without_shutdown_is_released() -> None:
    interps, threads, fds = snapshot()
    pool = interpool.Pool(2)
    future = pool.submit(tasks.sleep_return, 0.05, "kept")
    del pool
    gc.collect()
    assert future.result(timeout=PATIENCE) == "kept"
    assert wait_until(lambda: released(interps, threads, fds))


def test_shutdown_without_wait_from_a_done_callback() -> None:
    pool = interpool.Pool(1)
    done = threading.Event()

    def callback(_: cf.Future[object]) -> None:
        pool.shutdown(wait=False)
        done.set()

    futures = [pool.submit(tasks.sleep_return, 0.1, 0)]
    futures += [pool.submit(tasks.add, i, 0) for i in range(1, 6)]
    futures[0].add_done_callback(callback)
    assert done.wait(PATIENCE)
    assert [f.result(timeout=PATIENCE) for f in futures] == list(range(6))
    with pytest.raises(RuntimeError):
        pool.submit(tasks.add, 1, 1)
    pool.shutdown()


def test_shutdown_with_wait_from_a_done_callback() -> None:
    pool = interpool.Pool(1)
    done = threading.Event()
    outcome: list[object] = []

    def callback(_: cf.Future[object]) -> None:
        try:
            pool.shutdown(wait=True)
        except RuntimeError as exc:  # acceptable: the standard executors refuse too
            outcome.append(exc)
        else:
            outcome.append("returned")
        done.set()

    # The first task is slow, so its callback runs on the pool's side, not here.
    futures = [pool.submit(tasks.sleep_return, 0.1, 0)]
    futures += [pool.submit(tasks.add, i, 0) for i in range(1, 6)]
    futures[0].add_done_callback(callback)
    try:
        assert done.wait(2.0), "shutdown(wait=True) in a callback did not return"
        assert [f.result(timeout=PATIENCE) for f in futures] == list(range(6))
    finally:
        # Unblock a deadlocked pool by completing results from this thread.
        deadline = time.monotonic() + PATIENCE
        while not done.is_set() and time.monotonic() < deadline:
            for f in futures:
                with contextlib.suppress(cf.TimeoutError):
                    f.result(timeout=0.01)
        pool.shutdown()


@pytest.mark.parametrize("attempt", range(10))
def test_submit_racing_shutdown_never_hangs(attempt: int) -> None:
    pool = interpool.Pool(2)
    accepted: list[tuple[int, cf.Future[int]]] = []
    rejected: list[BaseException] = []
    started = threading.Event()

    def submitter() -> None:
        i = 0
        while True:
            try:
                accepted.append((i, pool.submit(tasks.add, i, attempt)))
            except RuntimeError as exc:
                rejected.append(exc)
                return
            i += 1
            if i == 20:
                started.set()

    thread = threading.Thread(target=submitter, daemon=True)
    thread.start()
    assert started.wait(PATIENCE)
    pool.shutdown(wait=True)
    thread.join(PATIENCE)
    assert not thread.is_alive()
    assert len(rejected) == 1
    _, not_done = cf.wait([f for _, f in accepted], timeout=PATIENCE)
    assert not not_done
    assert all(f.result() == i + attempt for i, f in accepted)


# -- process exit ---------------------------------------------------------------------


def test_script_that_never_shuts_down_exits_cleanly(tmp_path: Path) -> None:
    script = write(
        tmp_path / "noshutdown.py",
        """\
        import sys
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        pool = interpool.Pool(2)
        futures = [pool.submit(tasks.square, i) for i in range(20)]
        print("RESULTS", [f.result() for f in futures], flush=True)
        more = [pool.submit(tasks.sleep_return, 0.05, i) for i in range(4)]
        print("END OF SCRIPT", flush=True)
        """,
    )
    proc = run_python(script, Path(__file__).parents[2], cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"RESULTS {[i * i for i in range(20)]}" in proc.stdout
    assert "END OF SCRIPT" in proc.stdout
    assert_clean_stderr(proc.stderr)


def test_queued_tasks_run_before_exit(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    script = write(
        tmp_path / "queued.py",
        """\
        import sys
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        pool = interpool.Pool(1)
        for i in range(4):
            pool.submit(tasks.touch, sys.argv[2], f"mark{i}")
            pool.submit(tasks.sleep_return, 0.02)
        print("EXITING", flush=True)
        """,
    )
    proc = run_python(script, Path(__file__).parents[2], marks, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in marks.iterdir()) == [f"mark{i}" for i in range(4)]
    assert_clean_stderr(proc.stderr)


def test_script_that_drops_its_pool_exits_cleanly(tmp_path: Path) -> None:
    script = write(
        tmp_path / "dropped.py",
        """\
        import gc
        import sys
        import time
        from interpool._platform import interpreters

        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        pool = interpool.Pool(2)
        print("RESULT", pool.submit(tasks.add, 20, 22).result(), flush=True)
        del pool
        gc.collect()
        deadline = time.monotonic() + 20
        while len(interpreters.list_all()) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        print("INTERPRETERS", len(interpreters.list_all()), flush=True)
        """,
    )
    proc = run_python(script, Path(__file__).parents[2], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "RESULT 42" in proc.stdout
    assert "INTERPRETERS 1" in proc.stdout
    assert_clean_stderr(proc.stderr)


def test_script_exiting_with_busy_workers(tmp_path: Path) -> None:
    script = write(
        tmp_path / "busy.py",
        """\
        import sys
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        pool = interpool.Pool(2)
        futures = [pool.submit(tasks.sleep_return, 0.2, i) for i in range(2)]
        futures[0].add_done_callback(lambda f: print("CALLBACK", f.result(), flush=True))
        sys.exit(0)
        """,
    )
    proc = run_python(script, Path(__file__).parents[2], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "CALLBACK 0" in proc.stdout
    assert_clean_stderr(proc.stderr)

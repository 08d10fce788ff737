"""Lifecycle under load, beyond the single-pool basics of test_shutdown.py: exiting
while tasks run (from the main thread, with other threads still using the pool, or
on an uncaught exception), pools collected while busy, one pool shared by 8 threads,
pools and thread pools used inside a task, and nothing left behind after many pool
lifetimes."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import gc
import itertools
import os
import signal
import subprocess
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

import interpool
from interpool._platform import interpreters

from ..support import (
    HAVE_PROC_FD,
    PATIENCE,
    assert_clean_stderr,
    interpreter_ids,
    join_all,
    open_fds,
    pool_threads,
    run_python,
    wait_until,
    write,
)
from ..tasks import basic as tasks
from ..tasks import interrupts as interrupt_tasks

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).parents[2]


def released(interps: set[int], threads: set[threading.Thread]) -> bool:
    return interpreter_ids() <= interps and pool_threads() <= threads


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# -- (a) interpreter exit while tasks run ------------------------------------------------


def test_exit_while_every_worker_runs_a_task(tmp_path: Path) -> None:
    """The script ends while both workers are inside a task (seen from outside), more
    tasks are queued, and a lazy ``map`` over an endless input is pending: the running
    and queued tasks complete, the lazy map runs what it had submitted and no more,
    and the process exits cleanly."""
    marks = tmp_path / "marks"
    lazy = tmp_path / "lazy"
    marks.mkdir()
    lazy.mkdir()
    script = write(
        tmp_path / "running.py",
        """\
        import itertools
        import os
        import sys
        import time
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        marks, lazy = sys.argv[2], sys.argv[3]
        pool = interpool.Pool(2)
        running = [pool.submit(tasks.started_then_sleep, marks, f"run{i}", 0.5) for i in range(2)]
        queued = [
            pool.submit(tasks.started_then_sleep, marks, f"queued{i}", 0.01) for i in range(6)
        ]
        names = (f"m{i}" for i in itertools.count())
        results = pool.map(tasks.touch, itertools.repeat(lazy), names, buffersize=2)
        deadline = time.monotonic() + 20
        while not {"run0.started", "run1.started"} <= set(os.listdir(marks)):
            assert time.monotonic() < deadline, "the first tasks never started"
            time.sleep(0.005)
        assert not running[0].done() and not running[1].done()
        print("BOTH RUNNING", flush=True)
        """,
    )
    proc = run_python(script, ROOT, marks, lazy, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "BOTH RUNNING" in proc.stdout
    assert_clean_stderr(proc.stderr)
    expected = {f"run{i}" for i in range(2)} | {f"queued{i}" for i in range(6)}
    assert names(marks) == {f"{n}.{s}" for n in expected for s in ("started", "done")}
    # buffersize=2, nothing consumed: the 2 chunks (of 1 item) submitted ran, no more.
    assert names(lazy) == {"m0", "m1"}


def test_exit_while_another_thread_uses_the_pool(tmp_path: Path) -> None:
    """The main thread ends while a (non-daemon) thread keeps submitting and waiting.
    As with the standard executors, the pool stops at exit before such threads are
    joined: the thread's next ``submit`` raises ``RuntimeError``; every task it got
    in before completes with its result; nothing hangs."""
    script = write(
        tmp_path / "other_thread.py",
        """\
        import sys
        import threading
        import time
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        pool = interpool.Pool(2)
        accepted = []
        progress = threading.Event()

        def user():
            i = 0
            while True:
                try:
                    future = pool.submit(tasks.sleep_return, 0.002, i)
                except RuntimeError as exc:
                    print("STOPPED:", exc, flush=True)
                    break
                accepted.append(future)
                if i % 3 == 0:
                    assert future.result(timeout=20) == i
                    progress.set()
                i += 1
            wrong = [j for j, f in enumerate(accepted) if f.result(timeout=20) != j]
            print("ACCEPTED", len(accepted), "WRONG", wrong, flush=True)

        threading.Thread(target=user).start()
        assert progress.wait(20)
        time.sleep(0.05)
        print("MAIN ENDS", flush=True)
        """,
    )
    proc = run_python(script, ROOT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_clean_stderr(proc.stderr)
    assert "MAIN ENDS" in proc.stdout
    assert "STOPPED: cannot schedule new futures after shutdown" in proc.stdout
    assert "WRONG []" in proc.stdout
    accepted = int(proc.stdout.split("ACCEPTED ")[1].split()[0])
    assert accepted >= 1


def test_exit_while_a_daemon_thread_waits_for_results(tmp_path: Path) -> None:
    """A daemon thread in a loop of submit/``result()`` when the program ends: the
    exit neither hangs nor crashes (the thread is blocked in the pool's waiting code,
    or sees ``RuntimeError`` once the pool has stopped)."""
    script = write(
        tmp_path / "daemon.py",
        """\
        import sys
        import threading
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        pool = interpool.Pool(2)
        rounds = threading.Semaphore(0)

        def loop():
            try:
                while True:
                    futures = [pool.submit(tasks.add, i, 1) for i in range(50)]
                    assert [f.result() for f in futures] == list(range(1, 51))
                    rounds.release()
            except RuntimeError:
                pass

        threading.Thread(target=loop, daemon=True).start()
        for _ in range(20):
            assert rounds.acquire(timeout=20)
        print("EXITING", flush=True)
        """,
    )
    proc = run_python(script, ROOT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "EXITING" in proc.stdout
    assert_clean_stderr(proc.stderr)


def test_exit_on_an_uncaught_exception_while_tasks_run(tmp_path: Path) -> None:
    """An uncaught exception ends the script while a task runs and others are
    queued: exit status 1 with the script's own traceback and nothing else on
    stderr, and the queued tasks still ran."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = write(
        tmp_path / "uncaught.py",
        """\
        import os
        import sys
        import time
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        marks = sys.argv[2]
        pool = interpool.Pool(1)
        pool.submit(tasks.started_then_sleep, marks, "running", 0.3)
        for i in range(4):
            pool.submit(tasks.touch, marks, f"queued{i}")
        while "running.started" not in os.listdir(marks):
            time.sleep(0.005)
        raise KeyError("the script's own failure")
        """,
    )
    proc = run_python(script, ROOT, marks, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("Traceback") == 1, proc.stderr
    assert proc.stderr.rstrip().endswith("""KeyError: "the script's own failure\"""")
    for bad in ("Fatal", "Exception ignored", "interpool/_"):
        assert bad not in proc.stderr, proc.stderr
    assert names(marks) == {"running.started", "running.done"} | {f"queued{i}" for i in range(4)}


def test_exit_with_a_pool_made_by_a_thread_that_ended(tmp_path: Path) -> None:
    """A pool created (and left open) by a thread that has since ended is stopped at
    exit like any other, after its tasks: its done-callback runs."""
    script = write(
        tmp_path / "thread_pool.py",
        """\
        import sys
        import threading
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        def make():
            pool = interpool.Pool(1)
            future = pool.submit(tasks.sleep_return, 0.2, "late")
            future.add_done_callback(lambda f: print("CALLBACK", f.result(), flush=True))
            keep.append(pool)

        keep = []
        thread = threading.Thread(target=make)
        thread.start()
        thread.join()
        print("THREAD ENDED", flush=True)
        """,
    )
    proc = run_python(script, ROOT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["THREAD ENDED", "CALLBACK late"]
    assert_clean_stderr(proc.stderr)


# -- (b) a pool garbage-collected while tasks run -----------------------------------------
#
# README ("Shutdown"): a pool that is never shut down is stopped when it is
# garbage-collected, after its queued tasks have run.


def test_pool_collected_while_tasks_run(tmp_path: Path) -> None:
    interps, threads = interpreter_ids(), pool_threads()
    pool = interpool.Pool(2)
    pool.cycle = pool  # type: ignore[attr-defined]  # only the cyclic collector frees it
    ref = weakref.ref(pool)
    running = [
        pool.submit(tasks.started_then_sleep, str(tmp_path), f"run{i}", 0.3) for i in range(2)
    ]
    queued = [pool.submit(tasks.sleep_return, 0.01, i) for i in range(8)]
    assert wait_until(lambda: {"run0.started", "run1.started"} <= names(tmp_path))
    del pool
    gc.collect()
    assert ref() is None, "the futures (or something else) keep the pool alive"
    # The running and the queued tasks complete; none is cancelled or failed.
    assert [f.result(timeout=PATIENCE) for f in running] == ["run0", "run1"]
    assert [f.result(timeout=PATIENCE) for f in queued] == list(range(8))
    assert wait_until(lambda: released(interps, threads))


def test_pool_and_lazy_map_collected_midway() -> None:
    """Dropping a half-consumed lazy ``map`` over an endless input, and the pool with
    it, cancels what was not yet running and stops the pool: no task keeps being
    submitted, nothing is left behind."""
    interps, threads = interpreter_ids(), pool_threads()
    pool = interpool.Pool(2)
    ref = weakref.ref(pool)
    results = pool.map(tasks.sleep_return, itertools.repeat(0.01), itertools.count(), buffersize=3)
    assert [next(results) for _ in range(5)] == list(range(5))
    del results, pool
    gc.collect()
    assert ref() is None
    assert wait_until(lambda: released(interps, threads))


def test_script_exits_right_after_its_busy_pool_is_collected(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    script = write(
        tmp_path / "collected.py",
        """\
        import gc
        import os
        import sys
        import time
        import weakref
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        marks = sys.argv[2]
        pool = interpool.Pool(2)
        pool.cycle = pool
        for i in range(2):
            pool.submit(tasks.started_then_sleep, marks, f"run{i}", 0.3)
        for i in range(6):
            pool.submit(tasks.touch, marks, f"queued{i}")
        while not {"run0.started", "run1.started"} <= set(os.listdir(marks)):
            time.sleep(0.005)
        ref = weakref.ref(pool)
        del pool
        gc.collect()
        print("COLLECTED", ref() is None, flush=True)
        """,
    )
    proc = run_python(script, ROOT, marks, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "COLLECTED True" in proc.stdout
    assert_clean_stderr(proc.stderr)
    expected = {"run0.started", "run0.done", "run1.started", "run1.done"}
    assert names(marks) == expected | {f"queued{i}" for i in range(6)}


# -- (c) one pool, 8 threads at once ----------------------------------------------------


def test_one_pool_used_by_8_threads_at_once() -> None:
    n_threads, repeats = 8, 15
    barrier = threading.Barrier(n_threads)
    failures: list[BaseException] = []
    checks = [0] * n_threads

    def check(index: int, got: object, expected: object) -> None:
        assert got == expected, (index, got, expected)
        checks[index] += 1

    def user(index: int) -> None:
        try:
            barrier.wait(PATIENCE)
            for k in range(repeats):
                base = 1000 * index + 10 * k
                # submit + result
                check(index, pool.submit(tasks.add, base, 1).result(timeout=PATIENCE), base + 1)
                # a burst of submits, waited for together
                futures = [pool.submit(tasks.identity, (index, k, j)) for j in range(20)]
                _, not_done = cf.wait(futures, timeout=PATIENCE)
                check(index, not_done, set())
                check(index, [f.result() for f in futures], [(index, k, j) for j in range(20)])
                # map: automatic chunks, given chunks, several iterables
                xs = range(base, base + 100)
                check(index, list(pool.map(tasks.square, xs)), [x * x for x in xs])
                check(
                    index,
                    list(pool.map(tasks.add, xs, range(100), chunksize=7)),
                    [x + i for i, x in enumerate(xs)],
                )
                # map whose item k raises: the results before it, then the error
                got: list[int] = []
                with pytest.raises(ValueError, match=f"^bad item {base + k}$"):
                    got.extend(pool.map(tasks.fail_at, xs, itertools.repeat(base + k)))
                check(index, got, [x * 10 for x in range(base, base + k)])
                # asyncio, from this thread's own event loop
                if index % 4 == 0:
                    xs = range(base, base + 8)
                    check(index, asyncio.run(run_all(pool, xs)), [x * x for x in xs])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    interps, threads = interpreter_ids(), pool_threads()
    with interpool.Pool(2) as pool:
        users = [threading.Thread(target=user, args=(i,)) for i in range(n_threads)]
        for t in users:
            t.start()
        join_all(users, timeout=90)
    assert not failures, failures[:3]
    per_repeat = 6  # checks per repeat, plus one for asyncio in every 4th thread
    assert checks == [repeats * (per_repeat + (1 if i % 4 == 0 else 0)) for i in range(n_threads)]
    assert released(interps, threads)


# -- (d) nested use -------------------------------------------------------------------


def test_task_uses_its_own_pool() -> None:
    """Supported: a task may make its own ``interpool.Pool`` (workers in further
    sub-interpreters) and use ``map`` and ``submit`` on it, with importable functions."""
    interps, threads = interpreter_ids(), pool_threads()
    with interpool.Pool(2) as pool:
        futures = [pool.submit(tasks.nested_pool, 10, 2) for _ in range(2)]
        outcomes = [f.result(timeout=PATIENCE) for f in futures]
    main = interpreters.get_main().id
    for squares, inner_ids, outer_id in outcomes:
        assert squares == [i * i for i in range(10)]
        assert len(inner_ids) == 2
        assert outer_id not in inner_ids
        assert main not in inner_ids
        assert outer_id != main
    # Inner and outer interpreters are all gone.
    assert released(interps, threads)


def test_task_leaves_its_own_pool_open() -> None:
    """A pool made inside a task and never shut down is stopped when its worker
    interpreter ends: the outer shutdown does not hang and leaves nothing behind."""
    interps, threads = interpreter_ids(), pool_threads()
    pool = interpool.Pool(1)
    assert pool.submit(tasks.nested_pool_left_open, 7).result(timeout=PATIENCE) == 49
    assert len(interpreter_ids() - interps) == 2  # the worker and its own worker
    assert pool.submit(tasks.add, 2, 3).result(timeout=PATIENCE) == 5
    assert_returns(pool.shutdown)
    assert released(interps, threads)


def test_task_uses_a_thread_pool() -> None:
    interps, threads = interpreter_ids(), pool_threads()
    with interpool.Pool(2) as pool:
        squares, n_threads, n_interps = pool.submit(tasks.nested_thread_pool, 40).result(
            timeout=PATIENCE
        )
        assert squares == [i * i for i in range(40)]
        assert n_threads > 1  # really run by the executor's threads
        assert n_interps == 1  # in the worker's interpreter
        # An executor left open in a worker: its thread stays idle there until the end.
        assert pool.submit(tasks.nested_thread_pool_left_open, 9).result(timeout=PATIENCE) == 81
        assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2
        assert_returns(pool.shutdown)
    assert released(interps, threads)


def test_nested_pool_with_a_function_of_the_script(tmp_path: Path) -> None:
    """A task of a script that makes its own pool and submits a function of the
    script.  Found: not supported.  The worker loads the script as
    ``__interpool_main__``, so its functions are sent to the inner pool by name
    under that module, which the inner workers cannot import (the outer worker has
    no ``__main__`` script to point them to).  What this test requires: no hang, no
    crash, an ``ImportError`` that names the module, and the pool still usable after;
    or, should it become supported, the right result."""
    script = write(
        tmp_path / "nested_script.py",
        """\
        import sys
        sys.path.insert(0, sys.argv[1])
        import interpool

        def cube(x):
            return x ** 3

        def outer(n):
            with interpool.Pool(1) as inner:
                return inner.submit(cube, n).result(timeout=20)

        if __name__ == "__main__":
            with interpool.Pool(1) as pool:
                try:
                    print("RESULT", pool.submit(outer, 3).result(timeout=30), flush=True)
                except ImportError as exc:
                    print("IMPORTERROR", type(exc).__name__, exc, flush=True)
                print("STILL USABLE", pool.submit(cube, 2).result(timeout=30), flush=True)
        """,
    )
    proc = run_python(script, ROOT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_clean_stderr(proc.stderr)
    assert "STILL USABLE 8" in proc.stdout
    if "RESULT" in proc.stdout:  # supported after all
        assert "RESULT 27" in proc.stdout
    else:
        assert "IMPORTERROR" in proc.stdout, proc.stdout
        assert "__interpool_main__" in proc.stdout


# -- (e) nothing leaks over many pool lifetimes --------------------------------------------


def _with_block() -> None:
    with interpool.Pool(2) as pool:
        assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3
        assert list(pool.map(tasks.square, range(50))) == [i * i for i in range(50)]


def _no_wait() -> None:
    pool = interpool.Pool(2)
    futures = [pool.submit(tasks.sleep_return, 0.01, i) for i in range(6)]
    pool.shutdown(wait=False)
    assert [f.result(timeout=PATIENCE) for f in futures] == list(range(6))


def _no_wait_cancel() -> None:
    pool = interpool.Pool(1)
    futures = [pool.submit(tasks.sleep_return, 0.02, i) for i in range(10)]
    pool.shutdown(wait=False, cancel_futures=True)
    done, _ = cf.wait(futures, timeout=PATIENCE)
    assert len(done) == 10
    assert any(f.cancelled() for f in futures)


def _dropped() -> None:
    pool = interpool.Pool(2)
    future = pool.submit(tasks.sleep_return, 0.01, "x")
    del pool
    gc.collect()
    assert future.result(timeout=PATIENCE) == "x"


def _broken() -> None:
    pool = interpool.Pool(1, initializer=tasks.failing_init)
    with pytest.raises(interpool.BrokenPool):
        pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE)
    pool.shutdown()


def _errors_and_buffers() -> None:
    with interpool.Pool(2) as pool:
        with pytest.raises(ValueError, match="bad item 3"):
            list(pool.map(tasks.fail_at, range(10), itertools.repeat(3), chunksize=2))
        big = bytearray(200_000)
        assert pool.submit(tasks.identity, big).result(timeout=PATIENCE) == big
        assert len(pool.submit(bytes, 100_000).result(timeout=PATIENCE)) == 100_000


def _recycled() -> None:
    with interpool.Pool(2, max_tasks_per_worker=3) as pool:
        futures = [pool.submit(tasks.add, i, 1) for i in range(12)]
        assert [f.result(timeout=PATIENCE) for f in futures] == list(range(1, 13))


def _interrupted() -> None:
    """Running tasks stopped by a time limit and by ``cancel()``: their workers are
    replaced, and the old interpreters destroyed once the tasks return."""
    pool = interpool.Pool(2, task_timeout=0.2)
    with pytest.raises(TimeoutError):
        pool.submit(interrupt_tasks.spin_forever).result(timeout=PATIENCE)
    future = pool.options(task_timeout=None).submit(interrupt_tasks.spin_forever)
    assert wait_until(future.running)
    assert future.cancel()
    # No time limit here: a fresh worker's first task imports the tasks module, which
    # can take longer than 0.2 s on a loaded machine.
    assert pool.options(task_timeout=None).submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2
    pool.shutdown(wait=False)


CYCLES: list[Callable[[], None]] = [
    _with_block,
    _no_wait,
    _no_wait_cancel,
    _dropped,
    _broken,
    _errors_and_buffers,
    _recycled,
    _interrupted,
]


@pytest.mark.skipif(not HAVE_PROC_FD, reason="needs /proc/self/fd")
def test_no_leak_over_20_pool_lifetimes() -> None:
    # One lifetime first, for what is created once per process and kept: imported
    # modules, and the file that libffi keeps open once ctypes is imported (the pool
    # imports it at start-up): not a per-pool leak.
    _errors_and_buffers()
    assert wait_until(lambda: not pool_threads())

    def state() -> tuple[int, set[threading.Thread], int]:
        # interpool's threads, and files other than sockets (these pools open none): a
        # Dask cluster of the session (tests/dask_fixtures) lives in this process, and
        # its threads and connections come and go on their own.
        return len(interpreters.list_all()), pool_threads(), open_fds(sockets=False)

    base_interps, base_threads, base_fds = state()
    assert base_interps == 1, "another test left an interpreter behind"

    def back_to_baseline() -> bool:
        interps, threads, fds = state()
        return interps == base_interps and threads <= base_threads and fds <= base_fds

    for i in range(20):
        cycle = CYCLES[i % len(CYCLES)]
        cycle()
        # Every cycle ends with the pool shut down or dropped, possibly without waiting.
        if not wait_until(back_to_baseline):
            interps, threads, fds = state()
            extra = sorted(t.name for t in threads - base_threads)
            pytest.fail(
                f"after cycle {i} ({cycle.__name__}): {interps} interpreters (baseline "
                f"{base_interps}), extra threads {extra}, {fds} fds (baseline {base_fds})"
            )
    # (Waiting again: a socket of the session's Dask cluster may be open this instant.)
    assert wait_until(back_to_baseline)


# -- bugs found: Ctrl-C at the wrong moment -----------------------------------------------


def test_ctrl_c_while_exit_waits_for_a_running_task(tmp_path: Path) -> None:
    script = write(
        tmp_path / "ctrl_c_at_exit.py",
        """\
        import os
        import signal
        import sys
        import threading
        import time
        signal.signal(signal.SIGINT, signal.default_int_handler)  # if started ignored
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        pool = interpool.Pool(1)
        # Stuck in C well past the Ctrl-C.
        pool.submit(tasks.started_then_sleep, os.getcwd(), "task", 30)

        def ctrl_c_during_exit():
            while not os.path.exists("task.started"):
                time.sleep(0.01)
            time.sleep(0.3)  # by then the main thread waits for the pool at exit
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=ctrl_c_during_exit, daemon=True).start()
        print("MAIN ENDS", flush=True)
        """,
    )
    for _ in range(3):
        (tmp_path / "task.started").unlink(missing_ok=True)
        try:
            proc = run_python(script, ROOT, cwd=tmp_path, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("the process hung at exit after Ctrl-C")
        assert "MAIN ENDS" in proc.stdout
        # The task sleeps in C past the Ctrl-C grace: the program ends as Ctrl-C ends
        # one, naming the task it abandoned; never a crash, or interpreters left to
        # CPython's finalization.
        assert proc.returncode == -signal.SIGINT, proc.stderr
        assert "without waiting for 1 task still running in C" in proc.stderr
        assert "(tests.tasks.basic.started_then_sleep)" in proc.stderr
        for bad in ("remaining subinterpreters", "Fatal Python error", "Segmentation"):
            assert bad not in proc.stderr, proc.stderr


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2,
    reason="with one CPU, result() does not poll the result queue (the code at fault)",
)
def test_ctrl_c_storm_while_waiting_in_result(tmp_path: Path) -> None:
    """README: Ctrl-C while blocked in ``result()`` raises ``KeyboardInterrupt`` and,
    outside a ``with`` block, the pool stays usable.  Here SIGINT arrives every 0.2 ms
    while the main thread waits in ``result()`` (a handler raises ``KeyboardInterrupt``
    only there) and two other threads submit too; after each 1 s round, every future
    must complete and fresh tasks must complete for ``wait()``.  (Once a bug: an
    interrupt landing in ``Scheduler.help_wait``/``_drain`` lost a result, left the
    pollers count raised or the scheduler's lock held; see
    ``_engine.futures.deferred_interrupts``.)"""
    script = write(
        tmp_path / "ctrl_c_storm.py",
        """\
        import concurrent.futures as cf
        import os
        import signal
        import sys
        import threading
        import time
        sys.path.insert(0, sys.argv[1])
        import interpool
        from tests.tasks import basic as tasks

        armed = False
        progress = [time.monotonic()]

        def on_sigint(signum, frame):
            if armed:
                raise KeyboardInterrupt

        def watchdog():
            while True:
                time.sleep(0.5)
                if time.monotonic() - progress[0] > 10:
                    print("DEADLOCK", flush=True)
                    os._exit(0)

        signal.signal(signal.SIGINT, on_sigint)
        threading.Thread(target=watchdog, daemon=True).start()
        main = threading.get_ident()
        stop = threading.Event()
        pool = interpool.Pool(2)

        def storm():
            while not stop.is_set():
                signal.pthread_kill(main, signal.SIGINT)
                time.sleep(0.0002)

        def other(futures):
            while not stop.is_set():
                batch = [pool.submit(tasks.add, i, 2) for i in range(10)]
                futures.extend(batch)
                cf.wait(batch, timeout=1)

        def wait_interruptibly(future):
            global armed
            armed = True
            try:
                future.result(timeout=30)
                return False
            except KeyboardInterrupt:
                return True
            finally:
                armed = False

        interrupts = lost = stuck = rounds = 0
        while rounds < 10 and not (lost or stuck):
            rounds += 1
            futures = []
            stop.clear()
            threads = [threading.Thread(target=storm)]
            threads += [threading.Thread(target=other, args=(futures,)) for _ in range(2)]
            for t in threads:
                t.start()
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                futures.append(pool.submit(tasks.add, len(futures), 1))
                try:
                    interrupts += wait_interruptibly(futures[-1])
                except KeyboardInterrupt:  # raised again in the except clause
                    interrupts += 1
                progress[0] = time.monotonic()
            stop.set()
            for t in threads:
                t.join()
            _, not_done = cf.wait(futures, timeout=5)
            lost += len(not_done)
            progress[0] = time.monotonic()
            fresh = [pool.submit(tasks.add, i, 1) for i in range(4)]
            _, not_done = cf.wait(fresh, timeout=5)
            stuck += len(not_done)
            progress[0] = time.monotonic()
        print("ROUNDS", rounds, "INTERRUPTS", interrupts, "LOST", lost, "STUCK", stuck)
        sys.stdout.flush()
        os._exit(0)  # a stalled pool could hang the exit
        """,
    )
    proc = run_python(script, ROOT, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "DEADLOCK" not in proc.stdout, "submit() blocked for good (the pool's lock is held)"
    words = proc.stdout.split()
    counts = dict(zip(words[::2], map(int, words[1::2]), strict=True))
    assert counts["INTERRUPTS"] > 0
    assert counts["LOST"] == 0, f"{counts['LOST']} futures never completed"
    assert counts["STUCK"] == 0, "fresh tasks did not complete for wait()"


# -- helpers ----------------------------------------------------------------------------


async def run_all(pool: interpool.Pool, xs: range) -> list[int]:
    """``tasks.square`` of each of ``xs``, all awaited at once with ``pool.run``."""
    return list(await asyncio.gather(*(pool.run(tasks.square, x) for x in xs)))


def assert_returns(fn: Callable[[], object], timeout: float = PATIENCE) -> None:
    """Call ``fn`` in a helper thread; fail (instead of hanging) if it does not return."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{fn} did not return within {timeout} s"

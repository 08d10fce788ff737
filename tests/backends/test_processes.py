"""The processes backend (``Processes``, also ``Pool(fallback="processes")``'s engine):
calls and map chunks run in worker processes; what only processes do (hard kills at a
time limit or on cancel, a crash failing its task only, recycling) is tested here, the
rest through ``Pool`` by the shared backend suite."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import interpool
from interpool._backends.processes import Processes

from ..support import PATIENCE, assert_clean_stderr, run_python, wait_until, write
from ..tasks import basic as tasks
from ..tasks import processes as pt

pytestmark = pytest.mark.timeout(120)

#: A module only the processes can import: its directory is on their ``sys.path``
#: (the caller's, when the fallback was made), not on the caller's any more.
EXTRA_MODULE = "interpool_fallback_extra"


@pytest.fixture(scope="module")
def procs() -> Iterator[Processes]:
    """Two processes, shared by the tests of this module that do not kill them."""
    with tempfile.TemporaryDirectory() as directory:
        write(Path(directory, f"{EXTRA_MODULE}.py"), "VALUE = 'found on the path'\n")
        sys.path.append(directory)
        try:
            backend = Processes(2)
        finally:
            sys.path.remove(directory)
        try:
            yield backend
        finally:
            backend.shutdown(wait=True)


@pytest.fixture
def procs1() -> Iterator[Processes]:
    """A fresh single-process backend, for tests that kill or count its processes."""
    backend = Processes(1)
    try:
        yield backend
    finally:
        backend.shutdown(wait=True, cancel_futures=True, cancel_running=True)


def result(future: cf.Future[Any]) -> Any:
    return future.result(timeout=PATIENCE)


def chunk_of(
    backend: Processes, fn: Callable[..., Any], chunk: tuple[tuple[Any, ...], ...]
) -> cf.Future[Any]:
    """Submit ``chunk`` as ``map`` does."""
    mapper = backend.mapper(fn, None)
    return mapper.submit(mapper.encode(chunk, 0))


# -- what can run --------------------------------------------------------------------


def test_module_function(procs: Processes) -> None:
    assert result(procs.call(tasks.add, (2, 3))) == 5
    assert result(procs.call(tasks.echo, (1,), {"key": "v"})) == ((1,), {"key": "v"})
    assert result(procs.call(os.getpid)) != os.getpid()


def test_lambda_and_closure(procs: Processes) -> None:
    offset = 10

    def closure(x: int) -> int:
        return x + offset

    assert result(procs.call(lambda x: x * 2, (21,))) == 42
    assert result(procs.call(closure, (5,))) == 15


def test_class_defined_in_a_function_comes_back_as_itself(procs: Processes) -> None:
    class Local:
        def __init__(self, v: int) -> None:
            self.v = v

    value = result(procs.call(lambda: Local(3)))
    assert type(value) is Local
    assert value.v == 3


def test_processes_get_the_callers_sys_path(procs: Processes) -> None:
    assert EXTRA_MODULE not in sys.modules
    got = result(procs.call(lambda: __import__(EXTRA_MODULE).VALUE))
    assert got == "found on the path"


def test_numpy_arguments_and_results(procs: Processes) -> None:
    np = pytest.importorskip("numpy")  # refuses to load in a sub-interpreter, not here
    array = np.arange(100_000, dtype=np.float64)
    doubled = result(procs.call(np.multiply, (array, 2.0)))
    assert isinstance(doubled, np.ndarray)
    np.testing.assert_array_equal(doubled, array * 2)
    values, error = result(chunk_of(procs, np.sum, ((array,), (np.ones(3),))))
    assert error is None
    assert values == [array.sum(), 3.0]


def test_memoryview_argument_arrives_as_bytes(procs: Processes) -> None:
    got = result(procs.call(tasks.type_and_value, (memoryview(b"abc"),)))
    assert got == ("builtins.bytes", b"abc")


# -- chunks (map) ----------------------------------------------------------------------


def test_chunk_runs_in_order(procs: Processes) -> None:
    chunk = tuple((i,) for i in range(20))
    assert result(chunk_of(procs, tasks.square, chunk)) == ([i * i for i in range(20)], None)
    assert result(chunk_of(procs, tasks.square, ())) == ([], None)


def test_chunk_stops_at_the_first_error(procs: Processes) -> None:
    chunk = tuple((i, 3) for i in range(6))
    values, error = result(chunk_of(procs, tasks.fail_at, chunk))
    assert values == [0, 10, 20]
    assert type(error) is ValueError
    assert str(error) == "bad item 3"
    assert isinstance(error.__cause__, interpool.RemoteTraceback)


def test_chunk_with_a_result_that_cannot_be_sent_back(procs: Processes) -> None:
    chunk = ((1,), (2,), (3,))
    values, error = result(chunk_of(procs, lambda x: threading.Lock() if x == 2 else x, chunk))
    assert values == [1]
    assert isinstance(error, TypeError)
    assert "cannot be sent back from the process worker" in str(error)


# -- errors ----------------------------------------------------------------------------


def test_exception_keeps_type_and_message(procs: Processes) -> None:
    error = procs.call(tasks.raise_value_error, ("x marks the spot",)).exception(PATIENCE)
    assert type(error) is ValueError
    assert str(error) == "x marks the spot"
    cause = error.__cause__
    assert isinstance(cause, interpool.RemoteTraceback)
    assert "raise_value_error" in cause.tb
    assert "ValueError: x marks the spot" in cause.tb


def test_custom_exception_comes_back_as_itself(procs: Processes) -> None:
    error = procs.call(tasks.raise_custom, ("odd", 7)).exception(PATIENCE)
    assert type(error) is tasks.CustomError
    assert (error.message, error.code) == ("odd", 7)


def test_system_exit_fails_that_task_only(procs: Processes) -> None:
    error = procs.call(tasks.raise_system_exit, (3,)).exception(PATIENCE)
    assert type(error) is SystemExit
    assert error.code == 3
    assert result(procs.call(tasks.add, (1, 1))) == 2


def test_unpicklable_exception_is_a_remote_error(procs: Processes) -> None:
    error = procs.call(tasks.raise_locked).exception(PATIENCE)
    assert isinstance(error, interpool.RemoteError)
    assert error.type_name == "tests.tasks.basic.LockedError"
    assert error.message == "has a lock"


def test_result_that_cannot_be_sent_or_rebuilt(procs: Processes) -> None:
    error = procs.call(tasks.return_lock).exception(PATIENCE)
    assert isinstance(error, TypeError)
    assert "cannot be sent back from the process worker" in str(error)
    error = procs.call(tasks.return_bad_unpickle).exception(PATIENCE)
    assert isinstance(error, TypeError)
    assert "cannot be rebuilt in the caller" in str(error)
    assert result(procs.call(tasks.add, (1, 2))) == 3  # the executor is fine


def test_unsendable_argument_raises_at_submit(procs: Processes) -> None:
    with pytest.raises(TypeError, match="cannot send the call to a process worker"):
        procs.call(tasks.identity, (threading.Lock(),))
    with pytest.raises(TypeError, match="cannot send the chunk to a process worker"):
        chunk_of(procs, tasks.identity, ((1,), (threading.Lock(),)))


def test_concurrent_submissions(procs: Processes) -> None:
    futures: list[cf.Future[Any]] = []
    lock = threading.Lock()

    def submit_some(base: int) -> None:
        for i in range(10):
            future = procs.call(tasks.add, (base, i))
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=submit_some, args=(100 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sorted(result(f) for f in futures)
    assert got == sorted(100 * t + i for t in range(4) for i in range(10))


# -- time limits and cancel: the process is killed ---------------------------------


def test_a_c_call_past_its_limit_is_killed(procs1: Processes) -> None:
    first = result(procs1.call(os.getpid))
    future = procs1.call(time.sleep, (30,), limit=0.3)
    with pytest.raises(TimeoutError, match=r"time limit of 0\.3 s; its worker process was killed"):
        future.result(timeout=PATIENCE)  # long before the 30 s sleep would end
    # A fresh process took its place.
    assert result(procs1.call(os.getpid)) not in (first, os.getpid())


def test_a_map_chunk_has_the_limit_for_each_call(procs1: Processes) -> None:
    # Three calls of 0.2 s under a 1 s limit: the chunk takes longer than the limit,
    # no call does.
    mapper = procs1.mapper(pt.nap_then_pid, 1.0)
    values, error = result(mapper.submit(mapper.encode(((0.2,), (0.2,), (0.2,)), 0)))
    assert error is None
    assert len(set(values)) == 1
    mapper = procs1.mapper(time.sleep, 0.3)
    with pytest.raises(TimeoutError, match="worker process was killed"):
        result(mapper.submit(mapper.encode(((0,), (30,)), 0)))


def test_cancel_kills_a_running_task(procs1: Processes, tmp_path: Path) -> None:
    future = procs1.call(pt.pid_then_sleep, (str(tmp_path), 30))
    assert wait_until((tmp_path / "pid").exists)
    pid = int((tmp_path / "pid").read_text())
    assert future.running()
    assert future.cancel(interrupt=False) is False  # as concurrent.futures
    assert not future.cancelled()
    assert future.cancel() is True
    assert future.cancelled()
    assert cf.wait([future], timeout=0).done == {future}
    with pytest.raises(cf.CancelledError):
        future.result(timeout=0)
    assert wait_until(lambda: not _alive(pid))
    assert result(procs1.call(os.getpid)) != pid


def test_cancel_a_queued_call(procs1: Processes, tmp_path: Path) -> None:
    blocker = procs1.call(pt.pid_then_sleep, (str(tmp_path), 0.5))
    queued = [procs1.call(tasks.add, (i, 0)) for i in range(4)]
    last = queued[-1]
    assert last.cancel(interrupt=False)
    assert last.cancelled()
    with pytest.raises(cf.CancelledError):
        last.result(timeout=0)
    assert result(blocker) > 0
    assert [result(f) for f in queued[:-1]] == [0, 1, 2]


# -- a process that dies fails its task only -------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("task", "args", "how"),
    [
        (os._exit, (3,), "exited with code 3"),
        (pt.segfault, (), "was killed by SIGSEGV"),
        (pt.kill_self, (signal.SIGKILL,), "was killed by SIGKILL"),
    ],
)
def test_a_crash_fails_that_task_only(
    procs: Processes, task: Callable[..., Any], args: tuple[Any, ...], how: str
) -> None:
    # The other process's task, running meanwhile, and later tasks are unaffected.
    other = procs.call(pt.nap_then_pid, (0.3,))
    error = procs.call(task, args).exception(PATIENCE)
    assert isinstance(error, interpool.WorkerCrashed)
    assert f"the worker process running this task {how}" in str(error)
    assert result(other) > 0
    assert [result(procs.call(tasks.add, (i, 1))) for i in range(4)] == [1, 2, 3, 4]


def test_a_process_killed_from_outside(procs1: Processes, tmp_path: Path) -> None:
    future = procs1.call(pt.pid_then_sleep, (str(tmp_path), 30))
    assert wait_until((tmp_path / "pid").exists)
    os.kill(int((tmp_path / "pid").read_text()), signal.SIGTERM)
    with pytest.raises(interpool.WorkerCrashed, match="killed by SIGTERM"):
        result(future)
    # An idle process killed from outside is replaced before it is given a task.
    pid = result(procs1.call(os.getpid))
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not _alive(pid))
    assert result(procs1.call(os.getpid)) != pid


# -- process life cycle ----------------------------------------------------------------


def test_processes_are_recycled_after_max_tasks() -> None:
    backend = Processes(1, max_tasks_per_worker=2)
    try:
        pids = [result(backend.call(os.getpid)) for _ in range(4)]
        mapper = backend.mapper(os.getpid, None)
        chunks = [result(mapper.submit(mapper.encode(((), ()), 0)))[0] for _ in range(2)]
    finally:
        backend.shutdown(wait=True)
    assert pids[0] == pids[1] != pids[2] == pids[3]
    # A chunk counts as one task.
    assert chunks[0][0] == chunks[0][1] == chunks[1][0] != pids[3]


def test_initializer_runs_in_each_process_replacements_too() -> None:
    backend = Processes(1, initializer=tasks.init_set, initargs=("set up",))
    try:
        assert result(backend.call(tasks.get_init_value)) == ("set up", None)
        assert isinstance(backend.call(os._exit, (3,)).exception(PATIENCE), interpool.WorkerCrashed)
        assert result(backend.call(tasks.get_init_value)) == ("set up", None)
    finally:
        backend.shutdown(wait=True)


def test_initializer_failure_breaks_the_pool() -> None:
    backend = Processes(1, initializer=tasks.failing_init)
    try:
        futures = [backend.call(tasks.add, (i, 0)) for i in range(3)]
        for future in futures:
            error = future.exception(PATIENCE)
            assert isinstance(error, interpool.BrokenPool)
            assert "initializer failed" in str(error)
            assert type(error.__cause__) is ValueError
            assert str(error.__cause__) == "initializer exploded"
        with pytest.raises(interpool.BrokenPool):
            backend.call(tasks.add, (1, 2))
    finally:
        backend.shutdown(wait=True)


def test_a_backend_never_used_starts_no_process() -> None:
    before = set(multiprocessing.active_children())
    backend = Processes(4)
    backend.shutdown(wait=True)
    backend.shutdown(wait=False, cancel_futures=True)  # again: harmless
    assert not backend.started
    assert set(multiprocessing.active_children()) == before
    with pytest.raises(RuntimeError, match="after shutdown"):
        backend.call(tasks.add, (1, 2))


def test_shutdown_runs_or_cancels_what_is_queued(tmp_path: Path) -> None:
    before = set(multiprocessing.active_children())
    backend = Processes(1)
    blocker = backend.call(pt.pid_then_sleep, (str(tmp_path), 0.3))
    assert wait_until((tmp_path / "pid").exists)
    queued = [backend.call(tasks.add, (i, 0)) for i in range(3)]
    backend.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(RuntimeError, match="after shutdown"):
        backend.call(tasks.add, (1, 2))
    assert all(f.cancelled() for f in queued)
    backend.join()
    assert result(blocker) > 0  # the running task finished
    assert set(multiprocessing.active_children()) == before
    # Without cancel_futures, queued tasks run; with cancel_running too, running ones
    # are killed.
    backend = Processes(1)
    running = backend.call(time.sleep, (30,))
    assert wait_until(running.running)
    queued = [backend.call(tasks.add, (i, 0)) for i in range(3)]
    backend.shutdown(wait=True, cancel_futures=True, cancel_running=True)
    assert running.cancelled()
    assert all(f.cancelled() for f in queued)
    backend = Processes(1)
    queued = [backend.call(tasks.add, (i, 0)) for i in range(3)]
    backend.shutdown(wait=True)
    assert [f.result(timeout=0) for f in queued] == [0, 1, 2]
    assert set(multiprocessing.active_children()) == before


# -- programs without an importable __main__ -----------------------------------------

PROGRAM = """\
import os
from interpool._backends.processes import Processes

class Point:
    def __init__(self, x):
        self.x = x

def double(p):
    return Point(p.x * 2)

def fails():
    raise KeyError("nope")

if __name__ == "__main__":
    backend = Processes(1)
    factor = 3
    print(backend.call(double, (Point(4),)).result().x)
    print(type(backend.call(double, (Point(4),)).result()) is Point)
    print(backend.call(lambda x: x * factor, (5,)).result())
    mapper = backend.mapper(double)
    print(mapper.submit(mapper.encode(((Point(1),), (Point(2),)), 0)).result()[0][1].x)
    print(repr(backend.call(fails).exception()))
    print(backend.call(os.getpid).result())
    # Not shut down: stopped at exit.
"""

EXPECTED = ["8", "True", "15", "4", "KeyError('nope')"]


@pytest.mark.parametrize("how", ["-c", "stdin", "script"])
def test_functions_of_main(tmp_path: Path, how: str) -> None:
    if how == "-c":
        proc = run_python("-c", PROGRAM, cwd=tmp_path)
    elif how == "stdin":  # __main__.__file__ is "<stdin>", which multiprocessing would run
        proc = run_python("-", input=PROGRAM, cwd=tmp_path)
    else:
        proc = run_python(write(tmp_path / "script.py", PROGRAM), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    *lines, pid = proc.stdout.splitlines()
    assert lines == EXPECTED
    assert_clean_stderr(proc.stderr)
    assert wait_until(lambda: not _alive(int(pid)))  # the worker did not outlive it

"""``ProcessFallback``: interpool tasks (calls and map chunks) run in process workers."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import interpool
from interpool._fallback import ProcessFallback

from . import tasks
from .support import PATIENCE, assert_clean_stderr, run_python, wait_until, write

pytestmark = pytest.mark.timeout(120)

#: A module only the processes can import: its directory is on their ``sys.path``
#: (the caller's, when the fallback was made), not on the caller's any more.
EXTRA_MODULE = "interpool_fallback_extra"


@pytest.fixture(scope="module")
def fallback() -> Iterator[ProcessFallback]:
    """Two processes, shared by the tests of this module."""
    with tempfile.TemporaryDirectory() as directory:
        write(Path(directory, f"{EXTRA_MODULE}.py"), "VALUE = 'found on the path'\n")
        sys.path.append(directory)
        try:
            fb = ProcessFallback(2)
        finally:
            sys.path.remove(directory)
        try:
            yield fb
        finally:
            fb.shutdown(wait=True)


def result(future: cf.Future[Any]) -> Any:
    return future.result(timeout=PATIENCE)


# -- what can run --------------------------------------------------------------------


def test_module_function(fallback: ProcessFallback) -> None:
    assert result(fallback.submit(tasks.add, (2, 3))) == 5
    assert result(fallback.submit(tasks.echo, (1,), {"key": "v"})) == ((1,), {"key": "v"})
    assert result(fallback.submit(os.getpid)) != os.getpid()


def test_lambda_and_closure(fallback: ProcessFallback) -> None:
    offset = 10

    def closure(x: int) -> int:
        return x + offset

    assert result(fallback.submit(lambda x: x * 2, (21,))) == 42
    assert result(fallback.submit(closure, (5,))) == 15


def test_class_defined_in_a_function_comes_back_as_itself(fallback: ProcessFallback) -> None:
    class Local:
        def __init__(self, v: int) -> None:
            self.v = v

    value = result(fallback.submit(lambda: Local(3)))
    assert type(value) is Local
    assert value.v == 3


def test_processes_get_the_callers_sys_path(fallback: ProcessFallback) -> None:
    assert EXTRA_MODULE not in sys.modules
    got = result(fallback.submit(lambda: __import__(EXTRA_MODULE).VALUE))
    assert got == "found on the path"


def test_numpy_arguments_and_results(fallback: ProcessFallback) -> None:
    np = pytest.importorskip("numpy")  # refuses to load in a sub-interpreter, not here
    array = np.arange(100_000, dtype=np.float64)
    doubled = result(fallback.submit(np.multiply, (array, 2.0)))
    assert isinstance(doubled, np.ndarray)
    np.testing.assert_array_equal(doubled, array * 2)
    values, error = result(fallback.submit_chunk(np.sum, ((array,), (np.ones(3),))))
    assert error is None
    assert values == [array.sum(), 3.0]


def test_memoryview_argument_arrives_as_bytes(fallback: ProcessFallback) -> None:
    got = result(fallback.submit(tasks.type_and_value, (memoryview(b"abc"),)))
    assert got == ("builtins.bytes", b"abc")


# -- chunks (map) ----------------------------------------------------------------------


def test_chunk_runs_in_order(fallback: ProcessFallback) -> None:
    chunk = tuple((i,) for i in range(20))
    assert result(fallback.submit_chunk(tasks.square, chunk)) == ([i * i for i in range(20)], None)
    assert result(fallback.submit_chunk(tasks.square, ())) == ([], None)


def test_chunk_stops_at_the_first_error(fallback: ProcessFallback) -> None:
    chunk = tuple((i, 3) for i in range(6))
    values, error = result(fallback.submit_chunk(tasks.fail_at, chunk))
    assert values == [0, 10, 20]
    assert type(error) is ValueError
    assert str(error) == "bad item 3"
    assert isinstance(error.__cause__, interpool.RemoteTraceback)


def test_chunk_with_a_result_that_cannot_be_sent_back(fallback: ProcessFallback) -> None:
    chunk = ((1,), (2,), (3,))
    values, error = result(
        fallback.submit_chunk(lambda x: threading.Lock() if x == 2 else x, chunk)
    )
    assert values == [1]
    assert isinstance(error, TypeError)
    assert "cannot be sent back from the process worker" in str(error)


# -- errors ----------------------------------------------------------------------------


def test_exception_keeps_type_and_message(fallback: ProcessFallback) -> None:
    error = fallback.submit(tasks.raise_value_error, ("x marks the spot",)).exception(PATIENCE)
    assert type(error) is ValueError
    assert str(error) == "x marks the spot"
    cause = error.__cause__
    assert isinstance(cause, interpool.RemoteTraceback)
    assert "raise_value_error" in cause.tb
    assert "ValueError: x marks the spot" in cause.tb


def test_custom_exception_comes_back_as_itself(fallback: ProcessFallback) -> None:
    error = fallback.submit(tasks.raise_custom, ("odd", 7)).exception(PATIENCE)
    assert type(error) is tasks.CustomError
    assert (error.message, error.code) == ("odd", 7)


def test_system_exit_fails_that_task_only(fallback: ProcessFallback) -> None:
    error = fallback.submit(tasks.raise_system_exit, (3,)).exception(PATIENCE)
    assert type(error) is SystemExit
    assert error.code == 3
    assert result(fallback.submit(tasks.add, (1, 1))) == 2


def test_unpicklable_exception_is_a_remote_error(fallback: ProcessFallback) -> None:
    error = fallback.submit(tasks.raise_locked).exception(PATIENCE)
    assert isinstance(error, interpool.RemoteError)
    assert error.type_name == "tests.tasks.LockedError"
    assert error.message == "has a lock"


def test_result_that_cannot_be_sent_or_rebuilt(fallback: ProcessFallback) -> None:
    error = fallback.submit(tasks.return_lock).exception(PATIENCE)
    assert isinstance(error, TypeError)
    assert "cannot be sent back from the process worker" in str(error)
    error = fallback.submit(tasks.return_bad_unpickle).exception(PATIENCE)
    assert isinstance(error, TypeError)
    assert "cannot be rebuilt in the caller" in str(error)
    assert result(fallback.submit(tasks.add, (1, 2))) == 3  # the executor is fine


def test_unsendable_argument_raises_at_submit(fallback: ProcessFallback) -> None:
    with pytest.raises(TypeError, match="cannot send the call to a process worker"):
        fallback.submit(tasks.identity, (threading.Lock(),))
    with pytest.raises(TypeError, match="cannot send the chunk to a process worker"):
        fallback.submit_chunk(tasks.identity, ((1,), (threading.Lock(),)))


def test_concurrent_submissions(fallback: ProcessFallback) -> None:
    futures: list[cf.Future[Any]] = []
    lock = threading.Lock()

    def submit_some(base: int) -> None:
        for i in range(10):
            future = fallback.submit(tasks.add, (base, i))
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=submit_some, args=(100 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sorted(result(f) for f in futures)
    assert got == sorted(100 * t + i for t in range(4) for i in range(10))


# -- life cycle ------------------------------------------------------------------------


def _children() -> set[int]:
    """The pids of this process's children (Linux)."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == me:
                found.add(int(entry))
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_a_fallback_never_used_starts_no_process() -> None:
    before = _children()
    fb = ProcessFallback(4)
    fb.shutdown(wait=True)
    fb.shutdown(wait=False, cancel_futures=True)  # again: harmless
    assert not fb.started
    assert _children() == before
    with pytest.raises(RuntimeError, match="after shutdown"):
        fb.submit(tasks.add, (1, 2))


def test_shutdown_cancels_what_no_process_took(tmp_path: Path) -> None:
    fb = ProcessFallback(1)
    assert not fb.started
    blocker = fb.submit(tasks.rendezvous, (str(tmp_path), "a", 2, PATIENCE))
    assert wait_until((tmp_path / "a").exists)  # running in the process
    assert fb.started
    assert blocker.running()
    queued = [fb.submit(tasks.add, (i, 0)) for i in range(6)]
    fb.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(RuntimeError, match="after shutdown"):
        fb.submit(tasks.add, (1, 2))
    (tmp_path / "b").touch()  # lets the blocker finish
    fb.shutdown(wait=True)  # waits, although the first call did not
    assert blocker.result(timeout=0) == 0  # the process's main interpreter
    cancelled = [f for f in queued if f.cancelled()]
    # The executor hands up to max_workers + 1 calls to its processes ahead of time;
    # those run, the rest are cancelled.
    assert len(cancelled) >= len(queued) - 2
    assert all(f.done() for f in queued)
    assert [f.result() for f in queued if not f.cancelled()] == list(range(6 - len(cancelled)))
    assert cf.wait(queued, timeout=0).not_done == set()


def test_cancel_a_queued_call() -> None:
    fb = ProcessFallback(1)
    try:
        with tempfile.TemporaryDirectory() as directory:
            blocker = fb.submit(tasks.rendezvous, (directory, "a", 2, PATIENCE))
            queued = [fb.submit(tasks.add, (i, 0)) for i in range(4)]
            last = queued[-1]
            assert last.cancel()
            assert last.cancelled()
            assert last.done()
            with pytest.raises(cf.CancelledError):
                last.result(timeout=0)
            assert cf.wait([last], timeout=0).done == {last}
            Path(directory, "b").touch()
            assert result(blocker) is not None
            assert [result(f) for f in queued[:-1]] == [0, 1, 2]
    finally:
        fb.shutdown(wait=True)


def test_initializer_then_a_process_that_dies_breaks_it() -> None:
    fb = ProcessFallback(1, initializer=tasks.init_set, initargs=("set up",))
    try:
        assert result(fb.submit(tasks.get_init_value)) == ("set up", None)
        error = fb.submit(os._exit, (3,)).exception(PATIENCE)
        assert isinstance(error, cf.BrokenExecutor)
        with pytest.raises(cf.BrokenExecutor):
            fb.submit(tasks.add, (1, 2))
    finally:
        fb.shutdown(wait=True)


# -- programs without an importable __main__ -----------------------------------------

PROGRAM = """\
from interpool._fallback import ProcessFallback

class Point:
    def __init__(self, x):
        self.x = x

def double(p):
    return Point(p.x * 2)

def fails():
    raise KeyError("nope")

if __name__ == "__main__":
    fb = ProcessFallback(1)
    factor = 3
    print(fb.submit(double, (Point(4),)).result().x)
    print(type(fb.submit(double, (Point(4),)).result()) is Point)
    print(fb.submit(lambda x: x * factor, (5,)).result())
    print(fb.submit_chunk(double, ((Point(1),), (Point(2),))).result()[0][1].x)
    print(repr(fb.submit(fails).exception()))
    fb.shutdown()
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
    assert proc.stdout.splitlines() == EXPECTED
    assert_clean_stderr(proc.stderr)

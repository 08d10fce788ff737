"""The public contract that is the same on every backend: one future type, one
``cancel(*, interrupt=True)``, one family of errors, and user code that type-checks
under ``mypy --strict`` without casts.  (The executor contract itself is CPython's own
suite: ``tests/stdlib``.)"""

from __future__ import annotations

import concurrent.futures as cf
import inspect
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import interpool
import interpool.exceptions
from interpool import InterpoolError, PoolFuture

from ..support import PATIENCE, run_python, write
from ..tasks import actors as at
from ..tasks import basic as tasks

BACKENDS = ["interpreters", "processes", "threads", "dask"]
PARAMS = [pytest.param(b, marks=pytest.mark.dask) if b == "dask" else b for b in BACKENDS]


@pytest.fixture(scope="module", params=PARAMS)
def any_pool(request: pytest.FixtureRequest) -> Iterator[interpool.Pool]:
    """A two-worker pool of each backend."""
    if request.param == "dask":
        pytest.importorskip("distributed")
        pool = interpool.Pool(backend="dask", address=request.getfixturevalue("dask_address"))
    else:
        pool = interpool.Pool(2, backend=request.param)
    with pool:
        yield pool


def _futures_of(pool: interpool.Pool) -> list[cf.Future[Any]]:
    """A future of each kind the pool hands out: a call, a call with options, and
    (except on Dask, which has no actors) an actor's creation and method call."""
    made: list[cf.Future[Any]] = [
        pool.submit(tasks.add, 1, 2),
        pool.options(task_timeout=PATIENCE).submit(tasks.add, 2, 2),
    ]
    if pool.backend != "dask":
        actor = pool.actor(at.Counter)
        made += [actor.created, actor.increment(1)]
    return made


def test_every_future_is_a_pool_future(any_pool: interpool.Pool) -> None:
    futures = _futures_of(any_pool)
    for future in futures:
        assert isinstance(future, PoolFuture), type(future)
        assert isinstance(future, cf.Future)
    assert [f.result(timeout=PATIENCE) for f in futures[:2]] == [3, 4]


def test_one_cancel_signature_and_default(any_pool: interpool.Pool) -> None:
    expected = inspect.signature(PoolFuture.cancel)
    assert list(expected.parameters) == ["self", "interrupt"]
    interrupt = expected.parameters["interrupt"]
    assert (interrupt.kind, interrupt.default) == (inspect.Parameter.KEYWORD_ONLY, True)
    for future in _futures_of(any_pool):
        assert inspect.signature(type(future).cancel) == expected, type(future)
        future.result(timeout=PATIENCE)
        assert not future.cancel(interrupt=False)  # finished: as concurrent.futures


def test_the_fallbacks_future_is_a_pool_future() -> None:
    with interpool.Pool(1, fallback="processes") as pool:
        future = pool.submit(tasks.add, 1, 1)
        assert isinstance(future, PoolFuture)
        assert inspect.signature(type(future).cancel) == inspect.signature(PoolFuture.cancel)
        assert future.result(timeout=PATIENCE) == 2


def test_every_public_exception_is_in_the_family() -> None:
    names = interpool.exceptions.__all__
    assert set(names) <= set(interpool.__all__)  # importable from interpool itself
    for name in names:
        cls = getattr(interpool, name)
        assert cls is getattr(interpool.exceptions, name)
        if name == "Interrupted":  # raised inside a task: not for ``except Exception``
            assert issubclass(cls, BaseException) and not issubclass(cls, Exception)
        else:
            assert issubclass(cls, InterpoolError), name
    assert issubclass(interpool.BrokenPool, cf.BrokenExecutor)
    assert issubclass(interpool.QueueFull, queue.Full)
    assert issubclass(interpool.QueueEmpty, queue.Empty)
    assert issubclass(interpool.EndOfChannel, interpool.ChannelClosed)


#: A user's program: futures of every backend, and of actors, cancelled without a
#: running task interrupted, as with concurrent.futures; no cast, no ignore.
USER_PROGRAM = """\
from __future__ import annotations

import concurrent.futures as cf

from interpool import Pool, PoolFuture


def square(x: int) -> int:
    return x * x


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def increment(self, by: int) -> int:
        self.value += by
        return self.value


def leave_running(future: PoolFuture[int]) -> bool:
    return future.cancel(interrupt=False)


def main() -> int:
    total = 0
    pools = [
        Pool(2),
        Pool(2, backend="interpreters"),
        Pool(2, backend="processes"),
        Pool(2, backend="threads"),
        Pool(backend="dask"),
    ]
    for pool in pools:
        with pool:
            future = pool.submit(square, 3)
            leave_running(future)
            timed = pool.options(task_timeout=1.0).submit(square, 4)
            timed.cancel(interrupt=False)
            timed.cancel()
            done: cf.Future[int] = future  # still a concurrent.futures.Future
            total += done.result()
            counter = pool.actor(Counter)
            call = counter.increment(1)
            call.cancel(interrupt=False)
            total += int(call.result())
    return total
"""


@pytest.mark.version_independent
def test_user_code_type_checks_under_mypy_strict(tmp_path: Path) -> None:
    program = write(tmp_path / "user_program.py", USER_PROGRAM)
    done = run_python(
        "-m",
        "mypy",
        "--strict",
        "--no-error-summary",
        "--cache-dir",
        str(tmp_path / ".mypy_cache"),
        program,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

"""Exceptions raised in workers, and results that cannot come back."""

from __future__ import annotations

import concurrent.futures as cf
import pickle

import pytest

import interpool

from . import tasks
from .support import PATIENCE

pytestmark = pytest.mark.timeout(60)


def test_exception_keeps_type_and_message(pool: interpool.Pool) -> None:
    future = pool.submit(tasks.raise_value_error, "x marks the spot")
    with pytest.raises(ValueError, match=r"^x marks the spot$") as info:
        future.result(timeout=PATIENCE)
    assert type(info.value) is ValueError
    assert future.exception() is info.value


def test_remote_traceback_is_the_cause(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_value_error, "boom").exception(timeout=PATIENCE)
    assert isinstance(exc, ValueError)
    cause = exc.__cause__
    assert isinstance(cause, interpool.RemoteTraceback)
    # The worker's traceback: the function, its raise line, the message.
    assert "raise_value_error" in cause.tb
    assert "raise ValueError(message)" in cause.tb
    assert "tasks.py" in cause.tb
    assert "ValueError: boom" in cause.tb
    assert cause.tb in str(cause)


def test_custom_exception_keeps_type_and_attributes(pool: interpool.Pool) -> None:
    with pytest.raises(tasks.CustomError) as info:
        pool.submit(tasks.raise_custom, "custom", 7).result(timeout=PATIENCE)
    assert info.value.code == 7
    assert info.value.message == "custom"
    assert str(info.value) == "custom (code 7)"
    assert isinstance(info.value.__cause__, interpool.RemoteTraceback)


def test_exception_that_cannot_be_rebuilt_arrives_as_remote_error(pool: interpool.Pool) -> None:
    with pytest.raises(interpool.RemoteError) as info:
        pool.submit(tasks.raise_two_arg).result(timeout=PATIENCE)
    err = info.value
    assert err.type_name == "tests.tasks.TwoArgError"
    assert err.message == "left/right"
    assert "raise_two_arg" in err.traceback
    assert "TwoArgError" in err.traceback
    assert str(err) == "tests.tasks.TwoArgError: left/right"
    assert isinstance(err.__cause__, interpool.RemoteTraceback)
    assert err.__cause__.tb == err.traceback


def test_exception_that_cannot_be_pickled_arrives_as_remote_error(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_locked).exception(timeout=PATIENCE)
    assert isinstance(exc, interpool.RemoteError)
    assert exc.type_name == "tests.tasks.LockedError"
    assert exc.message == "has a lock"
    assert "raise_locked" in exc.traceback


def test_exception_with_broken_str(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_bad_str).exception(timeout=PATIENCE)
    assert isinstance(exc, tasks.BadStrError)
    assert exc.args == ("payload",)
    assert isinstance(exc.__cause__, interpool.RemoteTraceback)
    assert "raise_bad_str" in exc.__cause__.tb


def test_remote_error_pickles() -> None:
    err = interpool.RemoteError("pkg.Error", "message", "Traceback ...")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is interpool.RemoteError
    assert (copy.type_name, copy.message, copy.traceback) == (
        "pkg.Error",
        "message",
        "Traceback ...",
    )
    assert str(copy) == "pkg.Error: message"
    assert str(interpool.RemoteError("pkg.Error", "", "tb")) == "pkg.Error"


def test_broken_pool_is_a_broken_executor() -> None:
    assert issubclass(interpool.BrokenPool, cf.BrokenExecutor)


@pytest.mark.parametrize("code", [0, 3])
def test_system_exit_fails_only_its_task(pool: interpool.Pool, code: int) -> None:
    future = pool.submit(tasks.raise_system_exit, code)
    with pytest.raises(SystemExit) as info:
        future.result(timeout=PATIENCE)
    assert info.value.code == code
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3
    assert list(pool.map(tasks.square, range(4))) == [0, 1, 4, 9]


def test_keyboard_interrupt_fails_only_its_task(pool: interpool.Pool) -> None:
    future = pool.submit(tasks.raise_keyboard_interrupt)
    with pytest.raises(KeyboardInterrupt):
        future.result(timeout=PATIENCE)
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3


def test_system_exit_in_map(pool: interpool.Pool) -> None:
    it = pool.map(tasks.raise_system_exit, [5])
    with pytest.raises(SystemExit):
        next(it)
    assert pool.submit(tasks.add, 2, 2).result(timeout=PATIENCE) == 4


def test_errors_do_not_affect_other_tasks(pool: interpool.Pool) -> None:
    futures = [
        pool.submit(tasks.raise_value_error, str(i)) if i % 2 else pool.submit(tasks.square, i)
        for i in range(40)
    ]
    for i, future in enumerate(futures):
        if i % 2:
            assert str(future.exception(timeout=PATIENCE)) == str(i)
        else:
            assert future.result(timeout=PATIENCE) == i * i


# -- results that cannot come back ------------------------------------------------------


def test_unpicklable_result_fails_only_its_task(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.return_lock).exception(timeout=PATIENCE)
    assert isinstance(exc, TypeError)
    assert "pickle" in str(exc)
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3


def test_unpicklable_result_in_map(pool: interpool.Pool) -> None:
    with pytest.raises(TypeError):
        list(pool.map(tasks.return_lock, [1]))
    it = pool.map(tasks.identity, [1, 2])
    assert list(it) == [1, 2]


def test_result_that_cannot_be_rebuilt_in_caller(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.return_bad_unpickle).exception(timeout=PATIENCE)
    assert isinstance(exc, TypeError)
    assert "cannot be rebuilt here" in str(exc)
    assert "result cannot be rebuilt in the caller" in str(exc)
    assert "classes the caller can import" in str(exc)
    with pytest.raises(Exception, match="cannot be rebuilt here"):
        list(pool.map(tasks.return_bad_unpickle, range(3)))
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3

"""Exceptions raised in workers, and results that cannot come back."""

from __future__ import annotations

import concurrent.futures as cf
import pickle
import traceback

import pytest

import interpool
from interpool._wire import errors as _errors
from interpool._wire.errors import rebuild_exception

from ..support import PATIENCE
from ..tasks import basic as tasks

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
    assert "tasks/basic.py" in cause.tb
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
    assert err.type_name == "tests.tasks.basic.TwoArgError"
    assert err.message == "left/right"
    assert "raise_two_arg" in err.traceback
    assert "TwoArgError" in err.traceback
    assert str(err) == "tests.tasks.basic.TwoArgError: left/right"
    assert isinstance(err.__cause__, interpool.RemoteTraceback)
    assert err.__cause__.tb == err.traceback


def test_exception_that_cannot_be_pickled_arrives_as_remote_error(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_locked).exception(timeout=PATIENCE)
    assert isinstance(exc, interpool.RemoteError)
    assert exc.type_name == "tests.tasks.basic.LockedError"
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
    err.add_note("a note")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is interpool.RemoteError
    assert (copy.type_name, copy.message, copy.traceback) == (
        "pkg.Error",
        "message",
        "Traceback ...",
    )
    assert str(copy) == "pkg.Error: message"
    assert copy.__notes__ == ["a note"]
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


def assert_pool_works(pool: interpool.Pool) -> None:
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3
    assert list(pool.map(tasks.square, range(4), chunksize=2)) == [0, 1, 4, 9]


def printed(exc: BaseException) -> str:
    """What ``traceback.print_exception`` shows for ``exc`` in the caller."""
    return "".join(traceback.format_exception(exc))


# -- chains: __cause__, __context__, __suppress_context__ ------------------------------


def test_chain_is_rebuilt(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_chained).exception(timeout=PATIENCE)
    assert type(exc) is RuntimeError
    assert str(exc) == "outer"
    inner = exc.__cause__
    assert type(inner) is ValueError
    assert str(inner) == "inner"
    # ``raise ... from inner`` inside ``except ... as inner``: the same object twice.
    assert exc.__context__ is inner
    assert exc.__suppress_context__ is True
    first = inner.__context__
    assert type(first) is KeyError
    assert first.args == ("k",)
    assert inner.__cause__ is None
    assert inner.__suppress_context__ is False
    # The worker's traceback hangs at the end of the printed chain.
    remote = first.__cause__
    assert isinstance(remote, interpool.RemoteTraceback)
    assert first.__context__ is None
    assert first.__suppress_context__ is False
    assert remote.__cause__ is None
    assert remote.__context__ is None
    for text in ("raise_chained", "KeyError: 'k'", "ValueError: inner", "RuntimeError: outer"):
        assert text in remote.tb
    out = printed(exc)
    assert remote.tb in out  # the worker's frames, as the worker printed them
    assert out.rstrip().endswith("RuntimeError: outer")
    assert_pool_works(pool)


def test_implicit_context_is_rebuilt(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_in_handler).exception(timeout=PATIENCE)
    assert type(exc) is TypeError
    assert str(exc) == "second"
    assert exc.__cause__ is None
    assert exc.__suppress_context__ is False
    context = exc.__context__
    assert type(context) is ValueError
    assert str(context) == "first"
    assert isinstance(context.__cause__, interpool.RemoteTraceback)
    assert "During handling of the above exception" in context.__cause__.tb
    out = printed(exc)
    assert "raise_in_handler" in out
    assert "During handling of the above exception, another exception occurred" in out
    assert_pool_works(pool)


def test_suppressed_context_is_kept_and_stays_hidden(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_from_none).exception(timeout=PATIENCE)
    assert type(exc) is TypeError
    assert exc.__suppress_context__ is True
    assert type(exc.__context__) is ValueError
    assert str(exc.__context__) == "hidden"
    assert isinstance(exc.__cause__, interpool.RemoteTraceback)
    out = printed(exc)
    assert "TypeError: shown" in out
    assert "hidden" not in out
    assert_pool_works(pool)


def test_unpicklable_link_becomes_remote_error(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_from_unpicklable).exception(timeout=PATIENCE)
    assert type(exc) is RuntimeError
    assert str(exc) == "wrapper"
    cause = exc.__cause__
    assert isinstance(cause, interpool.RemoteError)
    assert cause.type_name == "tests.tasks.basic.LockedError"
    assert cause.message == "locked cause"
    assert 'raise LockedError("locked cause")' in cause.traceback
    assert "RuntimeError" not in cause.traceback  # its own traceback, not the chain's
    assert isinstance(cause.__cause__, interpool.RemoteTraceback)
    assert "RuntimeError: wrapper" in cause.__cause__.tb
    assert_pool_works(pool)


def test_chain_cycle(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_cause_cycle).exception(timeout=PATIENCE)
    assert type(exc) is ValueError
    assert type(exc.__cause__) is TypeError
    assert exc.__cause__.__cause__ is exc
    # No end to hang the worker's traceback on: it is a note.
    (note,) = exc.__notes__
    assert "the worker's traceback" in note
    assert "raise_cause_cycle" in note
    assert "raise_cause_cycle" in printed(exc)
    assert_pool_works(pool)


def test_long_chain_is_cut(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_long_chain, 300).exception(timeout=PATIENCE)
    links = []
    link: BaseException | None = exc
    while link is not None and not isinstance(link, interpool.RemoteTraceback):
        links.append(link)
        link = link.__context__ or link.__cause__
    assert [e.args for e in links] == [(i,) for i in range(299, 299 - len(links), -1)]
    assert len(links) == _errors.ERROR_MAX_DEPTH + 1
    assert isinstance(links[-1].__cause__, interpool.RemoteTraceback)
    assert_pool_works(pool)


# -- notes and exception groups ---------------------------------------------------------


@pytest.mark.parametrize("picklable", [True, False])
def test_notes_survive(pool: interpool.Pool, picklable: bool) -> None:
    exc = pool.submit(tasks.raise_with_notes, picklable).exception(timeout=PATIENCE)
    assert type(exc) is (ValueError if picklable else interpool.RemoteError)
    assert exc.__notes__ == ["first note", "second note"]
    assert "second note" in printed(exc)
    assert_pool_works(pool)


def test_exception_group_is_rebuilt(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_group).exception(timeout=PATIENCE)
    assert type(exc) is ExceptionGroup
    assert exc.message == "outer"
    assert exc.__notes__ == ["group note"]
    assert isinstance(exc.__cause__, interpool.RemoteTraceback)
    assert "ExceptionGroup: outer" in exc.__cause__.tb
    noted, locked, inner, caused = exc.exceptions
    assert type(noted) is ValueError
    assert noted.args == ("v",)
    assert noted.__notes__ == ["member note"]
    assert isinstance(locked, interpool.RemoteError)
    assert locked.type_name == "tests.tasks.basic.LockedError"
    assert locked.message == "in group"
    assert type(inner) is ExceptionGroup
    assert inner.message == "inner"
    assert [type(e) for e in inner.exceptions] == [FileNotFoundError, ZeroDivisionError]
    assert inner.exceptions[0].errno == 2
    assert type(caused) is TypeError
    assert type(caused.__cause__) is KeyError
    assert caused.__cause__.args == ("why",)
    # Members have no RemoteTraceback of their own: the group's shows them all.
    assert caused.__cause__.__cause__ is None
    assert noted.__cause__ is None
    # except* sorts them in the caller.
    matched: list[BaseException] = []
    try:
        raise exc
    except* ValueError as group:
        matched.extend(group.exceptions)
    except* Exception as rest:  # noqa: BLE001 - the rest of the group
        matched.append(rest)
    assert matched[0] is noted
    assert len(matched) == 2
    assert_pool_works(pool)


def test_base_exception_group_is_rebuilt(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.raise_base_group).exception(timeout=PATIENCE)
    assert type(exc) is BaseExceptionGroup
    assert exc.message == "base"
    assert [type(e) for e in exc.exceptions] == [KeyboardInterrupt, ValueError]
    assert_pool_works(pool)


def test_wide_exception_group(pool: interpool.Pool) -> None:
    n = _errors.ERROR_MAX_LINKS + 50
    exc = pool.submit(tasks.raise_wide_group, n).exception(timeout=PATIENCE)
    assert type(exc) is ExceptionGroup
    assert [e.args for e in exc.exceptions] == [(i,) for i in range(n)]
    assert all(type(e) is ValueError for e in exc.exceptions)
    assert_pool_works(pool)


# -- errors that do not come back as themselves ---------------------------------------


@pytest.mark.parametrize(
    ("task", "type_name", "message"),
    [
        (tasks.raise_bad_reduce, "tests.tasks.basic.BadReduceError", "reduce"),
        (tasks.raise_bad_str_locked, "tests.tasks.basic.BadStrLockedError", None),
        (tasks.raise_worker_only, "interpool_worker_only.WorkerOnlyError", "only here"),
    ],
)
def test_remote_error_for(
    pool: interpool.Pool, task: object, type_name: str, message: str | None
) -> None:
    exc = pool.submit(task).exception(timeout=PATIENCE)  # type: ignore[arg-type]
    assert type(exc) is interpool.RemoteError
    assert exc.type_name == type_name
    if message is None:  # str() raised in the worker
        message = f"<unprintable {type_name}>"
    assert exc.message == message
    assert str(exc) == f"{type_name}: {message}"
    assert task.__name__ in exc.traceback  # type: ignore[attr-defined]
    assert isinstance(exc.__cause__, interpool.RemoteTraceback)
    assert exc.__cause__.tb == exc.traceback
    if task is tasks.raise_worker_only:  # its notes come back without its class
        assert exc.__notes__ == ["worker-only note"]
    assert_pool_works(pool)


# -- errors about the worker's resources ---------------------------------------------


@pytest.mark.parametrize("task", [tasks.recurse_forever, tasks.ping])
def test_recursion_error_fails_only_its_task(pool: interpool.Pool, task: object) -> None:
    exc = pool.submit(task, 0).exception(timeout=PATIENCE)  # type: ignore[arg-type]
    assert type(exc) is RecursionError
    assert "maximum recursion depth exceeded" in str(exc)
    tb = exc.__cause__.tb  # type: ignore[union-attr]
    assert len(tb) < _errors.TRACEBACK_MAX_CHARS + 200
    assert task.__name__ in tb  # type: ignore[attr-defined]
    assert tb.startswith("Traceback (most recent call last):")
    assert tb.rstrip().endswith("RecursionError: maximum recursion depth exceeded")
    if task is tasks.ping:  # ~1000 distinct frames: too long, cut in the middle
        assert "characters of traceback left out by interpool" in tb
    assert_pool_works(pool)


def test_memory_error_fails_only_its_task(pool: interpool.Pool) -> None:
    exc = pool.submit(tasks.allocate_too_much).exception(timeout=PATIENCE)
    assert type(exc) is MemoryError
    assert "allocate_too_much" in exc.__cause__.tb  # type: ignore[union-attr]
    assert_pool_works(pool)


# -- extension modules that refuse sub-interpreters ------------------------------------


def chain_of(exc: BaseException) -> list[BaseException]:
    """The exceptions of ``exc``'s printed chain, ``exc`` first."""
    links = [exc]
    while True:
        nxt = links[-1].__cause__ or links[-1].__context__
        if nxt is None:
            return links
        links.append(nxt)


def test_numpy_is_an_incompatible_module(pool: interpool.Pool) -> None:
    pytest.importorskip("numpy")
    for _ in range(2):  # a second attempt fails the same way
        exc = pool.submit(tasks.import_module, "numpy").exception(timeout=PATIENCE)
        assert type(exc) is interpool.IncompatibleModuleError
        assert isinstance(exc, ImportError)
        assert exc.name == "numpy._core._multiarray_umath"
        assert "'numpy._core._multiarray_umath' cannot be imported in a sub-interpreter" in str(exc)
        assert "part of 'numpy'" in str(exc)
        assert 'Pool(fallback="processes")' in str(exc)
        links = chain_of(exc)
        # numpy's ImportError, caused by CPython's, then the worker's traceback.
        assert [type(e) for e in links] == [
            interpool.IncompatibleModuleError,
            ImportError,
            ImportError,
            interpool.RemoteTraceback,
        ]
        assert "Importing the numpy C-extensions failed" in str(links[1])
        assert str(links[2]) == (
            "module numpy._core._multiarray_umath does not support loading in subinterpreters"
        )
        assert "import_module" in links[3].tb  # type: ignore[attr-defined]
    assert_pool_works(pool)


@pytest.mark.parametrize("wrapped", [False, True])
def test_incompatible_module_anywhere_in_the_chain(pool: interpool.Pool, wrapped: bool) -> None:
    future = pool.submit(tasks.raise_incompatible, "fakeext._speedups", wrapped)
    with pytest.raises(ImportError) as info:
        future.result(timeout=PATIENCE)
    exc = info.value
    assert type(exc) is interpool.IncompatibleModuleError
    assert exc.name == "fakeext._speedups"
    assert "part of 'fakeext'" in str(exc)
    expected: list[type[BaseException]] = [interpool.IncompatibleModuleError]
    expected += [RuntimeError, ImportError] if wrapped else [ImportError]
    links = chain_of(exc)
    assert [type(e) for e in links[:-1]] == expected
    assert isinstance(links[-1], interpool.RemoteTraceback)
    assert "raise_incompatible" in printed(exc)
    assert_pool_works(pool)


def test_incompatible_module_in_map(pool: interpool.Pool) -> None:
    with pytest.raises(interpool.IncompatibleModuleError) as info:
        list(pool.map(tasks.raise_incompatible, ["fake"], [True]))
    assert info.value.name == "fake"
    assert "part of" not in str(info.value)
    assert_pool_works(pool)


def test_incompatible_module_in_initializer() -> None:
    pytest.importorskip("numpy")
    with interpool.Pool(1, initializer=tasks.import_module, initargs=("numpy",)) as pool:
        exc = pool.submit(tasks.add, 1, 2).exception(timeout=PATIENCE)
    assert isinstance(exc, interpool.BrokenPool)
    assert type(exc.__cause__) is interpool.IncompatibleModuleError
    assert exc.__cause__.name == "numpy._core._multiarray_umath"


# -- encode_error and rebuild_exception on their own ---------------------------------


def round_trip(exc: BaseException) -> BaseException:
    return rebuild_exception(_errors.encode_error(exc))


class StrExitsError(Exception):
    def __str__(self) -> str:
        raise SystemExit("not even a string")


class NotesError(Exception):
    pass


def test_encode_error_survives_broken_exceptions() -> None:
    exc = round_trip(StrExitsError("x"))
    assert type(exc) is StrExitsError
    assert exc.args == ("x",)
    odd = NotesError("odd notes")
    odd.__notes__ = 5  # type: ignore[assignment]
    assert round_trip(odd).args == ("odd notes",)
    locked = tasks.LockedError("odd notes")
    locked.__notes__ = ["fine", 5]  # type: ignore[list-item]
    rebuilt = round_trip(locked)
    assert isinstance(rebuilt, interpool.RemoteError)
    assert rebuilt.__notes__ == ["fine", "5"]


def test_encode_error_when_traceback_formatting_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> list[str]:
        raise MemoryError

    monkeypatch.setattr(traceback, "format_exception", fail)
    exc = round_trip(tasks.LockedError("no traceback"))
    assert isinstance(exc, interpool.RemoteError)
    assert exc.message == "no traceback"
    assert "could not be formatted" in exc.traceback


def test_encode_error_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RecursionError

    # The chain cannot be encoded: the error alone.
    monkeypatch.setattr(_errors._ErrorEncoder, "encode", fail)
    try:
        raise ValueError("alone")
    except ValueError:
        try:
            raise TypeError("chained")
        except TypeError as chained:
            exc = round_trip(chained)
    assert type(exc) is TypeError
    assert exc.__context__ is None
    assert "chained" in exc.__cause__.tb  # type: ignore[union-attr]
    # Nothing can be encoded: the type's name only.
    monkeypatch.setattr(_errors, "_error_node", fail)
    info = _errors.encode_error(tasks.CustomError("lost", 1))
    exc = rebuild_exception(info)
    assert isinstance(exc, interpool.RemoteError)
    assert exc.type_name == "tests.tasks.basic.CustomError"
    assert "could not be encoded" in exc.message


def test_rebuild_exception_never_raises() -> None:
    exc = rebuild_exception(((b"not a pickle", "pkg.Error", "message", "tb", (), 7, -1, False),))
    assert isinstance(exc, interpool.RemoteError)
    assert (exc.type_name, exc.message, exc.traceback) == ("pkg.Error", "message", "tb")
    assert isinstance(rebuild_exception(()), interpool.RemoteError)  # type: ignore[arg-type]


def test_traceback_text_keeps_head_and_tail() -> None:
    text = "".join(f"line {i}\n" for i in range(10_000))
    cut = _errors._bounded_text(text, 3000)
    assert len(cut) < 3100
    assert cut.startswith("line 0\nline 1\n")
    assert cut.endswith("line 9998\nline 9999\n")
    assert "characters of traceback left out by interpool" in cut
    assert _errors._bounded_text("short\n", 3000) == "short\n"


def test_incompatible_module_error_pickles() -> None:
    err = interpool.IncompatibleModuleError("pkg._ext", "part of 'pkg'")
    err.add_note("note")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.name, copy.detail, copy.__notes__) == ("pkg._ext", "part of 'pkg'", ["note"])
    assert str(copy) == str(err)

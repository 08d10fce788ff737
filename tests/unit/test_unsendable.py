"""Values that cannot cross between interpreters: a clear ``TypeError`` in the caller,
before anything runs, and the pool goes on working.

``test_transport.py`` covers a ``threading.Lock`` argument (positional, keyword,
nested, not submitted) and ``test_errors.py`` a lock result; this module extends that
to the other kinds of unsendable objects, to every place an argument can be (including
``map`` items and the callable itself), and checks the messages and that nothing ran.
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import interpool

from ..support import PATIENCE
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def solo() -> Iterator[interpool.Pool]:
    """One worker, shared by this module: tasks run one at a time in submission order,
    so ``tasks.tally`` counts every call that reached the worker."""
    with interpool.Pool(1) as p:
        yield p


def tally(pool: interpool.Pool) -> int:
    """Run one counted call and return the worker's count (this call included)."""
    return pool.submit(tasks.tally).result(timeout=PATIENCE)


class Unreducible:
    """``pickle`` fails with a ``ValueError``, not a ``TypeError``."""

    def __reduce__(self) -> Any:
        raise ValueError("Unreducible refuses to be pickled")


def _closure_with_lock() -> Callable[..., Any]:
    lock = threading.Lock()

    def locked(*args: Any) -> Any:
        with lock:
            return tasks.tally(*args)

    return locked


#: kind -> (make(tmp_path), the type name the message must give, a word of the reason)
KINDS: dict[str, tuple[Callable[[Path], Any], str, str]] = {
    "lock": (lambda _: threading.Lock(), "_thread.lock", "lock"),
    "rlock": (lambda _: threading.RLock(), "_thread.RLock", "RLock"),
    "event": (lambda _: threading.Event(), "threading.Event", "lock"),
    "socket": (lambda _: socket.socket(), "socket.socket", "socket"),
    "generator": (lambda _: (i for i in range(3)), "builtins.generator", "generator"),
    "text file": (lambda d: open(d / "w.txt", "w"), "_io.TextIOWrapper", "TextIOWrapper"),  # noqa: SIM115
    "binary file": (lambda d: open(d / "w.bin", "wb"), "_io.BufferedWriter", "BufferedWriter"),  # noqa: SIM115
    "closure with a lock": (lambda _: _closure_with_lock(), "builtins.function", ""),
    "refusing __reduce__": (lambda _: Unreducible(), "Unreducible", "refuses to be pickled"),
}


@pytest.fixture(params=list(KINDS))
def unsendable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str, str]]:
    """``(value, type name, reason word)`` for each kind; sockets and files are closed
    afterwards."""
    make, type_name, reason = KINDS[request.param]
    value = make(tmp_path)
    yield value, type_name, reason
    close = getattr(value, "close", None)
    if close is not None:
        close()


def check_message(exc: BaseException, label: str, type_name: str, reason: str) -> None:
    message = str(exc)
    assert message.startswith("interpool: "), message
    assert label in message, message
    assert type_name in message, message
    assert reason in message, message
    assert "cannot be sent to a worker interpreter" in message, message


# -- arguments: TypeError at submit, nothing runs ---------------------------------------

#: placement -> (submit(pool, value), the label the message must give, the type it must
#: give: that of the argument holding the value, or None for the value's own)
PLACEMENTS: dict[str, tuple[Callable[[interpool.Pool, Any], Any], str, str | None]] = {
    "only argument": (lambda p, v: p.submit(tasks.tally, v), "argument 0", None),
    "third argument": (lambda p, v: p.submit(tasks.tally, 1, (2,), v, "x"), "argument 2", None),
    "keyword": (lambda p, v: p.submit(tasks.tally, 1, key=v), "argument 'key'", None),
    "keyword after a fine one": (
        lambda p, v: p.submit(tasks.tally, fine=[1], guard=v),
        "argument 'guard'",
        None,
    ),
    "in a list": (
        lambda p, v: p.submit(tasks.tally, "a", [1, [v]]),
        "argument 1",
        "builtins.list",
    ),
    "in a dict keyword": (
        lambda p, v: p.submit(tasks.tally, options={"inner": (v,)}),
        "argument 'options'",
        "builtins.dict",
    ),
    "in a tuple beside native values": (
        lambda p, v: p.submit(tasks.tally, (1, "a", v)),
        "argument 0",
        "builtins.tuple",
    ),
}


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_unsendable_argument(
    solo: interpool.Pool, unsendable: tuple[Any, str, str], placement: str
) -> None:
    value, type_name, reason = unsendable
    submit, label, outer = PLACEMENTS[placement]
    before = tally(solo)
    with pytest.raises(TypeError) as info:
        submit(solo, value)
    check_message(info.value, label, outer or type_name, reason)
    assert tally(solo) == before + 1, "the call ran although submit raised"


# -- map items: TypeError from map() itself, before anything runs ------------------------


def test_unsendable_map_item(solo: interpool.Pool, unsendable: tuple[Any, str, str]) -> None:
    value, type_name, reason = unsendable
    before = tally(solo)
    with pytest.raises(TypeError) as info:
        solo.map(tasks.tally, [1, 2, 3, value, 5], chunksize=5)
    check_message(info.value, "argument 0", type_name, reason)
    assert tally(solo) == before + 1, "items of the refused map ran"


@pytest.mark.parametrize("chunksize", [None, 1, 2, 5])
def test_refused_map_runs_nothing(solo: interpool.Pool, chunksize: int | None) -> None:
    """``map`` consumes its input at once (no ``buffersize``), and raises ``TypeError``
    from the call itself for an item that cannot be sent: then no item runs, not even
    those before the bad one (whatever the chunking)."""
    before = tally(solo)
    with pytest.raises(TypeError, match="argument 0"):
        solo.map(tasks.tally, [1, 2, 3, threading.Lock(), 5], chunksize=chunksize)
    assert tally(solo) == before + 1, "items of the refused map ran"


def test_unsendable_item_of_a_second_iterable(solo: interpool.Pool) -> None:
    before = tally(solo)
    with pytest.raises(TypeError) as info:
        solo.map(tasks.tally, [1, 2, 3], ["a", threading.Lock(), "c"], chunksize=3)
    check_message(info.value, "argument 1", "_thread.lock", "lock")
    assert tally(solo) == before + 1
    assert list(solo.map(tasks.add, [1, 2], [10, 20])) == [11, 22]


def test_unsendable_value_nested_in_a_map_item(solo: interpool.Pool) -> None:
    before = tally(solo)
    with pytest.raises(TypeError) as info:
        solo.map(tasks.tally, [[1], [2, {"k": (i for i in ())}]], chunksize=2)
    check_message(info.value, "argument 0", "builtins.list", "generator")
    assert tally(solo) == before + 1


def test_unsendable_item_in_the_first_buffered_chunk(solo: interpool.Pool) -> None:
    before = tally(solo)
    with pytest.raises(TypeError, match="argument 0"):
        solo.map(tasks.tally, iter([threading.Lock(), 2, 3]), buffersize=2, chunksize=1)
    assert tally(solo) == before + 1


def test_unsendable_item_of_a_lazy_map(solo: interpool.Pool) -> None:
    """With ``buffersize`` the input is read as results are taken, so the bad item is
    found by ``__next__``: it raises there, and nothing after the bad item runs."""
    before = tally(solo)
    items = iter([1, 2, threading.Lock(), 4, 5])
    it = solo.map(tasks.tally, items, buffersize=1, chunksize=1)
    got = []
    with pytest.raises(TypeError) as info:
        got.extend(it)
    check_message(info.value, "argument 0", "_thread.lock", "lock")
    assert got == [before + 1 + i for i in range(len(got))]
    assert len(got) <= 2
    assert list(it) == []  # the iterator is finished
    ran = tally(solo) - before - 1
    assert len(got) <= ran <= 2, "items after the bad one ran"
    assert list(items) == [4, 5]  # not even read
    assert list(solo.map(tasks.square, range(5), buffersize=2)) == [0, 1, 4, 9, 16]


# -- the callable itself -----------------------------------------------------------------


def _holding_lock() -> tasks.Accumulator:
    acc = tasks.Accumulator()
    acc.lock = threading.Lock()  # type: ignore[attr-defined]
    return acc


CALLABLES: dict[str, Callable[[], Callable[..., Any]]] = {
    "closure with a lock": _closure_with_lock,
    "partial holding a lock": lambda: functools.partial(tasks.tally, threading.Lock()),
    "method of an object holding a lock": lambda: _holding_lock().total,
}


@pytest.mark.parametrize("kind", list(CALLABLES))
def test_unsendable_callable(solo: interpool.Pool, kind: str) -> None:
    fn = CALLABLES[kind]()
    before = tally(solo)
    with pytest.raises(TypeError, match="lock"):
        solo.submit(fn)
    with pytest.raises(TypeError, match="lock"):
        solo.map(fn, [1, 2, 3])
    assert tally(solo) == before + 1


# -- results: only that task fails ---------------------------------------------------------

RESULT_KINDS = {
    "lock": "_thread.lock",
    "generator": "builtins.generator",
    "socket": "socket.socket",
    "file": "_io.TextIOWrapper",
    "nested": "builtins.list",
}


@pytest.mark.parametrize("kind", list(RESULT_KINDS))
def test_unsendable_result_names_its_type(pool: interpool.Pool, kind: str) -> None:
    futures = [
        pool.submit(tasks.make_unsendable, "before"),
        pool.submit(tasks.make_unsendable, kind),
        pool.submit(tasks.make_unsendable, "after"),
    ]
    exc = futures[1].exception(timeout=PATIENCE)
    assert isinstance(exc, TypeError)
    message = str(exc)
    assert f"result ({RESULT_KINDS[kind]})" in message, message
    assert "cannot be sent back" in message, message
    assert futures[0].result(timeout=PATIENCE) == "before"
    assert futures[2].result(timeout=PATIENCE) == "after"


def test_unsendable_results_among_many_tasks(pool: interpool.Pool) -> None:
    kinds = ["lock", "generator", "socket", "file", "nested"]
    futures = [
        pool.submit(tasks.make_unsendable, kinds[i % 10 // 2] if i % 2 else f"ok{i}")
        for i in range(40)
    ]
    it = pool.map(tasks.square, range(100), chunksize=7)
    for i, future in enumerate(futures):
        if i % 2:
            exc = future.exception(timeout=PATIENCE)
            assert isinstance(exc, TypeError)
            assert RESULT_KINDS[kinds[i % 10 // 2]] in str(exc)
        else:
            assert future.result(timeout=PATIENCE) == f"ok{i}"
    assert list(it) == [x * x for x in range(100)]


@pytest.mark.parametrize(
    ("kind", "chunksize"),
    [("lock", 1), ("socket", 1), ("generator", 1), ("generator", 2), ("generator", 5)],
)
def test_unsendable_result_in_map(pool: interpool.Pool, kind: str, chunksize: int) -> None:
    """An item whose result cannot come back fails at that item, after the results
    before it, like an item that raises (whatever the chunking), and the error names
    that result's type (not the chunk's)."""
    items = ["a", "b", "c", kind, "e"]
    it = pool.map(tasks.make_unsendable, items, chunksize=chunksize)
    got = []
    with pytest.raises(TypeError) as info:
        got.extend(it)
    message = str(info.value)
    assert f"result ({RESULT_KINDS[kind]})" in message, message
    assert got == ["a", "b", "c"], "results before the failed item were lost"
    # Other maps and submits around it are not affected.
    expected = ["x", "y"] * 5
    assert list(pool.map(tasks.make_unsendable, expected, chunksize=chunksize)) == expected
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3


# -- arguments that pickle but cannot be rebuilt in the worker -----------------------------


def test_argument_that_cannot_be_rebuilt_fails_its_task(pool: interpool.Pool) -> None:
    """The caller cannot know: the task fails with the worker's error; others run."""
    futures = [
        pool.submit(tasks.identity, 1),
        pool.submit(tasks.identity, tasks.BadUnpickle()),
        pool.submit(tasks.identity, 3),
    ]
    with pytest.raises(RuntimeError, match="cannot be rebuilt here"):
        futures[1].result(timeout=PATIENCE)
    assert futures[0].result(timeout=PATIENCE) == 1
    assert futures[2].result(timeout=PATIENCE) == 3
    it = pool.map(tasks.identity, [tasks.BadUnpickle()])
    with pytest.raises(RuntimeError, match="cannot be rebuilt here"):
        next(it)
    assert list(pool.map(tasks.identity, [1, 2, 3])) == [1, 2, 3]


@pytest.mark.parametrize("chunksize", [1, 2, 3, None])
def test_map_error_names_the_item(chunksize: int | None) -> None:
    items: list[object] = [1, 2, 3, 4, 5, threading.Lock(), 7]
    with interpool.Pool(1) as pool:
        with pytest.raises(TypeError, match=r"argument 0 of map item 5 \(_thread\.lock\)"):
            pool.map(tasks.add, items, items, chunksize=chunksize)
        lazy = pool.map(tasks.add, items, items, chunksize=chunksize, buffersize=1)
        with pytest.raises(TypeError, match=r"of map item 5 \(_thread\.lock\)"):
            list(lazy)

"""Module-level task functions and picklable types used by the tests.

Workers import this module by name (``tests.tasks.basic``), so everything a task needs
must live here at module level.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import threading
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

from interpool._platform import interpreters

# -- simple tasks -------------------------------------------------------------------


def add(a: Any, b: Any) -> Any:
    return a + b


def square(x: int) -> int:
    return x * x


def identity(x: Any) -> Any:
    return x


def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def type_and_value(x: Any) -> tuple[str, Any]:
    """Returns the worker-side type name along with the value."""
    return f"{type(x).__module__}.{type(x).__qualname__}", x


def interp_id(*_: Any) -> int:
    return interpreters.get_current().id


def sleep_return(seconds: float, value: Any = None) -> Any:
    time.sleep(seconds)
    return value


def sleep_and_id(seconds: float) -> int:
    time.sleep(seconds)
    return interpreters.get_current().id


def getcwd() -> str:
    return os.getcwd()


def touch(directory: str, name: str) -> str:
    """Create an empty file: a side effect visible outside the worker."""
    Path(directory, name).touch()
    return name


def rendezvous(directory: str, name: str, parties: int, timeout: float) -> int:
    """A barrier across interpreters through the file system: create ``name`` in
    ``directory``, then wait until ``parties`` files are there.  Only succeeds if
    ``parties`` calls run at the same time.  Returns the interpreter id."""
    Path(directory, name).touch()
    deadline = time.monotonic() + timeout
    while len(os.listdir(directory)) < parties:
        if time.monotonic() > deadline:
            # Count again: the GIL may have been away (a shared one held by a partner)
            # between the count above and the clock reading.
            arrived = len(os.listdir(directory))
            if arrived < parties:
                raise TimeoutError(f"only {arrived} of {parties} arrived")
        time.sleep(0.0005)
    return interpreters.get_current().id


# -- worker state -------------------------------------------------------------------

_calls = 0
_store: dict[str, Any] = {}
INIT_VALUE: Any = None


def tag(x: Any, sleep: float = 0.0) -> tuple[int, int, Any]:
    """``(interpreter id, how many calls of tag() this worker ran, x)``."""
    global _calls
    _calls += 1
    calls = _calls
    if sleep:
        time.sleep(sleep)
    return interpreters.get_current().id, calls, x


def count_call(key: str, sleep: float = 0.0) -> int:
    """Count a call under ``key`` in this worker (after sleeping ``sleep`` seconds)."""
    if sleep:
        time.sleep(sleep)
    _store[key] = _store.get(key, 0) + 1
    return int(_store[key])


def set_global(key: str, value: Any) -> None:
    _store[key] = value


def get_global(key: str) -> Any:
    return _store.get(key)


def init_set(value: Any, extra: Any = None) -> None:
    global INIT_VALUE
    INIT_VALUE = (value, extra)


def get_init_value() -> Any:
    return INIT_VALUE


def rendezvous_init(directory: str, name: str, parties: int, timeout: float) -> tuple[int, Any]:
    """:func:`rendezvous`, then this worker's ``INIT_VALUE``."""
    return rendezvous(directory, name, parties, timeout), INIT_VALUE


def failing_init() -> None:
    raise ValueError("initializer exploded")


# -- errors -------------------------------------------------------------------------


class CustomError(Exception):
    """A picklable custom exception."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message, code)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"


class TwoArgError(Exception):
    """Pickles but cannot be unpickled: ``args`` holds one value, ``__init__`` needs two."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


class LockedError(Exception):
    """Cannot be pickled: carries a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


class BadStrError(Exception):
    """Picklable, but ``str()`` of it raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def raise_bad_str() -> None:
    raise BadStrError("payload")


def raise_custom(message: str, code: int) -> None:
    raise CustomError(message, code)


def raise_two_arg() -> None:
    raise TwoArgError("left", "right")


def raise_locked() -> None:
    raise LockedError("has a lock")


def raise_system_exit(code: int) -> None:
    raise SystemExit(code)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def fail_at(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"bad item {x}")
    return x * 10


# -- results that cannot come back ---------------------------------------------------


def return_lock(_: Any = None) -> Any:
    return threading.Lock()


def _explode_on_load() -> None:
    raise RuntimeError("cannot be rebuilt here")


class BadUnpickle:
    """Pickles fine in the worker; unpickling it in the caller raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_explode_on_load, ())


def return_bad_unpickle(_: Any = None) -> BadUnpickle:
    return BadUnpickle()


# -- picklable types ----------------------------------------------------------------

Point = namedtuple("Point", ["x", "y"])


class Color(enum.IntEnum):
    RED = 1
    GREEN = 2


@dataclasses.dataclass
class Record:
    name: str
    values: list[int]
    nested: dict[str, Any] = dataclasses.field(default_factory=dict)


class Multiplier:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def mul(self, x: int) -> int:
        return self.factor * x

    @staticmethod
    def static_add(a: int, b: int) -> int:
        return a + b

    @classmethod
    def create(cls, factor: int) -> Multiplier:
        return cls(factor)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Multiplier) and other.factor == self.factor

    def __hash__(self) -> int:
        return hash(self.factor)


class Accumulator:
    """A picklable object with mutable state."""

    def __init__(self) -> None:
        self.items: list[int] = []

    def total(self) -> int:
        return sum(self.items)

    def append(self, x: int) -> list[int]:
        self.items.append(x)
        return list(self.items)


class CallCounter:
    """A picklable callable instance that counts its own calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def total(values: list[int]) -> int:
    return sum(values)


# -- property tests (test_properties.py) ----------------------------------------------


class Shade(enum.Enum):
    """A plain (not int) enum."""

    LIGHT = "light"
    DARK = 2
    MIXED = (1, "x")


def describe(value: Any) -> Any:
    """A canonical description of ``value``, made only of natively crossing types
    (tuples, ``str``, ``int``, ``bool``, ``bytes``, ``None``): two values have the same
    description if and only if they are equal, have the same exact types recursively,
    and share their mutable parts (lists, dicts, sets, bytearrays, arrays, deques,
    dataclass instances) in the same way.  NaNs are equal to each other; ``0.0`` and
    ``-0.0`` differ; ``datetime.fold`` and ``deque.maxlen`` count.  Computed in a
    worker, it tells what the worker received."""
    import array
    import collections
    import dataclasses
    import datetime
    import decimal
    import fractions
    import math
    import uuid

    seen: dict[int, int] = {}
    keep: list[Any] = []  # keeps ids unique while we walk

    def fl(x: float) -> str | None:
        return None if math.isnan(x) else x.hex()

    def td(d: datetime.timedelta | None) -> Any:
        return None if d is None else (d.days, d.seconds, d.microseconds)

    def tz(z: datetime.tzinfo | None) -> Any:
        if z is None:
            return None
        return (_type_name(z), td(z.utcoffset(None)), z.tzname(None))

    def walk(v: Any) -> Any:  # noqa: PLR0911 - one return per type
        t = type(v)
        name = _type_name(v)
        mutable = isinstance(v, (list, dict, set, bytearray, array.array, collections.deque)) or (
            dataclasses.is_dataclass(v) and not isinstance(v, type)
        )
        if mutable:
            if id(v) in seen:
                return ("@", seen[id(v)])
            seen[id(v)] = len(seen)
            keep.append(v)
        if isinstance(v, enum.Enum):
            return (name, v.name)
        if v is None or t in (bool, int, str, bytes):
            return (name, v)
        if t is float:
            return (name, fl(v))
        if t is complex:
            return (name, fl(v.real), fl(v.imag))
        if t is bytearray:
            return (name, bytes(v))
        if t is array.array:
            return (name, v.typecode, v.tobytes())
        if t is decimal.Decimal:
            sign, digits, exponent = v.as_tuple()
            return (name, sign, tuple(digits), exponent)
        if t is fractions.Fraction:
            return (name, v.numerator, v.denominator)
        if t is datetime.datetime:
            return (name, v.year, v.month, v.day, v.hour, v.minute, v.second,
                    v.microsecond, v.fold, tz(v.tzinfo))  # fmt: skip
        if t is datetime.date:
            return (name, v.year, v.month, v.day)
        if t is datetime.time:
            return (name, v.hour, v.minute, v.second, v.microsecond, v.fold, tz(v.tzinfo))
        if t is datetime.timedelta:
            return (name, td(v))
        if t is uuid.UUID:
            return (name, v.int, walk(v.is_safe))
        if t is range:
            return (name, v.start, v.stop, v.step)
        if isinstance(v, tuple):  # named tuples too: the name tells them apart
            return (name, tuple(walk(x) for x in v))
        if isinstance(v, list):
            return (name, tuple(walk(x) for x in v))
        if isinstance(v, collections.deque):
            return (name, v.maxlen, tuple(walk(x) for x in v))
        if isinstance(v, dict):
            factory = getattr(v, "default_factory", None)
            extra = None if factory is None else _type_name(factory, of=False)
            return (name, extra, tuple((walk(k), walk(x)) for k, x in v.items()))
        if isinstance(v, (set, frozenset)):
            # Iteration order is not part of a set's value.  Set items are hashable,
            # hence never shared mutables: walking them does not number anything.
            return (name, tuple(sorted((walk(x) for x in v), key=repr)))
        if mutable:  # a dataclass instance
            fields = dataclasses.fields(v)
            return (name, tuple((f.name, walk(getattr(v, f.name))) for f in fields))
        return (name, "repr", repr(v))

    return walk(value)


def _type_name(obj: Any, of: bool = True) -> str:
    """``module.qualname`` of ``type(obj)`` (or of ``obj`` itself with ``of=False``)."""
    t = type(obj) if of else obj
    return f"{t.__module__}.{t.__qualname__}"


def describe_call(*args: Any, **kwargs: Any) -> Any:
    """:func:`describe` of the arguments as the worker received them, together (so
    objects shared between arguments count)."""
    return describe((args, kwargs))


def from_pickle(blob: bytes) -> Any:
    """The value pickled in ``blob``: a result built in the worker, not echoed back."""
    import pickle

    return pickle.loads(blob)


# -- unsendable values (test_unsendable.py) -------------------------------------------

_tally = 0


def tally(*args: Any, **kwargs: Any) -> int:
    """Count this call in this worker, whatever the arguments; return the count."""
    global _tally
    _tally += 1
    return _tally


def make_unsendable(kind: str) -> Any:
    """A value made in the worker that cannot be sent back, of the ``kind`` named;
    any other ``kind`` is returned as it is (a value that can)."""
    if kind == "lock":
        return threading.Lock()
    if kind == "generator":
        return (i for i in range(3))
    if kind == "socket":
        import socket

        return socket.socket()
    if kind == "file":
        return open(os.devnull, "w")
    if kind == "nested":
        return [1, {"inner": (2, threading.Lock())}]
    return kind


# -- faithful errors (test_errors.py) -------------------------------------------------


def raise_chained() -> None:
    """``RuntimeError("outer")`` from ``ValueError("inner")``, itself raised while
    handling ``KeyError("k")``."""
    try:
        try:
            raise KeyError("k")
        except KeyError:
            raise ValueError("inner")  # noqa: B904 - the implicit context is the point
    except ValueError as inner:
        raise RuntimeError("outer") from inner


def raise_in_handler() -> None:
    """``TypeError("second")`` raised while handling ``ValueError("first")``."""
    try:
        raise ValueError("first")
    except ValueError:
        raise TypeError("second")  # noqa: B904


def raise_from_none() -> None:
    try:
        raise ValueError("hidden")
    except ValueError:
        raise TypeError("shown") from None


def raise_from_unpicklable() -> None:
    """A picklable error caused by one that cannot be pickled."""
    try:
        raise LockedError("locked cause")
    except LockedError as exc:
        raise RuntimeError("wrapper") from exc


def raise_cause_cycle() -> None:
    """An error whose cause's cause is itself."""
    a = ValueError("a")
    b = TypeError("b")
    b.__cause__ = a
    a.__cause__ = b
    raise a


def raise_long_chain(n: int) -> None:
    """``ValueError(n - 1)``, whose context is ``ValueError(n - 2)``... down to 0."""
    exc = ValueError(0)
    for i in range(1, n):
        new = ValueError(i)
        new.__context__ = exc
        exc = new
    raise exc


def raise_with_notes(picklable: bool) -> None:
    exc: Exception = ValueError("noted") if picklable else LockedError("noted")
    exc.add_note("first note")
    exc.add_note("second note")
    raise exc


def raise_group() -> None:
    """An ``ExceptionGroup`` with a note, a member with a note, a member that cannot be
    pickled, a nested group and a member with a cause."""
    noted = ValueError("v")
    noted.add_note("member note")
    try:
        raise KeyError("why")
    except KeyError as why:
        caused = TypeError("t")
        caused.__cause__ = why
    inner = ExceptionGroup("inner", [OSError(2, "no such file"), ZeroDivisionError("z")])
    group = ExceptionGroup("outer", [noted, LockedError("in group"), inner, caused])
    group.add_note("group note")
    raise group


def raise_base_group() -> None:
    raise BaseExceptionGroup("base", [KeyboardInterrupt(), ValueError("v")])


def raise_wide_group(n: int) -> None:
    raise ExceptionGroup("wide", [ValueError(i) for i in range(n)])


class BadReduceError(Exception):
    """``__reduce__`` raises."""

    def __reduce__(self) -> Any:
        raise RuntimeError("no reduce for you")


class BadStrLockedError(LockedError):
    """Cannot be pickled, and ``str()`` of it raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def raise_bad_reduce() -> None:
    raise BadReduceError("reduce")


def raise_bad_str_locked() -> None:
    raise BadStrLockedError("unprintable")


def raise_worker_only() -> None:
    """An error whose class only the worker can import (its module exists only there)."""
    import sys
    import types

    module = types.ModuleType("interpool_worker_only")

    class WorkerOnlyError(Exception):
        pass

    WorkerOnlyError.__module__ = module.__name__
    WorkerOnlyError.__qualname__ = WorkerOnlyError.__name__
    module.WorkerOnlyError = WorkerOnlyError  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    error = WorkerOnlyError("only here")
    error.add_note("worker-only note")
    raise error


def recurse_forever(n: int = 0) -> int:
    return recurse_forever(n + 1) + 1


def ping(n: int) -> int:
    """With :func:`pong`, a recursion whose traceback does not fold into one line."""
    return pong(n + 1) + 1


def pong(n: int) -> int:
    return ping(n + 1) + 1


def allocate_too_much() -> bytearray:
    return bytearray(1 << 60)


def import_module(name: str) -> str:
    import importlib

    return importlib.import_module(name).__name__


def raise_incompatible(module: str, wrapped: bool) -> None:
    """CPython's ``ImportError`` for an extension that refuses sub-interpreters,
    alone or as the cause of a ``RuntimeError``."""
    error = ImportError(f"module {module} does not support loading in subinterpreters")
    if not wrapped:
        raise error
    try:
        raise error
    except ImportError as exc:
        raise RuntimeError("plugin failed to load") from exc


# -- lifecycle (test_lifecycle.py) ------------------------------------------------------


def started_then_sleep(directory: str, name: str, seconds: float) -> str:
    """Create ``<name>.started`` in ``directory``, sleep ``seconds``, then create
    ``<name>.done``: shows from outside that the call was running, and that it ended."""
    Path(directory, f"{name}.started").touch()
    time.sleep(seconds)
    Path(directory, f"{name}.done").touch()
    return name


def nested_pool(n: int, workers: int) -> tuple[list[int], list[int], int]:
    """Run ``square`` over ``range(n)`` in a pool of ``workers`` made inside this task
    (shut down before returning), with ``map`` and ``submit``, and :func:`rendezvous`
    on every inner worker at once: ``(squares, the inner workers' interpreter ids,
    this interpreter's id)``."""
    import tempfile

    import interpool

    with interpool.Pool(workers) as inner, tempfile.TemporaryDirectory() as directory:
        squares = list(inner.map(square, range(n)))
        squares_too = [f.result(timeout=20) for f in [inner.submit(square, i) for i in range(n)]]
        met = [inner.submit(rendezvous, directory, f"w{i}", workers, 10.0) for i in range(workers)]
        ids = sorted(f.result(timeout=20) for f in met)
    assert squares == squares_too
    return squares, ids, interpreters.get_current().id


def nested_pool_left_open(n: int) -> int:
    """``square(n)`` in a pool made inside this task and never shut down."""
    import interpool

    inner = interpool.Pool(1)
    _store.setdefault("open pools", []).append(inner)  # outlives this call
    return int(inner.submit(square, n).result(timeout=20))


def nested_thread_pool(n: int) -> tuple[list[int], int, int]:
    """``square`` over ``range(n)`` in a ``ThreadPoolExecutor`` made inside this task:
    ``(squares, how many threads ran them, interpreter ids they ran in)``."""
    from concurrent.futures import ThreadPoolExecutor

    def square_where(x: int) -> tuple[int, int, int]:
        time.sleep(0.001)
        return x * x, threading.get_ident(), interpreters.get_current().id

    with ThreadPoolExecutor(4) as executor:
        results = list(executor.map(square_where, range(n)))
    return [r[0] for r in results], len({r[1] for r in results}), len({r[2] for r in results})


def nested_thread_pool_left_open(n: int) -> int:
    """``square(n)`` in a ``ThreadPoolExecutor`` made inside this task and never shut
    down (its idle thread stays in this interpreter)."""
    from concurrent.futures import ThreadPoolExecutor

    executor = ThreadPoolExecutor(2)
    _store.setdefault("open executors", []).append(executor)
    return executor.submit(square, n).result(timeout=20)


class Holder:
    """An instance whose bound method is a task (see test_stats)."""

    def method(self) -> int:
        return 1

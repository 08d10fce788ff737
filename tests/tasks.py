"""Module-level task functions and picklable types used by the tests.

Workers import this module by name (``tests.tasks``), so everything a task needs
must live here at module level.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import threading
import time
from collections import namedtuple
from concurrent import interpreters
from pathlib import Path
from typing import Any

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
            raise TimeoutError(f"only {len(os.listdir(directory))} of {parties} arrived")
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

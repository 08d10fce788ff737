"""Task functions of the bad-input catalogue (``test_bad_input.py``): tasks that fail
in every way a task can.

Workers import this module by name (``tests.tasks.bad``), so everything a task needs
lives here at module level.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from interpool._platform import interpreters


def describe(value: Any) -> str:
    """The worker-side type of ``value`` (``module.qualname``)."""
    return f"{type(value).__module__}.{type(value).__qualname__}"


def accept_anything(*args: Any, **kwargs: Any) -> int:
    """Any arguments; returns how many it got."""
    return len(args) + len(kwargs)


def make(kind: str) -> Any:
    """A result of the ``kind`` named; ``"lock"`` and ``"generator"`` cannot be sent
    back, anything else is returned as it is."""
    if kind == "lock":
        return threading.Lock()
    if kind == "generator":
        return (i for i in range(3))
    return kind


# -- exceptions that cannot come back as themselves -----------------------------------


class UnpicklableError(Exception):
    """Cannot be pickled in the worker: it carries a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


class UnrebuildableError(Exception):
    """Pickles in the worker, but cannot be unpickled in the caller: ``args`` holds one
    value while ``__init__`` needs two."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")


def raise_unpicklable(message: str) -> None:
    raise UnpicklableError(message)


def raise_unrebuildable(what: str) -> None:
    raise UnrebuildableError(what, "missing key")


# -- exceptions that are not errors of the task's code ---------------------------------


def raise_system_exit(code: int) -> None:
    raise SystemExit(code)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def exit_at(x: int, bad: int) -> int:
    """``x``, except for ``bad``, which calls ``sys.exit(bad)``."""
    if x == bad:
        raise SystemExit(bad)
    return x


# -- resources -------------------------------------------------------------------------


def loop_forever() -> None:
    """Pure Python that never returns: only a time limit or a cancellation ends it."""
    while True:
        pass


def loop_if(x: int, bad: int) -> int:
    """``x``, except for ``bad``, which loops forever."""
    if x == bad:
        loop_forever()
    return x


def recurse(n: int = 0) -> int:
    return recurse(n + 1) + 1


def exhaust_memory() -> bytearray:
    """Ask for 1 EiB: the allocation fails at once with ``MemoryError`` (no memory is
    actually touched)."""
    return bytearray(1 << 60)


def sleep_return(seconds: float, value: Any) -> Any:
    time.sleep(seconds)
    return value


def interp_id() -> int:
    return interpreters.get_current().id


# -- initializers ----------------------------------------------------------------------


def failing_init(setting: str) -> None:
    raise ValueError(f"initializer exploded: no setting {setting!r}")

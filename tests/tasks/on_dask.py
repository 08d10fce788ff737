"""Task functions for the Dask tests (importable by the Dask workers and their
sub-interpreters)."""

from __future__ import annotations

import os
import time


def interpreter_id() -> int:
    """The id of the interpreter that runs this call (0: a process's main one)."""
    from interpool._platform import interpreters as _interp

    return int(_interp.get_current().id)


def where(x: int) -> tuple[int, int, int]:
    """``(x * x, process id, interpreter id)``."""
    return x * x, os.getpid(), interpreter_id()


def square_slowly(x: int, delay: float = 0.05) -> int:
    time.sleep(delay)
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def pid() -> int:
    return os.getpid()


def token() -> str:
    """A new value at each call: identical calls give different results unless they
    share one run."""
    return os.urandom(8).hex()


def set_marker(value: str) -> None:
    """An initializer: leaves ``value`` where :func:`marker` finds it."""
    os.environ["INTERPOOL_TEST_MARKER"] = value


def marker() -> str | None:
    return os.environ.get("INTERPOOL_TEST_MARKER")


def broken_initializer() -> None:
    raise RuntimeError("initializer says no")


def interpreter_after(delay: float) -> int:
    """:func:`interpreter_id`, after ``delay`` seconds."""
    time.sleep(delay)
    return interpreter_id()


def numpy_total(n: int) -> tuple[int, int]:
    """``(sum of range(n), interpreter id)``, with numpy (which refuses to load in a
    sub-interpreter)."""
    import numpy

    return int(numpy.arange(n).sum()), interpreter_id()


def size_and_interpreter(value: object) -> tuple[int, int]:
    return len(value), interpreter_id()  # type: ignore[arg-type]

"""Classes for the actor tests (``test_actor.py``).

Actors' interpreters import this module by name (``tests.tasks.actors``), so the
classes live here at module level.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from interpool._platform import interpreters

from . import basic as tasks


class Counter:
    """A counter, with what the tests need to observe and steer one actor."""

    def __init__(self, start: int = 0, *, step: int = 1) -> None:
        self.value = start
        self.step = step
        self.history: list[Any] = []

    def increment(self, by: int | None = None) -> int:
        self.value += self.step if by is None else by
        return self.value

    def get(self) -> int:
        return self.value

    def push(self, item: Any) -> int:
        """Append ``item`` to the history; return the history's length."""
        self.history.append(item)
        return len(self.history)

    def get_history(self) -> list[Any]:
        return self.history

    def mix(self, x: int) -> int:
        """A step whose result depends on the order of the calls."""
        self.value = (self.value * 31 + x) % 1_000_003
        return self.value

    def echo(self, *args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return args, kwargs

    def fail(self, message: str) -> None:
        raise ValueError(message)

    def fail_custom(self, message: str, code: int) -> None:
        raise tasks.CustomError(message, code)

    def interp_id(self) -> int:
        return interpreters.get_current().id

    def init_value(self) -> Any:
        return tasks.INIT_VALUE

    def spin(self, seconds: float) -> float:
        """Busy for ``seconds`` in pure Python (interrupted at once)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return seconds

    def wait_for(self, path: str, timeout: float) -> int:
        """Block until ``path`` exists (``TimeoutError`` after ``timeout`` s); then
        increment and return the value."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} never appeared")
            time.sleep(0.001)
        return self.increment()

    def blocked(self, started: str, gate: str, timeout: float) -> int:
        """Create ``started``, then :meth:`wait_for` ``gate``."""
        Path(started).touch()
        return self.wait_for(gate, timeout)

    def touch(self, path: str) -> str:
        Path(path).touch()
        return path

    def rendezvous(self, directory: str, name: str, parties: int, timeout: float) -> int:
        return tasks.rendezvous(directory, name, parties, timeout)

    @staticmethod
    def static_add(a: int, b: int) -> int:
        return a + b

    @classmethod
    def class_name(cls) -> str:
        return cls.__qualname__

    @property
    def doubled(self) -> int:
        return 2 * self.value

    LIMIT = 10


class FailingInit:
    def __init__(self, message: str) -> None:
        raise ValueError(message)


class AsyncCounter:
    """A class with a coroutine method (run on the worker's event loop)."""

    def __init__(self) -> None:
        self.value = 0

    async def add(self, k: int, delay: float) -> int:
        import asyncio  # here: the other tests' actors need not import it

        await asyncio.sleep(delay)
        self.value += k
        return self.value

    def get(self) -> int:
        return self.value


class FailingCounter(Counter):
    def __init__(self, message: str) -> None:
        raise ValueError(message)


class Dynamic:
    """A class whose methods come from ``__getattr__``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("say_"):
            return lambda: name[4:]
        raise AttributeError(name)


class Resource:
    """A class with methods named like the handle's own (``close``, ``ready``)."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> int:
        self.closed += 1
        return self.closed

    def ready(self) -> str:
        return "resource ready"


def init_unless(path: str) -> None:
    """An initializer that fails once ``path`` exists."""
    if os.path.exists(path):
        raise ValueError(f"{path} exists")


def make_counter(start: int) -> Counter:
    """A factory instead of a class."""
    return Counter(start)

"""Task functions of the shared backend suite (``test_backends``); importable by every
backend's workers: interpreters, processes and Dask workers alike."""

from __future__ import annotations

import asyncio
import os
import threading
import time


def spin(seconds: float) -> str:
    """Pure-Python work for ``seconds`` (stoppable by an interruption at any moment)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def slow_square(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x * x


async def async_double(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


def where() -> tuple[int, int]:
    """The process and thread that ran the task."""
    return os.getpid(), threading.get_ident()


#: Set by :func:`mark` (an initializer); on the threads backend, in the caller's own
#: module, so no other test module reads it.
MARK: object = None


def mark(value: object) -> None:
    global MARK
    MARK = value


def get_mark() -> object:
    return MARK

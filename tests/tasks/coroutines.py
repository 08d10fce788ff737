"""Coroutine functions run inside worker interpreters (see test_coroutines.py)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from interpool._platform import interpreters


async def add_later(a: Any, b: Any, delay: float = 0.0) -> Any:
    await asyncio.sleep(delay)
    return a + b


async def fail_later(message: str, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    raise ValueError(message)


async def sleep_forever() -> None:
    await asyncio.sleep(3600)


async def gather_in_worker(n: int, delay: float) -> int:
    """A coroutine that itself runs ``n`` coroutines concurrently."""
    results = await asyncio.gather(*(add_later(i, 0, delay) for i in range(n)))
    return sum(results)


async def wait_for_files(directory: str, name: str, parties: int, timeout: float) -> int:
    """An async rendezvous: create ``name``, then wait (without blocking the worker's
    loop) until ``parties`` files exist.  Returns the interpreter id."""
    Path(directory, name).touch()
    deadline = time.monotonic() + timeout
    while len(os.listdir(directory)) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(directory))} of {parties} arrived")
        await asyncio.sleep(0.002)
    return interpreters.get_current().id


async def mark_when_cancelled(directory: str) -> None:
    """Leave a file ``started`` behind, then sleep until cancelled; on cancellation,
    leave a file ``cancelled`` behind as evidence."""
    Path(directory, "started").touch()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        Path(directory, "cancelled").touch()
        raise


def loses_an_interruption(directory: str) -> Any:
    """Return ``mark_when_cancelled(directory)``, after waiting in a weakref callback
    (for at most 10 s; a file ``calling`` says it waits) until the worker is
    interrupted: the interruption ends the callback and is lost ("Exception ignored
    ... weakref callback"), as one that lands in an import's weakref callback is."""
    import weakref

    class Referent:
        pass

    def wait_for_an_interruption(_: object) -> None:
        Path(directory, "calling").touch()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            time.sleep(0.001)

    referent = Referent()
    ref = weakref.ref(referent, wait_for_an_interruption)
    del referent  # the callback runs here
    del ref
    return mark_when_cancelled(directory)


async def big_bytes(size: int) -> bytes:
    await asyncio.sleep(0)
    return bytes(size)


async def big_bytearray(size: int) -> bytearray:
    await asyncio.sleep(0)
    return bytearray(b"x" * size)


def returns_coroutine(x: int) -> Any:
    """A plain function that returns a coroutine: run like an ``async def``."""
    return add_later(x, 1)


async def self_cancel() -> None:
    raise asyncio.CancelledError


async def fail_if(x: int, bad: int) -> int:
    await asyncio.sleep(0.001 * (x % 3))
    if x == bad:
        raise ValueError(f"bad item {x}")
    return x * 2

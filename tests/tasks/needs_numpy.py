"""Tasks that need numpy, which refuses to load in a sub-interpreter."""

from __future__ import annotations

import os


def numpy_sum(n: int) -> int:
    import numpy

    return int(numpy.arange(n).sum())


def numpy_sum_with_pid(n: int) -> tuple[int, int]:
    import numpy

    return int(numpy.arange(n).sum()), os.getpid()


def numpy_above(x: int, threshold: int) -> int:
    """``x`` itself below ``threshold`` (no numpy needed), else computed with numpy."""
    if x < threshold:
        return x
    import numpy

    return int(numpy.int64(x))


def numpy_raises(message: str) -> None:
    import numpy

    raise ValueError(f"{message} {numpy.int64(1)}")


def numpy_sleep(seconds: float) -> int:
    import time

    import numpy

    time.sleep(seconds)
    return int(numpy.int64(1))


async def numpy_sum_async(n: int) -> int:
    """An ``async def`` task that needs numpy."""
    import asyncio

    await asyncio.sleep(0)
    import numpy

    return int(numpy.arange(n).sum())

"""Task functions for the benchmarks.

They live at module level in an importable module (not in ``__main__``), so that every
executor under test can run them by name: ``ThreadPoolExecutor`` directly,
``ProcessPoolExecutor`` and ``InterpreterPoolExecutor`` by pickling a reference to
``interpool._tools.bench.workloads.<name>``, and ``interpool.Pool`` by its function key.
Worker interpreters and processes import this module (and so the ``interpool``
package) once, the first time they run one of these functions.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False  # annotations only: nothing more to import in every worker
if TYPE_CHECKING:
    from collections.abc import Sized
    from typing import Any

__all__ = [
    "PRIMES",
    "PRIMES_QUICK",
    "PRIMES_TEST",
    "SEED_RESULT_BYTES",
    "build_payload",
    "echo_len",
    "inc",
    "io_wait",
    "io_wait_blocking",
    "is_prime",
    "make_payload",
    "nbytes_of",
    "payload_back",
    "payload_size",
    "pbkdf2",
    "prime_and_bytes",
    "prime_then_bytes",
]

#: The numbers of the classic ``ProcessPoolExecutor`` example in the Python docs:
#: five primes near 1.1e14 (about 5.3 million trial divisions each) and one
#: composite near 1.1e15 whose smallest factor is found after about a quarter of that.
PRIMES: list[int] = [
    112272535095293,
    112582705942171,
    112272535095293,
    115280095190773,
    115797848077099,
    1099726899285419,
]


#: The same shape at a tenth of the size (``bench --quick``): five primes near
#: 1.1e13 and a composite near 1.1e14 (1038721 * 108087307), rejected after about a
#: third of a prime's trial divisions, as in :data:`PRIMES`.  ~3x faster.
PRIMES_QUICK: list[int] = [
    11227253509529,
    11258270594227,
    11227253509529,
    11528009519077,
    11579784807749,
    112272555614347,
]

#: The same shape near 1.1e10 (the composite is 32869 * 3415757), for tests: ~1 ms each.
PRIMES_TEST: list[int] = [
    11227253519,
    11258270603,
    11227253519,
    11528009527,
    11579784817,
    112272516833,
]


def is_prime(n: int) -> bool:
    """Trial division, exactly as in the classic example (CPU-bound, holds the GIL).

    Kept verbatim, so its timings compare with the example's."""
    if n < 2:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    sqrt_n = int(math.floor(math.sqrt(n)))  # noqa: RUF046 - verbatim
    for i in range(3, sqrt_n + 1, 2):
        if n % i == 0:
            return False
    return True


def inc(x: int) -> int:
    """The smallest useful task: what a round trip costs beyond the call itself."""
    return x + 1


async def io_wait(seconds: float) -> float:
    """An I/O-bound coroutine: waits ``seconds`` (as for a network reply)."""
    import asyncio

    await asyncio.sleep(seconds)
    return seconds


def io_wait_blocking(seconds: float) -> float:
    """:func:`io_wait` for executors that cannot run coroutines: one event loop per
    task, which holds its worker for the whole wait."""
    import asyncio

    return asyncio.run(io_wait(seconds))


# -- the data plane (``bench --data``) ----------------------------------------------

#: The size of each result of :func:`prime_and_bytes`: 100 MiB.
SEED_RESULT_BYTES = 100 * 1024 * 1024


def prime_and_bytes(n: int) -> bytes:
    """The seed workload with a large result: ``is_prime(n)``, then 100 MiB of fresh
    data (a task that computes something and returns a big buffer)."""
    is_prime(n)
    return b"\xaa" * SEED_RESULT_BYTES


def nbytes_of(payload: bytes) -> int:
    """Send ``payload`` to a worker, get a small result back."""
    return len(payload)


def make_payload(n: int) -> bytes:
    """``n`` bytes made in the worker (written, so every page is real memory),
    sent back as the result."""
    return b"\x00" * n


def echo_len(value: Sized) -> int:
    """Send a container to a worker, get a small result back."""
    return len(value)


# -- the payload matrix (``bench --data``, section e) ---------------------------------

_MiB = 1024 * 1024


class Point:
    """A user class (plain attributes, pickled by the default ``__reduce_ex__``)."""

    def __init__(self, x: int, y: float, name: str) -> None:
        self.x = x
        self.y = y
        self.name = name


def build_payload(shape: str) -> Any:  # noqa: PLR0911 - one return per shape
    """The payload called ``shape`` in the matrix (see ``data.SHAPES``), made the
    same way in the caller and in any worker."""
    kind, _, size = shape.partition(":")
    n = int(size) if size else 0
    if kind == "ints":
        return list(range(100_000))
    if kind == "floats":
        return [i * 0.5 + 0.1 for i in range(100_000)]
    if kind == "pairs":
        return [(i, f"item {i}") for i in range(25_000)]
    if kind == "dict":
        return {f"key{i}": i for i in range(50_000)}
    if kind == "records":
        return [
            {"id": i, "name": f"user{i}", "tags": ["a", "b", str(i % 7)], "score": i * 0.25}
            for i in range(10_000)
        ]
    if kind == "strs":
        return [f"s{i}" for i in range(100_000)]
    if kind == "objects":
        return [Point(i, i * 0.5, f"p{i}") for i in range(10_000)]
    if kind == "bytes_in_dict":
        return {"name": "blob", "data": b"\xab" * n}
    if kind == "bytearray_in_list":
        return [1, "two", bytearray(b"\xcd" * n)]
    if kind == "memoryview_in_dict":
        return {"view": memoryview(bytearray(b"\xef" * n))}
    if kind == "array_in_list":
        import array

        return [array.array("d", bytes(n))]
    if kind == "numpy_in_dict":
        import numpy

        return {"array": numpy.arange(n // 8, dtype=numpy.float64)}
    raise ValueError(f"unknown payload shape {shape!r}")


def payload_size(value: Any) -> int:
    """Send a payload to a worker, get a small result back (its length)."""
    return len(value)


_built: dict[str, Any] = {}


def payload_back(shape: str) -> Any:
    """Get a payload back from a worker: made once per worker (so that what is timed
    is the crossing, not the making), then returned on every call."""
    value = _built.get(shape)
    if value is None:
        value = _built[shape] = build_payload(shape)
    return value


# -- the seed comparison (``bench``, ``bench --quick``) -----------------------------


def prime_then_bytes(n: int, size: int) -> bytes:
    """:func:`prime_and_bytes` with the result's size as an argument: ``is_prime(n)``,
    then ``size`` bytes of fresh data."""
    is_prime(n)
    return b"\xaa" * size


def pbkdf2(iterations: int) -> bytes:
    """A CPU-bound task that releases the GIL: ``hashlib.pbkdf2_hmac`` (SHA-256,
    ``iterations`` rounds) runs in OpenSSL without holding it, so threads of one
    interpreter run it in parallel too."""
    import hashlib

    return hashlib.pbkdf2_hmac("sha256", b"interpool", b"seed comparison", iterations)

"""Task functions for the benchmarks.

They live at module level in an importable module (not in ``__main__``), so that every
executor under test can run them by name: ``ThreadPoolExecutor`` directly,
``ProcessPoolExecutor`` and ``InterpreterPoolExecutor`` by pickling a reference to
``interpool.bench.workloads.<name>``, and ``interpool.Pool`` by its function key.
Worker interpreters and processes import this module (and so the ``interpool``
package) once, the first time they run one of these functions.
"""

from __future__ import annotations

import math

__all__ = ["PRIMES", "inc", "is_prime"]

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

"""Benchmarks of ``interpool.Pool`` against the standard library's executors.

Run them with ``python -m interpool bench`` (see ``benchmarks/README.md``):

* ``--quick``: the seed comparison (:mod:`.seed`), ``is_prime`` over six big numbers;
* otherwise the core benchmark (:mod:`.core`), which also writes its results as JSON
  and text to ``benchmarks/results/``.

The task functions are in :mod:`.workloads`, which every worker process or
interpreter imports by name; that is why this module imports nothing at load time:
it is part of what each worker imports.  The shared helpers (executors under test,
statistics, tables, machine information) are in :mod:`.core`.
"""

from __future__ import annotations

__all__ = ["main"]


def main(
    *,
    quick: bool = False,
    workers: int = 2,
    repeat: int | None = None,
    output: str | None = None,
    json_out: bool = False,
) -> int:
    """Entry point of ``python -m interpool bench``; returns the exit status.

    ``repeat`` defaults to 5, or with ``quick`` to up to 3 within a time budget; ``output`` is the
    directory for result files (the full benchmark writes there by default, the
    quick one only when it is given); ``json_out`` prints JSON instead of tables."""
    if quick:
        from . import seed

        return seed.main(workers=workers, repeat=repeat, output=output, json_out=json_out)
    from . import core

    return core.main(workers=workers, repeat=repeat, output=output, json_out=json_out)

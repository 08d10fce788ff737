"""Benchmarks of ``interpool.Pool`` against the standard library's executors.

Run them with ``python -m interpool bench`` (see ``benchmarks/README.md``):

* no mode option: the seed comparison (:mod:`.compare`): four workloads (``is_prime``
  over the seed numbers, the same returning 100 MiB each, ``hashlib.pbkdf2_hmac``,
  many tiny tasks), a plain loop against every executor, fresh and reused; a table,
  JSON and a PNG chart (:mod:`.chart`);
* ``--quick``: the same with smaller inputs, in under a minute (``make demo``);
* ``--core``: the core benchmark (:mod:`.core`): round trip, map throughput, idle
  CPU, async, coroutines, channels;
* ``--data``: the data-plane benchmark (:mod:`.data`): large results, payload
  throughput, the cost of container arguments;
* ``--all``: the seed comparison, then the core and data-plane benchmarks
  (``make bench``).

Results go to ``./interpool-bench/`` (or ``--output DIR``; ``make bench`` passes
``--output benchmarks/results``), timelines of its pools to ``--trace DIR``.  The task functions are
in :mod:`.workloads`, which every worker process or interpreter imports by name;
that is why this module imports nothing at load time: it is part of what each
worker imports.  The shared helpers (executors under test, statistics, tables,
machine information) are in :mod:`.core`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["main"]


def main(
    *,
    quick: bool = False,
    data: bool = False,
    core_only: bool = False,
    everything: bool = False,
    workers: int = 2,
    repeat: int | None = None,
    output: str | None = None,
    json_out: bool = False,
    only: Sequence[str] | None = None,
    trace: str | None = None,
) -> int:
    """Entry point of ``python -m interpool bench``; returns the exit status.

    At most one of ``quick``, ``data``, ``core_only`` and ``everything`` (the mode);
    none: the full seed comparison.  ``repeat`` defaults to each benchmark's own
    (3 for the comparison, 5 for the core benchmark, 3 for the data plane; with
    ``quick``, up to 3 within a time budget); ``output`` is the directory for result
    files (default ``./interpool-bench``); ``json_out`` prints JSON instead of
    tables (with ``everything``, one object ``{"seed": ..., "core": ..., "data":
    ...}``); ``only`` (``--only`` values) selects workloads and executors of the seed
    comparison.  Raises ``ValueError`` for an ``only`` with unknown names, or given
    with ``core_only`` or ``data``.  ``trace``: a directory where each
    ``interpool.Pool`` the benchmarks make writes its timeline (``Pool(trace=...)``,
    ``interpool-<python>-<n>.json``)."""
    if sum((quick, data, core_only, everything)) > 1:
        raise ValueError("choose at most one of quick, data, core_only, everything")
    if only is not None and (data or core_only):
        raise ValueError("--only selects the seed comparison's workloads and executors")
    import pathlib

    from . import compare, core

    compare.parse_only(only)  # unknown names fail before anything runs
    core.trace_dir = None if trace is None else pathlib.Path(trace)
    if quick or not (data or core_only or everything):
        return compare.main(
            size="quick" if quick else "full",
            workers=workers,
            repeat=repeat,
            output=output,
            json_out=json_out,
            only=only,
        )
    from . import data as dataplane

    if data:
        return dataplane.main(workers=workers, repeat=repeat, output=output, json_out=json_out)
    import json

    if core_only:
        return core.main(workers=workers, repeat=repeat, output=output, json_out=json_out)
    if not json_out:  # each report as soon as it is ready
        steps: list[Callable[[], int]] = [
            lambda: compare.main(
                size="full",
                workers=workers,
                repeat=repeat,
                output=output,
                json_out=False,
                only=only,
            ),
            lambda: core.main(workers=workers, repeat=repeat, output=output, json_out=False),
            lambda: dataplane.main(workers=workers, repeat=repeat, output=output, json_out=False),
        ]
        for step in steps:
            status = step()
            if status:
                return status
            print(flush=True)
        return 0
    rounds = compare.DEFAULT_REPEAT["full"] if repeat is None else repeat
    with core.watchdog(compare.watchdog_seconds(rounds)):
        seed_doc, seed_text = compare.run(
            size="full", workers=workers, repeat=rounds, selection=compare.parse_only(only)
        )
    compare.write(seed_doc, seed_text, core.output_dir(output), "full")
    core_doc, core_text = core.run(workers, 5 if repeat is None else repeat)
    stem = f"core-{core.python_tag()}"
    paths = core.write_results(core.output_dir(output), stem, core_doc, core_text)
    core.progress("wrote " + ", ".join(str(p) for p in paths))
    data_doc, _ = dataplane.run_and_write(workers, repeat, output)
    print(
        json.dumps(
            {"seed": seed_doc, "core": core_doc, "data": data_doc}, indent=2, allow_nan=False
        )
    )
    return 0

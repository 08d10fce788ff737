"""Benchmarks of ``interpool.Pool`` against the standard library's executors.

Run them with ``python -m interpool bench`` (see ``benchmarks/README.md``):

* ``--quick``: the seed comparison (:mod:`.seed`), ``is_prime`` over six big numbers;
* ``--data``: the data-plane benchmark (:mod:`.data`): large results, payload
  throughput, the cost of container arguments;
* ``--core``: the core benchmark (:mod:`.core`) only;
* otherwise the core benchmark (:mod:`.core`), then the data-plane one.  Both write
  their results as JSON and text to ``benchmarks/results/``.

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
    data: bool = False,
    core_only: bool = False,
    workers: int = 2,
    repeat: int | None = None,
    output: str | None = None,
    json_out: bool = False,
) -> int:
    """Entry point of ``python -m interpool bench``; returns the exit status.

    ``repeat`` defaults to 5 for the core benchmark, 3 for the data-plane one, and with
    ``quick`` to up to 3 within a time budget; ``output`` is the directory for result
    files (the full benchmarks write there by default, the quick one only when it is
    given); ``json_out`` prints JSON instead of tables: with neither ``quick`` nor
    ``data``, one object ``{"core": ..., "data": ...}`` holding both documents."""
    if quick:
        from . import seed

        return seed.main(workers=workers, repeat=repeat, output=output, json_out=json_out)
    from . import data as dataplane

    if data:
        return dataplane.main(workers=workers, repeat=repeat, output=output, json_out=json_out)
    import json

    from . import core

    if core_only:
        return core.main(workers=workers, repeat=repeat, output=output, json_out=json_out)
    if not json_out:  # each report as soon as it is ready
        status = core.main(workers=workers, repeat=repeat, output=output, json_out=False)
        if status:
            return status
        print(flush=True)
        return dataplane.main(workers=workers, repeat=repeat, output=output, json_out=False)
    core_doc, core_text = core.run(workers, 5 if repeat is None else repeat)
    stem = f"core-{core.python_tag()}"
    paths = core.write_results(core.output_dir(output), stem, core_doc, core_text)
    core.progress("wrote " + ", ".join(str(p) for p in paths))
    data_doc, _ = dataplane.run_and_write(workers, repeat, output)
    print(json.dumps({"core": core_doc, "data": data_doc}, indent=2, allow_nan=False))
    return 0

"""Command line: ``python -m interpool COMMAND`` (also installed as ``interpool``).

Commands:

* ``bench``: benchmarks against the standard library's executors
  (``--quick`` for the seed comparison, ``--data`` for the data-plane benchmark
  only; see ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(
        quick=args.quick,
        data=args.data,
        core_only=args.core,
        workers=args.workers,
        repeat=args.repeat,
        output=args.output,
        json_out=args.json,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m interpool",
        description="interpool: a pool of reusable sub-interpreters.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = commands.add_parser(
        "bench",
        help="benchmark interpool against the standard library's executors",
        description=(
            "By default: the core benchmark (round trip, map throughput, the seed "
            "workload, idle CPU, async, coroutines, channels), written to "
            "DIR/core-<python>.json and .txt, then "
            "the data-plane benchmark (large results, payload throughput, container "
            "arguments), written to DIR/data-<python>.json and .txt. "
            "With --data: the data-plane benchmark only; with --core, the core one only. "
            "With --quick: the seed comparison only, printed (written only with --output)."
        ),
    )
    which = bench.add_mutually_exclusive_group()
    which.add_argument("--quick", action="store_true", help="the seed comparison only")
    which.add_argument("--data", action="store_true", help="the data-plane benchmark only")
    which.add_argument("--core", action="store_true", help="the core benchmark only")
    bench.add_argument(
        "--workers", type=_positive_int, default=2, metavar="N", help="max_workers (default 2)"
    )
    bench.add_argument(
        "--repeat",
        type=_positive_int,
        default=None,
        metavar="N",
        help=(
            "repeats, medians are shown (default 5 for the core benchmark, 3 for the "
            "data-plane one; with --quick up to 3 in ~20 s)"
        ),
    )
    bench.add_argument(
        "--output",
        metavar="DIR",
        default=None,
        help="directory for the result files (default: benchmarks/results)",
    )
    bench.add_argument("--json", action="store_true", help="print JSON instead of tables")
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its status."""
    args = _parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())

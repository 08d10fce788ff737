"""Command line: ``python -m interpool COMMAND`` (also installed as ``interpool``).

Commands:

* ``bench``: benchmarks against the standard library's executors (by default the
  seed comparison with its chart; ``--quick`` for a smaller one in under a minute;
  ``--core``, ``--data``, ``--all``; see ``benchmarks/README.md``).
* ``doctor``: which modules import in a sub-interpreter (an interpool worker), and what
  to do about those that do not (see ``interpool._tools.doctor``).

Each command adds its parser in its own ``_add_<command>`` function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


# -- bench ------------------------------------------------------------------------------

_BENCH_DESCRIPTION = """\
By default: the seed comparison. Four workloads (primes: is_prime over the six seed
numbers; bytes: the same, each task returning 100 MiB; pbkdf2: hashlib.pbkdf2_hmac,
which releases the GIL; tiny: 10,000 tasks x + 1), each run by a plain loop and by
ThreadPoolExecutor, ProcessPoolExecutor, InterpreterPoolExecutor (Python 3.14+) and
interpool.Pool, every executor fresh (start-up included) then reused; medians of
--repeat rounds. Prints a table (progress on stderr) and writes DIR/seed-<python>.json,
.txt and .png (the chart; needs matplotlib: pip install 'interpool[bench]').
--quick: the same with smaller inputs in under a minute, written to
DIR/quick-<python>.*. --core: the core benchmark (round trip, map throughput, idle
CPU, async, coroutines, channels) to DIR/core-<python>.json/.txt. --data: the
data-plane benchmark (large results, payload throughput, container arguments) to
DIR/data-<python>.json/.txt. --all: the seed comparison, then --core, then --data.
"""


def _bench(args: argparse.Namespace) -> int:
    from interpool._tools.bench import main as bench_main

    if args.only is not None and (args.core or args.data):
        args.parser.error("--only applies to the seed comparison, not to --core or --data")
    return bench_main(
        quick=args.quick,
        data=args.data,
        core_only=args.core,
        everything=args.all,
        workers=args.workers,
        repeat=args.repeat,
        output=args.output,
        json_out=args.json,
        only=args.only,
        trace=args.trace,
    )


def _only_names(text: str) -> str:
    """Validate one ``--only`` value as it is parsed: unknown names are a usage error
    that lists the valid ones."""
    from interpool._tools.bench.compare import parse_only

    try:
        parse_only([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_bench(commands: Any) -> None:
    """The ``bench`` subcommand."""
    bench = commands.add_parser(
        "bench",
        help="benchmark interpool against the standard library's executors",
        description=_BENCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = bench.add_mutually_exclusive_group()
    which.add_argument(
        "--quick", action="store_true", help="the seed comparison, smaller: under a minute"
    )
    which.add_argument("--core", action="store_true", help="the core benchmark only")
    which.add_argument("--data", action="store_true", help="the data-plane benchmark only")
    which.add_argument(
        "--all", action="store_true", help="the seed comparison, then --core, then --data"
    )
    bench.add_argument(
        "--only",
        action="append",
        type=_only_names,
        metavar="NAMES",
        help=(
            "seed comparison only: run just these workloads and/or executors, "
            "comma-separated, in any mix (repeatable). Workloads: primes, bytes, pbkdf2, "
            "tiny; executors: loop, thread, process, ipe, interpool. Unnamed kinds mean "
            "all of them; the loop always runs (it is the baseline). "
            "Example: --only primes,tiny --only interpool,ipe"
        ),
    )
    bench.add_argument(
        "--workers", type=_positive_int, default=2, metavar="N", help="max_workers (default 2)"
    )
    bench.add_argument(
        "--repeat",
        type=_positive_int,
        default=None,
        metavar="N",
        help=(
            "rounds; tables show the median and the min-max spread (default 3 for the "
            "seed comparison, with --quick up to 3 within 30 s; 5 for --core, 3 for --data)"
        ),
    )
    bench.add_argument(
        "--output",
        metavar="DIR",
        default=None,
        help="directory for the result files (default: ./interpool-bench)",
    )
    bench.add_argument(
        "--trace",
        metavar="DIR",
        default=None,
        help=(
            "write a timeline of each interpool.Pool the benchmarks make to "
            "DIR/interpool-<python>-<n>.json (Chrome trace-event JSON: open it in "
            "ui.perfetto.dev or chrome://tracing)"
        ),
    )
    bench.add_argument("--json", action="store_true", help="print JSON instead of tables")
    bench.set_defaults(handler=_bench, parser=bench)


# -- doctor -----------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _doctor(args: argparse.Namespace) -> int:
    from interpool._tools.doctor import main as doctor_main

    return doctor_main(
        args.modules,
        requirements=args.requirement,
        everything=args.all,
        json_out=args.json,
        timeout=args.timeout,
        jobs=args.jobs,
        exit_on_timeout=True,
    )


def _add_doctor(commands: Any) -> None:
    """The ``doctor`` subcommand."""
    from interpool._tools.doctor import DEFAULT_TIMEOUT

    doctor = commands.add_parser(
        "doctor",
        help="which modules can be imported in an interpool worker (a sub-interpreter)",
        description=(
            "Import each module in a fresh isolated sub-interpreter, as an interpool "
            "worker would, and report which import, which refuse sub-interpreters, "
            "which fail for another reason or are not installed, with the error and "
            "what to do. Modules: the names given (import names, or installed "
            "distribution names), the requirements of -r files, or with --all every "
            "installed distribution's top-level modules. Nothing is imported in this "
            "process. Exit status: 0 if every module imports, 1 if not, 2 for a usage "
            "error."
        ),
    )
    doctor.add_argument("modules", nargs="*", metavar="MODULE", help="modules to check")
    doctor.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        metavar="FILE",
        help="check the distributions a pip requirements file names (may be repeated)",
    )
    doctor.add_argument(
        "--all", action="store_true", help="check every installed distribution's modules"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON instead of a table")
    doctor.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time limit of each import (default {DEFAULT_TIMEOUT:g})",
    )
    doctor.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="imports checked at a time (default: twice the CPU count, at most 8)",
    )
    doctor.set_defaults(handler=_doctor)


# -- the command line -------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m interpool",
        description="interpool: a pool of reusable sub-interpreters.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_bench(commands)
    _add_doctor(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its status."""
    args = _parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())

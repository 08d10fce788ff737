"""The core benchmark: ``interpool.Pool`` against ``ThreadPoolExecutor``,
``ProcessPoolExecutor`` and ``InterpreterPoolExecutor``, in one run.

Sections (see ``benchmarks/README.md`` for what each measures and why):

a. ``round_trip``: ``ex.submit(inc, x).result()`` one call after another;
b. ``map``: throughput of ``list(ex.map(inc, range(n)))``;
c. ``seed``: ``is_prime`` over the seed numbers, speed-up over a plain loop;
d. ``idle``: CPU the process burns while a pool sits idle;
e. ``async``: ``await pool.run(inc, x)`` against ``loop.run_in_executor``;
f. ``coroutines``: many I/O-bound coroutines at once (interpool runs them on its
   workers' event loops; the others need one worker per waiting task);
g. ``channels``: ping-pong over interpool channels against ``queue.Queue`` between
   threads and ``concurrent.interpreters.Queue`` (see :mod:`.channels`);
h. ``script_functions``: round trips and first calls of a function of a script that
   workers do not load (sent by value, kept per worker) beside a module function's
   and a lambda's (see :mod:`.script_functions`).

Each figure is the median of ``repeat`` measurements, taken in rotating executor
order so that a noisy neighbour hurts every executor alike; ratios compare medians
of the same run.  The results go to stdout (a table, or JSON with ``--json``) and to
``benchmarks/results/core-<python>.json`` and ``.txt``.

The first part of this module holds the helpers that :mod:`.compare` and
:mod:`.data` share.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import faulthandler
import gc
import heapq
import itertools
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, Self

from .workloads import PRIMES, inc, io_wait, io_wait_blocking, is_prime

__all__ = [
    "ALL_KINDS",
    "HAVE_IPE",
    "IPE_MISSING",
    "KINDS",
    "LABELS",
    "Kind",
    "Row",
    "Stat",
    "format_table",
    "machine_info",
    "main",
    "make_executor",
    "run",
    "run_sections",
]

type Kind = Literal["thread", "process", "ipe", "interpool"]

#: Whether ``concurrent.futures.InterpreterPoolExecutor`` exists (Python 3.14+).
HAVE_IPE = sys.version_info >= (3, 14)

#: Why its rows are missing on Python 3.13 (shown under tables and in the JSON).
IPE_MISSING = (
    f"InterpreterPoolExecutor: skipped, Python {sys.version_info.major}."
    f"{sys.version_info.minor} has none (it is new in 3.14)"
)

#: Every executor the benchmarks know, in table order.
ALL_KINDS: tuple[Kind, ...] = ("thread", "process", "ipe", "interpool")


def available[K: str](kinds: Sequence[K]) -> tuple[K, ...]:
    """``kinds`` without those this Python lacks (``ipe`` on 3.13), order kept."""
    return tuple(k for k in kinds if HAVE_IPE or k != "ipe")


#: The executors under test on this Python, in table order.
KINDS: tuple[Kind, ...] = available(ALL_KINDS)

LABELS: dict[str, str] = {
    "loop": "for loop",
    "thread": "ThreadPoolExecutor",
    "process": "ProcessPoolExecutor",
    "ipe": "InterpreterPoolExecutor",
    "interpool": "interpool.Pool",
}

_WORKLOADS = "interpool._tools.bench.workloads"

# =====================================================================================
# Shared helpers
# =====================================================================================


@cache
def ipe_needs_path() -> bool:
    """Whether a fresh sub-interpreter fails to import the workloads module.

    ``InterpreterPoolExecutor`` workers start with the interpreter's initial
    ``sys.path``, not the caller's current one (CPython gh-126714).  With interpool
    installed (even editable: its ``.pth`` file is processed by ``site`` in every
    interpreter) this is False; it is True when the package is only reachable
    through a ``sys.path`` entry added at run time.  Always False on Python 3.13,
    which has no ``InterpreterPoolExecutor``."""
    if not HAVE_IPE:
        return False
    from interpool._platform import interpreters

    interp = interpreters.create()
    try:
        interp.exec(f"import {_WORKLOADS}")
    except interpreters.ExecutionFailed:
        return True
    finally:
        interp.close()
    return False


def process_context() -> multiprocessing.context.BaseContext | None:
    """The start method of ``ProcessPoolExecutor`` workers: the default, except where
    that is ``fork`` (Python 3.13 on Linux), which is replaced by ``forkserver``
    (3.14's default there): forking a process while interpool's sub-interpreters run
    crashes the child (``PyThreadState_Get: ... the GIL is released``), and the same
    start method on every Python keeps the figures comparable."""
    if sys.version_info >= (3, 14) or sys.platform in ("win32", "darwin"):
        return None
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("forkserver")


def make_executor(kind: Kind, workers: int) -> Executor:
    """A fresh executor of ``kind`` with ``workers`` workers and default settings."""
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers)
    if kind == "process":
        return ProcessPoolExecutor(max_workers=workers, mp_context=process_context())
    if kind == "ipe":
        if sys.version_info < (3, 14):
            raise RuntimeError(IPE_MISSING)
        from concurrent.futures import InterpreterPoolExecutor  # type: ignore[attr-defined,unused-ignore]

        if ipe_needs_path():
            # Give each worker the caller's sys.path before its first task; ``exec``
            # is a builtin, so it reaches the worker by name.
            path = [p for p in sys.path if isinstance(p, str)]
            script = f"import sys; sys.path[:] = {path!r}"
            return InterpreterPoolExecutor(
                max_workers=workers, initializer=exec, initargs=(script,)
            )
        return InterpreterPoolExecutor(max_workers=workers)
    from interpool import Pool

    return Pool(max_workers=workers, trace=trace_path())


def rotated[T](items: Sequence[T], shift: int) -> list[T]:
    """``items`` rotated left by ``shift``: each repeat starts with another executor."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


@dataclass
class Stat:
    """Repeated measurements of one quantity; tables show the median."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def to_json(self) -> dict[str, Any]:
        if not self.samples:
            return {"median": None, "min": None, "max": None, "samples": []}
        return {
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
            "samples": list(self.samples),
        }


@dataclass
class Row:
    """One line of a section: a measured quantity and how it was measured."""

    key: str
    label: str
    stat: Stat = field(default_factory=Stat)
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self, **extra: Any) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.info, **self.stat.to_json(), **extra}


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def progress(message: str) -> None:
    """Progress goes to stderr, so that stdout holds only the table (or the JSON)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def python_tag() -> str:
    """``3.14`` etc.: the suffix of the result files."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _checkout_root() -> Path | None:
    """The source checkout this package runs from (src layout), if it is one."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def _git_revision() -> dict[str, Any] | None:
    root = _checkout_root()
    if root is None or not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def machine_info() -> dict[str, Any]:
    """What the numbers depend on, for the JSON results."""
    import interpool

    is_gil_enabled: Callable[[], bool] | None = getattr(sys, "_is_gil_enabled", None)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "python_full": sys.version,
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "gil_enabled": True if is_gil_enabled is None else is_gil_enabled(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "process_cpu_count": os.process_cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "interpool_version": interpool.__version__,
        "git": _git_revision(),
        "ipe_workers_need_sys_path": ipe_needs_path() if HAVE_IPE else None,
        "have_interpreter_pool_executor": HAVE_IPE,
        # ProcessPoolExecutor's, as make_executor sets it (getting the default context
        # fixes it, as the executor itself would).
        "process_start_method": (
            process_context() or multiprocessing.get_context()
        ).get_start_method(),
    }


def machine_line(info: dict[str, Any], workers: int, repeat: int) -> str:
    load = info["load_average"]
    load_text = "n/a" if load is None else f"{load[0]:.2f}"
    return (
        f"Python {info['python']} ({'GIL' if info['gil_enabled'] else 'free-threaded'}), "
        f"{info['cpu_count']} CPUs, {info['platform']}, load {load_text}; "
        f"workers={workers}, {'medians of ' if repeat > 1 else ''}{plural(repeat, 'repeat')}; "
        f"{info['date']}"
    )


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


#: Where result files go without ``--output``: a folder of the bench's own in the
#: current directory (``make bench`` passes ``--output benchmarks/results``).
DEFAULT_OUTPUT = "interpool-bench"


def output_dir(output: str | None) -> Path:
    """``--output``, else :data:`DEFAULT_OUTPUT` in the current directory."""
    return Path(DEFAULT_OUTPUT if output is None else output)


#: ``--trace DIR``: where each ``interpool.Pool`` the benchmarks make writes its
#: timeline (``Pool(trace=...)``); ``None``: no traces.
trace_dir: Path | None = None
_traces = itertools.count(1)


def trace_path() -> Path | None:
    """The trace file of the next pool (``DIR/interpool-<python>-<n>.json``), or
    ``None`` without ``--trace``."""
    if trace_dir is None:
        return None
    trace_dir.mkdir(parents=True, exist_ok=True)
    return trace_dir / f"interpool-{python_tag()}-{next(_traces)}.json"


def write_results(directory: Path, stem: str, document: dict[str, Any], text: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}.json"
    text_path = directory / f"{stem}.txt"
    json_path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    text_path.write_text(text + "\n")
    return [json_path, text_path]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(w) for cell, w in zip(rest, widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def fmt(value: float) -> str:
    """Three significant figures (more for big numbers), thousands separated."""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_x(value: float) -> str:
    """A ratio, as ``3.21x``."""
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def fmt_range(stat: Stat) -> str:
    if not stat.samples:
        return "n/a"
    return f"{fmt(min(stat.samples))}-{fmt(max(stat.samples))}"


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """If the block runs longer than ``seconds``, print every thread's traceback to
    stderr, kill the worker processes and exit with status 1: a hung executor must
    fail the run, not stall it (nor leave orphans).  A C-level ``faulthandler`` timer
    backs this up in case the stuck code never lets the watchdog thread run."""
    done = threading.Event()

    def fire() -> None:
        if done.wait(seconds):
            return
        progress(f"watchdog: still running after {seconds:.0f} s; every thread's stack:")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for child in multiprocessing.active_children():
            child.kill()
        sys.stderr.flush()
        os._exit(1)

    thread = threading.Thread(target=fire, name="bench-watchdog", daemon=True)
    thread.start()
    faulthandler.dump_traceback_later(seconds + 30, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        done.set()
        thread.join()


class OtherCpu:
    """How much CPU other processes used during a block: the machine's busy time
    (``/proc/stat``) minus that of this process and its descendants (including
    ``ProcessPoolExecutor`` workers, whose forkserver collects the time of those that
    exited).  Linux only; ``percent`` stays None elsewhere.  Anything above a few
    percent means the figures of that block were disturbed."""

    def __init__(self) -> None:
        self.percent: float | None = None
        self._start: tuple[int, int] | None = None
        self._wall = 0.0

    def __enter__(self) -> Self:
        self._start = _cpu_ticks()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end = _cpu_ticks()
        wall = time.perf_counter() - self._wall
        cpus = os.cpu_count() or 1
        if self._start is None or end is None or wall <= 0:
            return
        busy = end[0] - self._start[0]
        own = end[1] - self._start[1]
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        other = max(busy - own, 0) / ticks_per_second
        self.percent = min(100.0, 100.0 * other / (wall * cpus))

    def describe(self) -> str:
        if self.percent is None:
            return ""
        verdict = " (disturbed)" if self.percent > OTHER_CPU_DISTURBED else ""
        return f"other processes used {self.percent:.0f}% of the CPUs meanwhile{verdict}"


#: Above this share of the CPUs used by other processes, a block counts as disturbed.
OTHER_CPU_DISTURBED = 5.0


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy clock ticks of the machine, clock ticks of this process and its
    descendants), or None where ``/proc`` does not tell."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
        busy = sum(values) - values[3] - values[4]  # minus idle and iowait
        parents: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # exited meanwhile
            fields = stat[stat.rindex(")") + 2 :].split()
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            ticks[pid] = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    except (OSError, ValueError, IndexError):
        return None
    me = os.getpid()
    own = 0
    for pid, t in ticks.items():
        p = pid
        while p > 1 and p != me:
            p = parents.get(p, 0)
        if p == me:
            own += t
    return busy, own


def note_lines(notes: Sequence[str]) -> list[str]:
    """Notes under a table, wrapped to 100 columns."""
    lines: list[str] = []
    for note in notes:
        lines += textwrap.wrap(note, 100, initial_indent="  note: ", subsequent_indent=" " * 8)
    return lines


def list_schedule(durations: Sequence[float], workers: int) -> float:
    """Makespan of running ``durations`` in order, each on the first free worker: what
    any pool achieves at best with one task per item (``chunksize=1``)."""
    free = [0.0] * workers
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


def ceiling_speedup(durations: Sequence[float], workers: int) -> float:
    """The best speed-up over a loop that runs ``durations`` one after another: list
    scheduling on ``workers`` workers, and never more than the CPUs available."""
    cpus = os.process_cpu_count() or workers
    return min(ratio(sum(durations), list_schedule(durations, workers)), float(cpus))


def time_loop(numbers: Sequence[int]) -> tuple[float, list[float], list[bool]]:
    """The plain ``for`` loop: total seconds, seconds per item, results."""
    per_item: list[float] = []
    results: list[bool] = []
    perf = time.perf_counter
    start = perf()
    for n in numbers:
        t = perf()
        results.append(is_prime(n))
        per_item.append(perf() - t)
    return perf() - start, per_item, results


# =====================================================================================
# The core benchmark
# =====================================================================================

ROUND_TRIP_CALLS = 2_000
WARMUP_CALLS = 200
MAP_TASKS = 100_000
MAP_TASKS_SLOW = 10_000
IDLE_SECONDS = 1.0
BURST_TASKS = 5_000
SEED_COPIES = 2
#: Watchdog of one section: this many seconds, plus as many per repeat.
SECTION_TIMEOUT = (120.0, 60.0)


@dataclass
class Target:
    """A figure the table shows against its goal; nothing asserts it."""

    key: str
    description: str
    goal: float
    measured: float

    @property
    def met(self) -> bool:
        return self.measured >= self.goal

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "description": self.description,
            "goal": self.goal,
            "measured": self.measured,
            "met": self.met,
        }


@dataclass
class Section:
    key: str
    title: str
    unit: str
    better: Literal["lower", "higher"]
    rows: list[Row]
    reference: str | None
    text: str = ""
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def advantage(self, row: Row) -> float:
        """How many times better the reference row (interpool) is than ``row``."""
        ref = self.row(self.reference).stat.median if self.reference else float("nan")
        if self.better == "lower":
            return ratio(row.stat.median, ref)
        return ratio(ref, row.stat.median)

    def row(self, key: str | None) -> Row:
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            extra = {}
            if self.reference is not None:
                extra["interpool_advantage"] = _finite(self.advantage(row))
            rows.append(row.to_json(**extra))
        return {
            "title": self.title,
            "unit": self.unit,
            "better": self.better,
            "reference": self.reference,
            "rows": rows,
            "notes": self.notes,
            **self.extra,
        }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _render(section: Section, value_header: str) -> str:
    headers = ["", value_header, "min-max"]
    if section.reference is not None:
        headers.append("interpool is")
    lines = []
    for row in section.rows:
        cells = [row.label, fmt(row.stat.median), fmt_range(row.stat)]
        if section.reference is not None:
            cells.append("(reference)" if row.key == section.reference else _better(section, row))
        lines.append(cells)
    return format_table(headers, lines)


def _better(section: Section, row: Row) -> str:
    return fmt_advantage(section.advantage(row))


def fmt_advantage(value: float) -> str:
    """``2.00`` -> ``2.00x faster``; ``0.50`` -> ``2.00x slower``."""
    if math.isnan(value) or value <= 0:
        return "n/a"
    return f"{value:.2f}x faster" if value >= 1 else f"{1 / value:.2f}x slower"


@contextlib.contextmanager
def executors(workers: int, kinds: Sequence[Kind] = KINDS) -> Iterator[dict[Kind, Executor]]:
    """One warm executor of each kind, all shut down (waiting) on exit."""
    with contextlib.ExitStack() as stack:
        pools: dict[Kind, Executor] = {}
        for kind in kinds:
            pools[kind] = stack.enter_context(make_executor(kind, workers))
        yield pools


def _warm_up(ex: Executor, workers: int) -> None:
    """Start every worker and make it import the workloads."""
    for _ in range(3):
        futures = [ex.submit(inc, i) for i in range(4 * workers)]
        for f in futures:
            f.result()
    for i in range(WARMUP_CALLS):
        ex.submit(inc, i).result()


# -- a. round trip ----------------------------------------------------------------


def bench_round_trip(workers: int, repeat: int, calls: int = ROUND_TRIP_CALLS) -> Section:
    rows = {kind: Row(kind, LABELS[kind], info={"calls": calls}) for kind in KINDS}
    with executors(workers) as pools:
        for ex in pools.values():
            _warm_up(ex, workers)
        for r in range(repeat):
            progress(f"a. round trip, repeat {r + 1}/{repeat}")
            for kind in rotated(KINDS, r):
                ex = pools[kind]
                gc.collect()
                start = time.perf_counter()
                for x in range(calls):
                    ex.submit(inc, x).result()
                rows[kind].stat.add((time.perf_counter() - start) / calls * 1e6)
    section = Section(
        "round_trip",
        f"a. Round trip: ex.submit(inc, x).result(), {calls:,} calls one after another",
        "us_per_call",
        "lower",
        list(rows.values()),
        "interpool",
        extra={"calls": calls, "workers": workers},
    )
    section.text = _render(section, "us/call")
    return section


# -- b. map throughput ------------------------------------------------------------


def bench_map(workers: int, repeat: int) -> Section:
    configs: list[tuple[str, Kind, str, int, int | None]] = [
        ("thread", "thread", "ThreadPoolExecutor", MAP_TASKS, None),
        ("process", "process", "ProcessPoolExecutor (chunksize=1)", MAP_TASKS_SLOW, None),
        ("process_256", "process", "ProcessPoolExecutor (chunksize=256)", MAP_TASKS, 256),
        ("ipe", "ipe", "InterpreterPoolExecutor", MAP_TASKS_SLOW, None),
        ("interpool_1", "interpool", "interpool.Pool (chunksize=1)", MAP_TASKS, 1),
        ("interpool", "interpool", "interpool.Pool (automatic)", MAP_TASKS, None),
    ]
    configs = [c for c in configs if c[1] in KINDS]
    rows = {
        key: Row(key, label, info={"executor": kind, "tasks": n, "chunksize": chunksize})
        for key, kind, label, n, chunksize in configs
    }
    with executors(workers) as pools:
        for ex in pools.values():
            _warm_up(ex, workers)
        for _, kind, _, _, chunksize in configs:
            _map(pools[kind], 2_000, chunksize)
        for r in range(repeat):
            progress(f"b. map throughput, repeat {r + 1}/{repeat}")
            for key, kind, _, n, chunksize in rotated(configs, r):
                gc.collect()
                elapsed = _map(pools[kind], n, chunksize)
                rows[key].stat.add(n / elapsed)
    section = Section(
        "map",
        "b. Throughput: list(ex.map(inc, range(n))), tasks per second",
        "tasks_per_second",
        "higher",
        list(rows.values()),
        "interpool",
        notes=[
            f"n = {MAP_TASKS:,}, or {MAP_TASKS_SLOW:,} for the rows that send one task per item "
            "through pickle (ProcessPoolExecutor's default chunksize=1; "
            "InterpreterPoolExecutor, whose map ignores chunksize); rates are per task.",
            "ProcessPoolExecutor (chunksize=256) is not a default: it is there to compare "
            "batching with batching (interpool's automatic chunksize is "
            "min(n // (8 * workers), 256)).",
        ],
        extra={"workers": workers},
    )
    section.text = _render(section, "tasks/s")
    return section


def _map(ex: Executor, n: int, chunksize: int | None) -> float:
    start = time.perf_counter()
    if chunksize is None:
        out = list(ex.map(inc, range(n)))
    else:
        out = list(ex.map(inc, range(n), chunksize=chunksize))
    elapsed = time.perf_counter() - start
    if len(out) != n or out[-1] != n:
        raise AssertionError(f"{type(ex).__name__}.map returned wrong results")
    return elapsed


# -- c. seed workload -------------------------------------------------------------


def bench_seed(workers: int, repeat: int) -> Section:
    """``is_prime`` over the seed numbers on warm pools, and over the seed numbers
    repeated (which two workers can split evenly), against the plain loop."""
    doubled = PRIMES * SEED_COPIES
    tag = f"x{SEED_COPIES}"
    kinds_doubled: tuple[Kind, ...] = available(("process", "ipe", "interpool"))
    rows: dict[str, Row] = {"loop": Row("loop", LABELS["loop"], info={"numbers": len(PRIMES)})}
    for kind in KINDS:
        rows[kind] = Row(kind, LABELS[kind], info={"numbers": len(PRIMES)})
    rows[f"loop_{tag}"] = Row(
        f"loop_{tag}", f"for loop, seed {tag}", info={"numbers": len(doubled)}
    )
    for kind in kinds_doubled:
        rows[f"{kind}_{tag}"] = Row(
            f"{kind}_{tag}", f"{LABELS[kind]}, seed {tag}", info={"numbers": len(doubled)}
        )
    per_item = [Stat() for _ in PRIMES]
    with executors(workers) as pools:
        for ex in pools.values():
            _warm_up(ex, workers)
            list(ex.map(is_prime, [1_000_003] * (4 * workers)))
        for r in range(repeat):
            progress(f"c. seed workload, repeat {r + 1}/{repeat}")
            elapsed, items, loop_results = time_loop(PRIMES)
            rows["loop"].stat.add(elapsed)
            for stat, t in zip(per_item, items, strict=True):
                stat.add(t)
            for kind in rotated(KINDS, r):
                gc.collect()
                start = time.perf_counter()
                out = list(pools[kind].map(is_prime, PRIMES))
                rows[kind].stat.add(time.perf_counter() - start)
                if out != loop_results:
                    raise AssertionError(f"{kind}: wrong is_prime results")
            rows[f"loop_{tag}"].stat.add(time_loop(doubled)[0])
            for kind in rotated(kinds_doubled, r):
                gc.collect()
                start = time.perf_counter()
                out = list(pools[kind].map(is_prime, doubled))
                rows[f"{kind}_{tag}"].stat.add(time.perf_counter() - start)
                if out != loop_results * SEED_COPIES:
                    raise AssertionError(f"{kind}: wrong is_prime results")
    medians = [s.median for s in per_item]
    ceiling = ceiling_speedup(medians, workers)
    ceiling_doubled = ceiling_speedup(medians * SEED_COPIES, workers)
    section = Section(
        "seed",
        f"c. Seed workload: list(ex.map(is_prime, PRIMES)) on a warm pool, {workers} workers",
        "seconds",
        "lower",
        list(rows.values()),
        "interpool",
        notes=[
            f"Ceiling: the {len(PRIMES)} numbers are 5 of ~{fmt(medians[0])} s and 1 of "
            f"~{fmt(medians[-1])} s, taken in order by {workers} workers: no pool can beat "
            f"{fmt_x(ceiling)} over the loop with one task per number "
            f"({fmt_x(ceiling_doubled)} for seed {tag}, {len(doubled)} numbers); a figure above "
            "its ceiling means the loop's own timing was noisy.",
            f"seed {tag} = PRIMES * {SEED_COPIES}, which can be split evenly; "
            "ThreadPoolExecutor is left out there (it runs one task at a time under the GIL).",
        ],
        extra={
            "workers": workers,
            "seconds_per_number": [s.to_json() for s in per_item],
            "ceiling_speedup": _finite(ceiling),
            f"ceiling_speedup_{tag}": _finite(ceiling_doubled),
        },
    )
    table = []
    for row in section.rows:
        loop = rows[f"loop_{tag}" if row.key.endswith(tag) else "loop"].stat.median
        speedup = ratio(loop, row.stat.median)
        row.info["speedup_vs_loop"] = _finite(speedup)
        # Best-of figures: noise only ever adds time to CPU-bound runs.
        best_loop = min(rows[f"loop_{tag}" if row.key.endswith(tag) else "loop"].stat.samples)
        row.info["speedup_vs_loop_best"] = _finite(ratio(best_loop, min(row.stat.samples)))
        reference = rows[f"interpool_{tag}" if row.key.endswith(tag) else "interpool"]
        adv = ratio(row.stat.median, reference.stat.median)
        is_ref = row is reference
        table.append(
            [
                row.label,
                fmt(row.stat.median),
                fmt_range(row.stat),
                fmt_x(speedup),
                "(reference)" if is_ref else fmt_advantage(adv),
            ]
        )
    section.text = format_table(["", "seconds", "min-max", "vs loop", "interpool is"], table)
    return section


# -- d. idle CPU ------------------------------------------------------------------


def idle_cpu_ms(seconds: float = IDLE_SECONDS) -> tuple[float, float]:
    """Sleep ``seconds``; return (CPU ms the whole process used per second, wall s)."""
    cpu = time.process_time()
    wall = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - wall
    return (time.process_time() - cpu) * 1e3 / wall, wall


def _burst(ex: Executor, n: int = BURST_TASKS) -> None:
    futures = [ex.submit(inc, i) for i in range(n)]
    for f in futures:
        f.result()


def bench_idle(workers: int, repeat: int) -> Section:
    rows = {
        "none": Row("none", "no executor (the measurement itself)"),
        "interpool_fresh": Row("interpool_fresh", "interpool, new Pool + 1 task"),
        "interpool_one": Row("interpool_one", "interpool, after 1 task"),
        "interpool_burst": Row("interpool_burst", f"interpool, after {BURST_TASKS:,} tasks"),
        "ipe_burst": Row("ipe_burst", f"InterpreterPoolExecutor, after {BURST_TASKS:,} tasks"),
        "thread_burst": Row("thread_burst", f"ThreadPoolExecutor, after {BURST_TASKS:,} tasks"),
    }
    if not HAVE_IPE:
        del rows["ipe_burst"]
    walls: list[float] = []

    def measure(key: str) -> None:
        gc.collect()
        value, wall = idle_cpu_ms()
        rows[key].stat.add(value)
        walls.append(wall)

    from interpool import Pool

    with Pool(workers) as pool:
        _warm_up(pool, workers)
        time.sleep(0.2)
        for r in range(repeat):
            progress(f"d. idle CPU, repeat {r + 1}/{repeat}")
            measure("none")
            with Pool(workers) as fresh:
                fresh.submit(inc, 1).result()
                measure("interpool_fresh")
            pool.submit(inc, 1).result()
            measure("interpool_one")
            _burst(pool)
            measure("interpool_burst")
    reference_kinds: tuple[Kind, ...] = available(("ipe", "thread"))
    for kind in reference_kinds:
        progress(f"d. idle CPU, {LABELS[kind]}")
        with make_executor(kind, workers) as ex:
            _warm_up(ex, workers)
            _burst(ex)
            measure(f"{kind}_burst")
    section = Section(
        "idle",
        f"d. Idle CPU: process CPU time while sleeping {IDLE_SECONDS} s beside an idle pool",
        "cpu_ms_per_idle_second",
        "lower",
        list(rows.values()),
        None,
        notes=[
            "'new Pool + 1 task' sleeps right after the first result: the other workers may "
            "still be starting (creating their interpreter, importing), which is counted.",
            "The reference executors are measured once (one sample) after a burst; "
            "ProcessPoolExecutor is left out (its workers' CPU is not this process's).",
        ],
        extra={"idle_seconds": IDLE_SECONDS, "burst_tasks": BURST_TASKS, "wall_seconds": walls},
    )
    section.text = _render(section, "CPU ms/s")
    return section


# -- e. async round trip ----------------------------------------------------------


async def _async_round_trip(
    pools: dict[Kind, Executor], rows: dict[str, Row], rounds: range, calls: int
) -> None:
    """asyncio rows: ``await pool.run`` and ``run_in_executor`` of every executor, in
    an order that rotates from round to round."""
    from interpool import Pool

    pool = pools["interpool"]
    assert isinstance(pool, Pool)
    loop = asyncio.get_running_loop()

    async def via_run(n: int) -> None:
        for x in range(n):
            await pool.run(inc, x)

    def via_executor(ex: Executor) -> Callable[[int], Any]:
        async def go(n: int) -> None:
            for x in range(n):
                await loop.run_in_executor(ex, inc, x)

        return go

    runners: dict[str, Callable[[int], Any]] = {"interpool_run": via_run}
    for kind in KINDS:
        runners[kind] = via_executor(pools[kind])
    for runner in runners.values():
        await runner(WARMUP_CALLS)
    keys = list(runners)
    for r in rounds:
        for key in rotated(keys, r):
            gc.collect()
            start = time.perf_counter()
            await runners[key](calls)
            rows[key].stat.add((time.perf_counter() - start) / calls * 1e6)


async def _trio_round_trip(pool: Executor, rows: dict[str, Row], r: int, calls: int) -> None:
    """trio rows: ``await pool.run`` and ``trio.to_thread.run_sync`` (trio's own
    thread offload, its counterpart of ``run_in_executor(ThreadPoolExecutor)``)."""
    import trio

    from interpool import Pool

    assert isinstance(pool, Pool)

    async def via_run(n: int) -> None:
        for x in range(n):
            await pool.run(inc, x)

    async def via_thread(n: int) -> None:
        for x in range(n):
            await trio.to_thread.run_sync(inc, x)

    runners: dict[str, Callable[[int], Any]] = {"trio_run": via_run, "trio_thread": via_thread}
    for runner in runners.values():
        await runner(WARMUP_CALLS)
    for key in rotated(list(runners), r):
        gc.collect()
        start = time.perf_counter()
        await runners[key](calls)
        rows[key].stat.add((time.perf_counter() - start) / calls * 1e6)


def _have_trio() -> bool:
    try:
        import trio  # noqa: F401
    except ImportError:
        return False
    return True


def bench_async(workers: int, repeat: int, calls: int = ROUND_TRIP_CALLS) -> Section:
    rows = {"interpool_run": Row("interpool_run", "await pool.run(inc, x)")}
    for kind in KINDS:
        rows[kind] = Row(kind, f"run_in_executor({LABELS[kind]})")
    trio_ok = _have_trio()
    if trio_ok:
        rows["trio_run"] = Row("trio_run", "trio: await pool.run(inc, x)")
        rows["trio_thread"] = Row("trio_thread", "trio: await trio.to_thread.run_sync(inc, x)")
    with executors(workers) as pools:
        for ex in pools.values():
            _warm_up(ex, workers)
        for r in range(repeat):
            progress(f"e. async round trip, repeat {r + 1}/{repeat}")
            asyncio.run(_async_round_trip(pools, rows, range(r, r + 1), calls))
            if trio_ok:
                import trio

                trio.run(_trio_round_trip, pools["interpool"], rows, r, calls)
    section = Section(
        "async",
        f"e. Async round trip: one awaited call after another, {calls:,} calls",
        "us_per_call",
        "lower",
        list(rows.values()),
        "interpool_run",
        notes=[
            "Each repeat runs every asyncio row in one asyncio.run() (order rotating), "
            "then the trio rows in one trio.run(). trio's counterpart of "
            "run_in_executor(ThreadPoolExecutor) is trio.to_thread.run_sync.",
        ],
        extra={"calls": calls, "workers": workers},
    )
    section.text = _render(section, "us/call")
    return section


# -- f. coroutines -----------------------------------------------------------------

#: How many I/O-bound coroutines, and how long each waits.
COROUTINES = 200
COROUTINE_WAIT = 0.02


def bench_coroutines(
    workers: int, repeat: int, n: int = COROUTINES, wait: float = COROUTINE_WAIT
) -> Section:
    """``n`` tasks that each wait ``wait`` seconds on an event loop, all submitted at
    once: interpool runs ``async def`` tasks on its workers' event loops, so a worker
    waits for many at a time; the standard executors run ``asyncio.run`` per task."""
    rows: dict[Kind, Row] = {"interpool": Row("interpool", "interpool.Pool, async def task")}
    for kind in KINDS[:-1]:
        rows[kind] = Row(kind, f"{LABELS[kind]}, asyncio.run per task")
    repeat = min(repeat, 3)
    with executors(workers) as pools:
        for ex in pools.values():
            _warm_up(ex, workers)
        for ex in pools.values():  # import asyncio everywhere before timing
            fn = io_wait if ex is pools["interpool"] else io_wait_blocking
            list(ex.map(fn, [0.0] * workers * 2, chunksize=1))
        for r in range(repeat):
            progress(f"f. coroutines, repeat {r + 1}/{repeat}")
            for kind in rotated(list(rows), r):
                ex = pools[kind]
                fn = io_wait if kind == "interpool" else io_wait_blocking
                gc.collect()
                start = time.perf_counter()
                futures = [ex.submit(fn, wait) for _ in range(n)]
                for future in futures:
                    future.result()
                rows[kind].stat.add(n / (time.perf_counter() - start))
    section = Section(
        "coroutines",
        f"f. {n} I/O-bound tasks ({wait * 1000:g} ms wait each) submitted at once",
        "tasks_per_s",
        "higher",
        list(rows.values()),
        "interpool",
        extra={"tasks": n, "wait_seconds": wait, "workers": workers},
    )
    section.text = _render(section, "tasks/s")
    return section


# -- g. channels -------------------------------------------------------------------


def bench_channels(workers: int, repeat: int) -> Section:
    """Ping-pong round trips (see :mod:`.channels`); the reference is interpool's
    channels between two sub-interpreters."""
    from . import channels

    progress("g. channel ping-pong")
    result = channels.run(repeat=repeat)
    rows = []
    for key, samples in result["samples_us"].items():
        row = Row(key, channels.LABELS[key])
        for sample in samples:
            row.stat.add(sample)
        rows.append(row)
    section = Section(
        "channels",
        f"g. Ping-pong round trips, {result['rounds']:,} per run"
        + (
            f" ({result['interpreters_queue_rounds']} for interpreters.Queue)"
            if "interpreters_queue" in result["samples_us"]
            else ""
        ),
        "us_per_round_trip",
        "lower",
        rows,
        "channel_interpreters",
        extra={"rounds": result["rounds"], "workers": 2},
    )
    section.text = _render(section, "us/round trip")
    return section


# -- h. functions of a script, sent by value ----------------------------------------

#: The rows of section h, in order.
SCRIPT_FUNCTION_ROWS = {
    "module": "module function (by name)",
    "script": "script function (by value, kept)",
    "lambda": "lambda (by value, every call)",
    "first_module": "first call: module function",
    "first_script": "first call: script function",
    "first_lambda": "first call: lambda",
}


def bench_script_functions(workers: int, repeat: int, calls: int = ROUND_TRIP_CALLS) -> Section:
    """Round trips of a function of a script that workers cannot load (it goes by
    value, unpickled once per worker) against a module function's and a lambda's,
    and the first call of each on a warm pool; run as a script of its own
    (:mod:`.script_functions`)."""
    progress("h. functions of a script, sent by value")
    probe = Path(__file__).with_name("script_functions.py")
    done = subprocess.run(
        [sys.executable, str(probe), str(calls), str(repeat), str(workers)],
        capture_output=True,
        text=True,
        check=True,
        timeout=SECTION_TIMEOUT[0] + SECTION_TIMEOUT[1] * repeat,
    )
    samples = json.loads(done.stdout)
    rows = []
    for key, label in SCRIPT_FUNCTION_ROWS.items():
        row = Row(key, label)
        for sample in samples[key]:
            row.stat.add(sample)
        rows.append(row)
    section = Section(
        "script_functions",
        f"h. Functions of a script the workers do not load: round trips ({calls:,} calls) "
        "and first calls (new pool, workers up)",
        "us_per_call",
        "lower",
        rows,
        "module",
        notes=[
            "'interpool is' compares with the module function's row (by name).",
            "A script function goes by value when workers cannot load the script (a "
            "top-level import that refuses sub-interpreters, no main guard): pickled "
            "once in the caller, unpickled once per worker; a lambda is pickled and "
            "unpickled at every call.",
        ],
        extra={"calls": calls, "workers": workers},
    )
    section.text = _render(section, "us/call")
    return section


# -- the whole run ----------------------------------------------------------------


def targets(sections: dict[str, Section]) -> list[Target]:
    """The core benchmark's targets; those against ``InterpreterPoolExecutor`` only
    where it exists."""
    rt, mp, seed = sections["round_trip"], sections["map"], sections["seed"]
    goals = [
        Target(
            "round_trip_vs_ipe",
            "round trip >= 6x faster than InterpreterPoolExecutor",
            6.0,
            _advantage_over(rt, "ipe"),
        ),
        Target(
            "round_trip_vs_thread",
            "round trip faster than ThreadPoolExecutor",
            1.0,
            rt.advantage(rt.row("thread")),
        ),
        Target(
            "map_vs_ipe",
            "map throughput >= 20x InterpreterPoolExecutor's",
            20.0,
            _advantage_over(mp, "ipe"),
        ),
        Target(
            "seed_vs_loop",
            "seed workload >= 1.85x faster than the loop",
            1.85,
            seed.row("interpool").info["speedup_vs_loop"] or float("nan"),
        ),
        *_channel_targets(sections),
        *_async_targets(sections),
    ]
    return [t for t in goals if not math.isnan(t.measured) or "ipe" not in t.key]


def _async_targets(sections: dict[str, Section]) -> list[Target]:
    """``await pool.run`` (asyncio and trio) and ``run_in_executor(pool)`` at or below
    the thread offload of the same loop (issue 17)."""
    section = sections.get("async")
    if section is None:
        return []
    thread = section.row("thread").stat.median
    goals = [
        Target(
            "async_run_vs_thread",
            "await pool.run at or below run_in_executor(ThreadPoolExecutor)",
            1.0,
            ratio(thread, section.row("interpool_run").stat.median),
        ),
        Target(
            "async_executor_vs_thread",
            "run_in_executor(pool) at or below run_in_executor(ThreadPoolExecutor)",
            1.0,
            ratio(thread, section.row("interpool").stat.median),
        ),
    ]
    if any(row.key == "trio_run" for row in section.rows):
        goals.append(
            Target(
                "trio_run_vs_thread",
                "trio: await pool.run at or below trio.to_thread.run_sync",
                1.0,
                ratio(section.row("trio_thread").stat.median, section.row("trio_run").stat.median),
            )
        )
    return goals


def _advantage_over(section: Section, key: str) -> float:
    """How many times better interpool is than row ``key``; NaN if the row is absent
    (an executor this Python lacks)."""
    try:
        return section.advantage(section.row(key))
    except KeyError:
        return float("nan")


def _channel_targets(sections: dict[str, Section]) -> list[Target]:
    channels = sections.get("channels")
    if channels is None:
        return []
    goals = [
        Target(
            "channel_vs_queue_queue",
            "channel ping-pong within 3x of queue.Queue between threads",
            1 / 3,
            channels.advantage(channels.row("queue_threads")),
        ),
        Target(
            "channel_vs_interpreters_queue",
            "channel ping-pong >= 100x faster than interpreters.Queue",
            100.0,
            _advantage_over(channels, "interpreters_queue"),
        ),
    ]
    return [t for t in goals if not math.isnan(t.measured) or "interpreters" not in t.key]


def run_sections(
    benchmark: str,
    title: str,
    benches: Sequence[Callable[[int, int], Section]],
    make_targets: Callable[[dict[str, Section]], list[Target]],
    *,
    workers: int,
    repeat: int,
) -> tuple[dict[str, Any], str]:
    """Run each section under a watchdog, noting other processes' CPU use; return the
    JSON document (without its ``config``) and the text report headed ``title``."""
    started = time.perf_counter()
    info = machine_info()
    sections: dict[str, Section] = {}
    base, per_repeat = SECTION_TIMEOUT
    whole = OtherCpu().__enter__()
    for bench in benches:
        with watchdog(base + per_repeat * repeat), OtherCpu() as other:
            section = bench(workers, repeat)
        section.extra["other_cpu_percent"] = other.percent
        if other.percent is not None:
            section.notes.append(other.describe())
        sections[section.key] = section
    goals = make_targets(sections)
    whole.__exit__()
    duration = time.perf_counter() - started
    info["other_cpu_percent"] = whole.percent
    info["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None

    parts = [f"{title}: {machine_line(info, workers, repeat)}"]
    if not HAVE_IPE:
        parts.extend(note_lines([IPE_MISSING + "; so are interpreters.Queue rows and targets."]))
    for section in sections.values():
        parts.append("")
        parts.append(section.title)
        parts.append(section.text)
        parts.extend(note_lines(section.notes))
    parts.append("")
    parts.append("Targets (shown, not asserted)")
    parts.append(
        format_table(
            ["", "goal", "measured", ""],
            [
                [t.description, fmt_x(t.goal), fmt_x(t.measured), "met" if t.met else "MISSED"]
                for t in goals
            ],
        )
    )
    parts.append(f"\n(ran {duration:.0f} s{'; ' + whole.describe() if whole.describe() else ''})")
    document = {
        "benchmark": benchmark,
        "schema_version": 1,
        "machine": info,
        "duration_seconds": duration,
        "sections": {key: s.to_json() for key, s in sections.items()},
        "targets": [t.to_json() for t in goals],
        "skipped": {} if HAVE_IPE else {"ipe": IPE_MISSING},
    }
    return document, "\n".join(parts)


def run(workers: int, repeat: int) -> tuple[dict[str, Any], str]:
    """Run every section; return the JSON document and the text report."""
    benches = (
        bench_round_trip,
        bench_map,
        bench_seed,
        bench_idle,
        bench_async,
        bench_coroutines,
        bench_channels,
        bench_script_functions,
    )
    document, text = run_sections(
        "interpool-core",
        "interpool core benchmark",
        benches,
        targets,
        workers=workers,
        repeat=repeat,
    )
    document["config"] = {
        "workers": workers,
        "repeat": repeat,
        "round_trip_calls": ROUND_TRIP_CALLS,
        "map_tasks": MAP_TASKS,
        "map_tasks_slow": MAP_TASKS_SLOW,
        "idle_seconds": IDLE_SECONDS,
        "burst_tasks": BURST_TASKS,
        "seed_numbers": PRIMES,
    }
    return document, text


def main(*, workers: int, repeat: int | None, output: str | None, json_out: bool) -> int:
    """``python -m interpool bench``: run, print, write ``core-<python>.json/.txt``."""
    document, text = run(workers, 5 if repeat is None else repeat)
    paths = write_results(output_dir(output), f"core-{python_tag()}", document, text)
    if json_out:
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        print(text)
    progress("wrote " + ", ".join(str(p) for p in paths))
    return 0

"""Stress check: many tiny tasks through one shared ``interpool.Pool`` from several
threads at once, every result accounted for, memory steady.

    python benchmarks/stress.py --tasks 1000000 --threads 4
    python benchmarks/stress.py --seconds 20

Each submitting thread takes blocks of task ids and pushes them through one of the
ways of submitting, in turn (so the threads use different ones at the same time):

* ``map`` with the automatic chunk size, one big call per block (the failing ids last);
* ``map`` with ``chunksize=1`` and with ``chunksize=16``;
* ``map`` with ``buffersize`` over a generator (lazy input, length unknown);
* ``submit`` of every id, then ``result()`` in order;
* ``submit`` of every id, then ``as_completed``.

The task is :func:`work`: ``3 * n + 1``, except that 1% of the ids (``n % 100 == 7``)
raise ``ValueError(n)``.  ``map`` stops at the first error, so the ``map`` modes call
it again for what follows.  Every id gets a byte in a ledger allocated before the
measurement; at the end of each round (``--round`` ids) the ledger is checked: every
id handed out has exactly one outcome, the right value or the right error, and
nothing else arrived.  RSS (``/proc/self/statm``, the worker interpreters included:
they live in this process) is read after the warm-up and at the end, each time just
after a round and its ``gc.collect()``; it must grow by less than
``--max-rss-growth`` (10%).  The warm-up (``--warmup`` tasks, first each mode on
every thread at once, then mixed rounds) is long because the allocators take a few
hundred thousand tasks to reach their high-water marks (pymalloc arenas, the
submitting threads' malloc arenas): with 100,000 we saw RSS rise by up to 12% over
the next million tasks and then stay flat for millions more, while the number of
allocated blocks stayed the same.

Prints a summary and exits with status 1 on any violation (also if a result does not
arrive within ``--stall-timeout`` seconds: a hang).  Workers load this script by path
to find :func:`work`, so its top level must stay cheap and free of side effects.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

import interpool

#: ``n % FAIL_MODULUS == FAIL_REMAINDER`` raises: 1% of the ids.
FAIL_MODULUS = 100
FAIL_REMAINDER = 7


def fails(n: int) -> bool:
    return n % FAIL_MODULUS == FAIL_REMAINDER


def work(n: int) -> int:
    """The task: tiny, and it raises for 1% of the inputs."""
    if n % FAIL_MODULUS == FAIL_REMAINDER:
        raise ValueError(n)
    return 3 * n + 1


# -- bookkeeping ----------------------------------------------------------------------

UNSEEN, VALUE, ERROR = 0, 1, 2
MAX_REPORTED = 20


class Stall(Exception):
    """A result did not arrive in time."""


class Ledger:
    """One byte per id of the current round: which outcome arrived for it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.marks = bytearray(size)
        self.base = 0
        self.end = 0  # ids handed out so far: [base, end)
        self.lock = threading.Lock()
        self.violations: list[str] = []
        self.violation_count = 0
        self.errors_seen = 0
        self.values_seen = 0

    def violation(self, text: str) -> None:
        with self.lock:
            self.violation_count += 1
            if len(self.violations) < MAX_REPORTED:
                self.violations.append(text)

    def _mark(self, n: int, outcome: int) -> None:
        if not self.base <= n < self.end:
            self.violation(f"an outcome for id {n}, which was not submitted in this round")
        elif self.marks[n - self.base] != UNSEEN:
            self.violation(f"a second outcome for id {n}")
        else:
            self.marks[n - self.base] = outcome

    def value(self, n: int, value: object) -> None:
        if fails(n):
            self.violation(f"id {n} returned {value!r} instead of raising ValueError({n})")
        elif value != 3 * n + 1:
            self.violation(f"id {n} returned {value!r}, expected {3 * n + 1}")
        self._mark(n, VALUE)

    def error(self, n: int, exc: BaseException) -> None:
        if not fails(n):
            self.violation(f"id {n} raised {type(exc).__name__}: {exc}, expected {3 * n + 1}")
        elif type(exc) is not ValueError or exc.args != (n,) or str(exc) != str(n):
            self.violation(f"id {n} raised {type(exc).__name__}({exc}), expected ValueError({n})")
        self._mark(n, ERROR)

    def check_round(self) -> None:
        """Every id handed out this round has exactly one outcome; then reset."""
        handed = self.end - self.base
        marks = self.marks[:handed]
        missing = marks.count(UNSEEN)
        if missing:
            first = self.base + marks.index(UNSEEN)
            self.violation(f"{missing} ids without an outcome this round (first: {first})")
        expected_errors = sum(1 for n in range(self.base, self.end) if fails(n))
        errors = marks.count(ERROR)
        if errors != expected_errors:
            self.violation(f"{errors} errors this round, expected {expected_errors}")
        self.errors_seen += errors
        self.values_seen += marks.count(VALUE)
        self.marks[:handed] = bytes(handed)


# -- ways of submitting ---------------------------------------------------------------


def segments(ids: list[int]) -> Iterator[list[int]]:
    """``ids`` cut after each id that fails: one ``map`` call per segment then runs to
    its end (``map`` stops at the first error)."""
    start = 0
    for i, n in enumerate(ids):
        if fails(n):
            yield ids[start : i + 1]
            start = i + 1
    if start < len(ids):
        yield ids[start:]


def run_map(
    pool: interpool.Pool, ledger: Ledger, ids: list[int], stall: float, lazy: bool, **kw: int
) -> None:
    """``pool.map(work, ids)``; after an error (raised at its item), map the rest."""
    while ids:
        source = iter(ids) if lazy else ids
        results = pool.map(work, source, timeout=stall, **kw)
        k = 0
        try:
            for value in results:
                if k >= len(ids):
                    ledger.violation(f"map returned more results than the {len(ids)} inputs")
                    break
                ledger.value(ids[k], value)
                k += 1
        except TimeoutError as exc:
            raise Stall(f"map: no result for id {ids[min(k, len(ids) - 1)]}") from exc
        except Exception as exc:  # noqa: BLE001 - the task's error, raised at its item
            if k >= len(ids):
                ledger.violation(f"map raised {exc!r} after its last item")
                return
            ledger.error(ids[k], exc)
            ids = ids[k + 1 :]
            continue
        finally:
            results.close()
        if k < len(ids):
            ledger.violation(f"map stopped after {k} of {len(ids)} results, without an error")
        return


def map_auto(pool: interpool.Pool, ledger: Ledger, ids: list[int], stall: float) -> None:
    ordered = [n for n in ids if not fails(n)] + [n for n in ids if fails(n)]
    run_map(pool, ledger, ordered, stall, lazy=False)


def map_chunksize_1(pool: interpool.Pool, ledger: Ledger, ids: list[int], stall: float) -> None:
    for segment in segments(ids):
        run_map(pool, ledger, segment, stall, lazy=False, chunksize=1)


def map_chunksize_16(pool: interpool.Pool, ledger: Ledger, ids: list[int], stall: float) -> None:
    for segment in segments(ids):
        run_map(pool, ledger, segment, stall, lazy=False, chunksize=16)


def map_lazy(pool: interpool.Pool, ledger: Ledger, ids: list[int], stall: float) -> None:
    for segment in segments(ids):
        run_map(pool, ledger, segment, stall, lazy=True, chunksize=8, buffersize=4)


def settle(ledger: Ledger, n: int, future: cf.Future[int], stall: float) -> None:
    try:
        value = future.result(timeout=stall)
    except TimeoutError as exc:
        raise Stall(f"submit: no result for id {n}") from exc
    except Exception as exc:  # noqa: BLE001 - the task's error
        ledger.error(n, exc)
    else:
        ledger.value(n, value)


def submit_in_order(pool: interpool.Pool, ledger: Ledger, ids: list[int], stall: float) -> None:
    futures = [pool.submit(work, n) for n in ids]
    for n, future in zip(ids, futures, strict=True):
        settle(ledger, n, future, stall)


def submit_as_completed(pool: interpool.Pool, ledger: Ledger, ids: list[int], stall: float) -> None:
    futures = {pool.submit(work, n): n for n in ids}
    seen = 0
    try:
        for future in cf.as_completed(futures, timeout=stall):
            settle(ledger, futures[future], future, stall)
            seen += 1
    except TimeoutError as exc:
        raise Stall(f"as_completed: {len(futures) - seen} futures not done") from exc


Mode = Callable[[interpool.Pool, Ledger, list[int], float], None]

#: (name, function, ids per block): blocks are smaller where each id costs a round trip.
MODES: list[tuple[str, Mode, int]] = [
    ("map", map_auto, 4096),
    ("map chunksize=1", map_chunksize_1, 500),
    ("map chunksize=16", map_chunksize_16, 1600),
    ("map buffersize=4 (lazy)", map_lazy, 800),
    ("submit + result", submit_in_order, 500),
    ("submit + as_completed", submit_as_completed, 500),
]


# -- rounds ---------------------------------------------------------------------------


class Submitters:
    """The submitting threads, started once and kept for every round (as an
    application's threads would be).  In each round each thread takes blocks of ids
    (its next mode's block size) until the round's ids, or the time, are used up."""

    def __init__(self, pool: interpool.Pool, ledger: Ledger, threads: int, stall: float) -> None:
        self.pool = pool
        self.ledger = ledger
        self.stall = stall
        self.counts = {name: 0 for name, _, _ in MODES}
        self.stalls: list[Stall] = []
        self.crashes: list[BaseException] = []
        self.lock = threading.Lock()
        self.limit = 0  # ids this round may hand out
        self.deadline: float | None = None
        self.only: int | None = None
        self.stopping = False
        self.start = threading.Barrier(threads + 1)
        self.end = threading.Barrier(threads + 1)
        self.threads = [
            threading.Thread(target=self._loop, args=(i,), name=f"stress-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self.threads:
            t.start()

    def take(self, size: int) -> list[int]:
        with self.lock:
            ledger = self.ledger
            if self.stalls or self.crashes:
                return []
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return []
            first = ledger.end
            stop = max(first, min(first + size, ledger.base + self.limit))
            ledger.end = stop
            return list(range(first, stop))

    def _loop(self, index: int) -> None:
        job = index  # the threads start at different modes
        while True:
            self.start.wait()
            if self.stopping:
                return
            try:
                while True:
                    only = self.only
                    name, mode, size = MODES[job % len(MODES) if only is None else only]
                    ids = self.take(size)
                    if not ids:
                        break
                    job += 1
                    mode(self.pool, self.ledger, ids, self.stall)
                    with self.lock:
                        self.counts[name] += len(ids)
            except Stall as exc:
                self.stalls.append(exc)
            except BaseException as exc:  # noqa: BLE001 - reported as a violation
                self.crashes.append(exc)
            self.end.wait()

    def round(self, limit: int, deadline: float | None = None, only: int | None = None) -> int:
        """Run one round of at most ``limit`` ids, each thread taking the modes in
        turn (or only ``MODES[only]``), then check it; returns the number of ids handed
        out.  Raises ``Stall`` if a thread saw one."""
        self.limit, self.deadline, self.only = limit, deadline, only
        self.start.wait()
        self.end.wait()
        ledger = self.ledger
        while self.crashes:
            exc = self.crashes.pop()
            ledger.violation(f"a submitting thread failed: {type(exc).__name__}: {exc}")
        if self.stalls:
            raise self.stalls[0]
        handed = ledger.end - ledger.base
        ledger.check_round()
        ledger.base = ledger.end
        # Cyclic garbage (a raised exception refers to its traceback, which refers to
        # the frames that hold it) would otherwise pile up until the collector's next
        # full pass, so the peak would depend on when that happens to come.
        gc.collect()
        return handed

    def stop(self) -> None:
        self.stopping = True
        self.start.wait()
        for t in self.threads:
            t.join()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--tasks", type=int, default=None, help="tasks to run (default 1000000)")
    budget.add_argument("--seconds", type=float, default=None, help="run rounds for this long")
    parser.add_argument("--threads", type=int, default=4, help="submitting threads (4)")
    parser.add_argument("--workers", type=int, default=None, help="max_workers (CPU count)")
    parser.add_argument(
        "--max-tasks-per-worker", type=int, default=None, help="recycle workers (default: never)"
    )
    parser.add_argument("--warmup", type=int, default=400_000, help="warm-up tasks (400000)")
    parser.add_argument("--round", type=int, default=200_000, help="ids per checked round")
    parser.add_argument("--stall-timeout", type=float, default=60.0, help="per result (60 s)")
    parser.add_argument("--max-rss-growth", type=float, default=0.10, help="fraction (0.10)")
    parser.add_argument("--progress", action="store_true", help="RSS after each round")
    args = parser.parse_args(argv)
    if args.tasks is None and args.seconds is None:
        args.tasks = 1_000_000
    if args.threads < 1 or args.round < 1 or (args.tasks is not None and args.tasks < 1):
        parser.error("--threads, --round and --tasks must be positive")

    import faulthandler  # not at the top: it cannot be imported in a worker interpreter

    faulthandler.enable()
    if hasattr(faulthandler, "register") and hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1)  # kill -USR1: every thread's stack
    ledger = Ledger(args.round)  # allocated before the first RSS reading
    stall = args.stall_timeout
    options = {}
    if args.max_tasks_per_worker is not None:  # only given when asked: older pools lack it
        options["max_tasks_per_worker"] = args.max_tasks_per_worker
    pool = interpool.Pool(args.workers, **options)
    submitters = Submitters(pool, ledger, args.threads, stall)
    try:
        # Warm-up: first every thread in the same mode at once, mode after mode (the
        # largest footprint each mode can have), then rounds of all the modes mixed.
        warm = 0
        for only, (_, _, size) in enumerate(MODES):
            warm += submitters.round(2 * size * args.threads, only=only)
        while warm < args.warmup:
            warm += submitters.round(min(args.round, args.warmup - warm))
        warm_errors = ledger.errors_seen
        ledger.errors_seen = ledger.values_seen = 0
        counts = submitters.counts = {name: 0 for name in submitters.counts}
        rss_before = rss_bytes()

        start = time.monotonic()
        deadline = None if args.seconds is None else start + args.seconds
        done = rounds = 0
        while True:
            if args.tasks is not None:
                limit = min(args.round, args.tasks - done)
                if limit <= 0:
                    break
            else:
                if time.monotonic() >= deadline:  # type: ignore[operator]
                    break
                limit = args.round
            done += submitters.round(limit, deadline)
            rounds += 1
            if args.progress:
                print(
                    f"round {rounds}: {done} tasks, {time.monotonic() - start:.1f} s, "
                    f"RSS {mib(rss_bytes())}",
                    file=sys.stderr,
                    flush=True,
                )
        elapsed = time.monotonic() - start
        rss_after = rss_bytes()
    except Stall as exc:
        ledger.violation(f"stalled: {exc} within {stall} s")
        print_summary(args, pool, ledger, submitters.counts, None)
        sys.stdout.flush()
        os._exit(1)  # a stuck pool would hang shutdown(), and the threads wait for it
    submitters.stop()
    pool.shutdown()

    growth = (rss_after - rss_before) / rss_before
    if growth >= args.max_rss_growth:
        ledger.violation(
            f"RSS grew by {growth:.1%} (limit {args.max_rss_growth:.0%}): "
            f"{mib(rss_before)} -> {mib(rss_after)}"
        )
    expected_errors = sum(1 for n in range(warm, warm + done) if fails(n))
    if ledger.errors_seen != expected_errors:
        ledger.violation(f"{ledger.errors_seen} errors seen, expected {expected_errors}")
    if ledger.values_seen + ledger.errors_seen != done:
        ledger.violation(f"{ledger.values_seen + ledger.errors_seen} outcomes for {done} tasks")
    if sum(counts.values()) != done:
        ledger.violation(f"the modes account for {sum(counts.values())} of {done} tasks")
    stats = {
        "warm": (warm, warm_errors),
        "done": done,
        "rounds": rounds,
        "elapsed": elapsed,
        "rss": (rss_before, rss_after, growth),
    }
    print_summary(args, pool, ledger, counts, stats)
    return 1 if ledger.violation_count else 0


def print_summary(
    args: argparse.Namespace,
    pool: interpool.Pool,
    ledger: Ledger,
    counts: dict[str, int],
    stats: dict[str, object] | None,
) -> None:
    v = sys.version_info
    print(
        f"interpool stress: Python {v.major}.{v.minor}.{v.micro}, "
        f"{pool.max_workers} workers, {args.threads} threads"
    )
    if stats is not None:
        warm, warm_errors = stats["warm"]  # type: ignore[misc]
        done: int = stats["done"]  # type: ignore[assignment]
        elapsed: float = stats["elapsed"]  # type: ignore[assignment]
        before, after, growth = stats["rss"]  # type: ignore[misc]
        print(f"warm-up: {warm} tasks ({warm_errors} errors)")
        print(f"tasks: {done}")
        for name, count in counts.items():
            print(f"  {name}: {count}")
        print(f"rounds: {stats['rounds']}")
        print(f"seconds: {elapsed:.2f}")
        print(f"tasks/s: {done / elapsed:.0f}" if elapsed > 0 else "tasks/s: -")
        print(f"errors seen: {ledger.errors_seen}")
        print(f"RSS before: {mib(before)}")
        print(f"RSS after: {mib(after)} ({growth:+.1%})")
    if ledger.violation_count:
        print(f"FAIL: {ledger.violation_count} violations")
        for text in ledger.violations:
            print(f"  {text}")
    else:
        print("OK")


if __name__ == "__main__":
    sys.exit(main())

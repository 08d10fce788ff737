"""What ``Pool.stats()`` returns: where a pool's time went, per worker and in all.

Frozen dataclasses, a snapshot taken when ``stats()`` was called:
:class:`PoolStats` holds the pool's counts, one :class:`WorkerStats` per worker and
the slowest tasks (:class:`TaskTiming`).  ``print(pool.stats())`` shows them as a
table; :meth:`PoolStats.to_dict` gives plain ``dict``\\s, ``list``\\s, numbers and
strings (``json.dumps(pool.stats().to_dict())``).

A *task* is what a worker takes at once: one call (``submit``, ``run``, an actor's
method call), or one chunk of a ``map`` (``chunksize`` calls).  A *worker* is a place
in the pool, numbered from 0: a worker interpreter's slot, a worker process's
caller-side thread (whose process is replaced in place), or a worker thread.  A
worker replaced (its task was interrupted, timed out, or it crashed) or recycled
(``max_tasks_per_worker``) keeps its place and counts, or, for the threads backend,
whose replacement is a new thread, leaves its place marked as ended.

Imports nothing of interpool: every layer may build these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["PoolStats", "RunningTask", "TaskTiming", "WorkerStats"]


@dataclass(frozen=True, slots=True)
class TaskTiming:
    """One finished task: what it ran, how long, where."""

    #: The function's qualified name (``module.name``), or ``"a task"`` if unknown.
    function: str
    #: How long the worker ran it (from taking it to having its result), in seconds.
    seconds: float
    #: The worker (:attr:`WorkerStats.worker`) that ran it.
    worker: int
    #: ``"call"`` or ``"map"`` (a ``map`` chunk).
    kind: str = "call"


@dataclass(frozen=True, slots=True)
class RunningTask:
    """The task a worker runs at the moment of the snapshot."""

    function: str
    #: How long it has run so far, in seconds.
    seconds: float


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """One worker (a place in the pool, see the module docstring)."""

    #: Its number, from 0: the lane of the trace (``Pool(trace=...)``) too.
    worker: int
    #: The name its log records carry (``record.interpool_worker``):
    #: ``"interpool-worker-0"`` (interpreters), ``"interpool-process-1"``,
    #: ``"interpool-thread-2"``.
    name: str
    #: Whether a worker occupies this place now.
    alive: bool
    #: Tasks that ended with a result (a ``map`` chunk counts once).
    tasks_done: int
    #: Tasks that ended with an exception (a ``map`` chunk whose call raised counts
    #: once), crashed their worker, or were stopped while running (time limit,
    #: ``cancel()``).
    tasks_failed: int
    #: Seconds spent running tasks (a coroutine's awaits are not counted: the worker
    #: runs other tasks meanwhile).
    busy_seconds: float
    #: Seconds alive and ready but not running a task.
    idle_seconds: float
    #: Seconds spent starting workers here, initializer excluded (all of them: the
    #: first and its replacements).
    startup_seconds: float
    #: Seconds spent in the pool's ``initializer`` here (all workers).
    initializer_seconds: float
    #: How many workers this place has had (1 + replacements + recycles + restarts
    #: after ``idle_timeout``).
    started: int
    #: How many times its worker was replaced: interrupted (time limit, ``cancel()``)
    #: or crashed.
    replaced: int
    #: How many times its worker was recycled (``max_tasks_per_worker``).
    recycled: int
    #: What it runs now, or ``None``.
    running: RunningTask | None


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A pool's activity since it started (see the module docstring); ``str()`` is a
    readable table."""

    #: ``"interpreters"``, ``"processes"`` or ``"threads"``.
    backend: str
    max_workers: int
    #: Seconds since the pool was created.
    uptime_seconds: float
    #: Tasks submitted and not yet taken by a worker.
    queued: int
    #: Tasks a worker is running (coroutines on a worker's event loop included).
    running: int
    #: Tasks that ended with a result (the sum of the workers' ``tasks_done``).
    done: int
    #: Tasks that failed (the sum of the workers' ``tasks_failed``).
    failed: int
    workers: tuple[WorkerStats, ...]
    #: The slowest tasks so far, slowest first (at most ``Pool.stats(slowest=N)``).
    slowest: tuple[TaskTiming, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict``\\s, ``list``\\s, numbers, strings and ``None``: ready for
        ``json.dumps``."""
        result: dict[str, Any] = _plain(dataclasses.asdict(self))
        return result

    def __str__(self) -> str:
        lines = [
            f"{self.backend} pool, {self.max_workers} workers, up {self.uptime_seconds:.3f} s: "
            f"{self.done} done, {self.failed} failed, {self.running} running, "
            f"{self.queued} queued",
        ]
        header = (
            "worker",
            "name",
            "done",
            "failed",
            "busy s",
            "idle s",
            "start s",
            "init s",
            "started",
            "replaced",
            "recycled",
            "running now",
        )
        rows: list[tuple[str, ...]] = [header]
        for w in self.workers:
            now = "-" if w.running is None else f"{w.running.function} ({w.running.seconds:.3f} s)"
            rows.append(
                (
                    str(w.worker),
                    w.name + ("" if w.alive else " (ended)"),
                    str(w.tasks_done),
                    str(w.tasks_failed),
                    f"{w.busy_seconds:.3f}",
                    f"{w.idle_seconds:.3f}",
                    f"{w.startup_seconds:.3f}",
                    f"{w.initializer_seconds:.3f}",
                    str(w.started),
                    str(w.replaced),
                    str(w.recycled),
                    now,
                )
            )
        lines += _table(rows)
        if self.slowest:
            lines.append("slowest tasks:")
            slow: list[tuple[str, ...]] = [("seconds", "function", "kind", "worker")]
            slow += [(f"{t.seconds:.6f}", t.function, t.kind, str(t.worker)) for t in self.slowest]
            lines += _table(slow)
        return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned text columns (numbers right-aligned), with a rule under the
    header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: tuple[str, ...]) -> str:
        cells = []
        for i, cell in enumerate(row):
            numeric = cell.replace(".", "", 1).isdigit()
            cells.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    return [line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])]


def _plain(value: Any) -> Any:
    """``dataclasses.asdict``'s output with tuples as lists (as JSON has them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

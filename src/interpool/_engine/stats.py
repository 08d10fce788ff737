"""A pool's bookkeeping for ``Pool.stats()`` and its trace (``Pool(trace=...)``).

One :class:`Recorder` per pool, fed by its backend from the caller's side:

* the interpreters backend (``_engine.scheduler``) reads when each task started and
  ended in its worker from the task clock (:class:`TaskClock`, laid out by
  ``_wire.clock``), which the worker writes, and records the task when its result is
  collected (:meth:`TaskClock.finished`); it reads its workers' start-up and
  initializer times there too;
* the processes and threads backends record from their caller-side worker threads,
  which see each task start and end.

Per finished task the recorder counts it (done or failed) for its worker, adds its
time to the worker's busy time, keeps it if it is among the slowest so far (a heap,
entered only by a task slower than the slowest kept ones' least, :attr:`Recorder.floor`),
and, only while a trace is recording (:meth:`Recorder.trace_begin`), appends a
:class:`Span` to it.  :meth:`Recorder.snapshot` builds the public
``interpool.stats.PoolStats``.  Thread-safe: results are collected on several
threads at once.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from interpool._wire import clock as layout
from interpool._wire.buffers import PACKED_VIEWS
from interpool._wire.protocol import (
    ARGS,
    ARGS_FORMAT,
    BUFFERS,
    CHUNK,
    FUNCTION,
    KIND,
    LEFT_RECYCLED,
    PICKLE,
)
from interpool.stats import PoolStats, RunningTask, TaskTiming, WorkerStats

__all__ = ["SLOWEST_KEPT", "Recorder", "Span", "TaskClock", "describe_callable", "wire_size"]

#: How many of the slowest tasks a pool keeps (``stats(slowest=N)`` shows up to that).
SLOWEST_KEPT = 100


class Span(NamedTuple):
    """One task, as a trace records it (times are ``time.perf_counter()``)."""

    worker: int
    function: Any  # what the backend's ``describe`` names
    kind: str
    start: float
    end: float
    failed: bool
    #: Bytes of its arguments and of its result as they crossed, or ``None`` if not
    #: known (see ``docs/guide.md``, "Where the time goes").
    sent: int | None
    received: int | None
    #: A coroutine on its worker's event loop (its span may overlap others).
    coroutine: bool = False


class _Worker:
    """One worker place's counts (see ``interpool.stats.WorkerStats``)."""

    __slots__ = (
        "alive",
        "busy",
        "created",
        "done",
        "failed",
        "init",
        "lived",
        "name",
        "ready",
        "recycled",
        "replaced",
        "started",
        "startup",
    )

    def __init__(self) -> None:
        self.alive = False
        self.done = self.failed = self.started = self.replaced = self.recycled = 0
        self.busy = self.startup = self.init = self.lived = 0.0
        #: When its current worker was started, and was ready (``0.0``: not yet).
        self.created = self.ready = 0.0
        #: Its name, as its log records name it (``record.interpool_worker``).
        self.name = ""


class Named(str):
    """A task's function, already named (see :meth:`Recorder.kept`)."""

    __slots__ = ()


class Recorder:
    """A pool's counts, slowest tasks and traces (see the module docstring).

    ``noun`` names a worker (``"interpreter"``); ``describe(function)`` names what a
    task runs from what the backend records (a function key, a callable)."""

    def __init__(
        self, backend: str, max_workers: int, noun: str, describe: Callable[[Any], str]
    ) -> None:
        self.backend = backend
        self.max_workers = max_workers
        self.noun = noun
        self.describe = describe
        self.lock = threading.Lock()
        self.workers: dict[int, _Worker] = {}
        self._slowest: list[tuple[float, int, Any, int, str]] = []
        self._order = itertools.count()
        #: A task faster than this cannot be among the slowest kept.
        self.floor = 0.0
        self._traces: list[list[Span]] = []
        #: True while a trace records.
        self.tracing = False
        self.born = time.perf_counter()

    # -- workers ----------------------------------------------------------------------

    def worker(self, number: int) -> _Worker:
        worker = self.workers.get(number)
        if worker is None:
            worker = self.workers[number] = _Worker()
        return worker

    def worker_started(self, number: int, name: str) -> None:
        """A worker named ``name`` (as its log records name it) starts in place
        ``number`` (now)."""
        with self.lock:
            worker = self.worker(number)
            worker.name = name
            worker.alive = True
            worker.started += 1
            worker.created = time.perf_counter()
            worker.ready = 0.0

    def worker_ready(self, number: int, serving: float, ready: float) -> None:
        """The worker in ``number`` began its set-up at ``serving`` and had run the
        initializer at ``ready`` (``perf_counter`` times).  Counted once per worker."""
        with self.lock:
            worker = self.worker(number)
            if worker.ready or not ready or not worker.alive:
                return
            worker.ready = ready
            worker.startup += max(0.0, serving - worker.created)
            worker.init += max(0.0, ready - serving)

    def replaced(self, number: int) -> None:
        """The worker in ``number`` is being replaced (its task was stopped); it still
        counts as alive until it has exited (a task stuck in C holds it)."""
        with self.lock:
            self.worker(number).replaced += 1

    def worker_ended(self, number: int, how: str | None) -> None:
        """The worker in ``number`` has exited; ``how``: ``"replaced"`` (interrupted or
        crashed), ``"recycled"``, or ``None`` (idle, or shut down)."""
        with self.lock:
            worker = self.worker(number)
            if not worker.alive:
                return
            worker.alive = False
            if worker.ready:
                worker.lived += time.perf_counter() - worker.ready
            if how == "replaced":
                worker.replaced += 1
            elif how == "recycled":
                worker.recycled += 1

    # -- tasks ------------------------------------------------------------------------

    def task_ended(  # noqa: PLR0917 - the hot path: positional
        self,
        number: int,
        function: Any,
        kind: str,
        start: float,
        end: float,
        failed: bool,
        sent: int | None = None,
        received: int | None = None,
        coroutine: bool = False,
    ) -> None:
        """A task ran in worker ``number`` from ``start`` to ``end``."""
        seconds = end - start
        with self.lock:
            worker = self.workers.get(number) or self.worker(number)
            if failed:
                worker.failed += 1
            else:
                worker.done += 1
            if not coroutine:
                worker.busy += seconds
            if seconds > self.floor:
                self.keep_locked(seconds, function, number, kind)
            if self.tracing:
                span = Span(
                    number, self.kept(function), kind, start, end, failed, sent, received, coroutine
                )
                for trace in self._traces:
                    trace.append(span)

    def keep_locked(self, seconds: float, function: Any, number: int, kind: str) -> None:
        entry = (seconds, next(self._order), self.kept(function), number, kind)
        if len(self._slowest) < SLOWEST_KEPT:
            heapq.heappush(self._slowest, entry)
            if len(self._slowest) == SLOWEST_KEPT:
                self.floor = self._slowest[0][0]
        else:
            heapq.heapreplace(self._slowest, entry)
            self.floor = self._slowest[0][0]

    def kept(self, function: Any) -> Any:
        """``function`` as it is kept for later: a function key (``str``, ``bytes``)
        as it is; a callable (processes and threads) by its name, so that keeping it
        does not keep it, its instance or its closure alive."""
        if type(function) is str or type(function) is bytes or type(function) is Named:
            return function
        return Named(self.describe(function))

    def name(self, function: Any) -> str:
        """What to show for a task's ``function`` (as recorded, or as kept)."""
        return function if type(function) is Named else self.describe(function)

    # -- traces -----------------------------------------------------------------------

    def trace_begin(self) -> list[Span]:
        """Start recording a trace: the list the finished tasks' spans go to."""
        spans: list[Span] = []
        with self.lock:
            self._traces.append(spans)
            self.tracing = True
        return spans

    def trace_end(self, spans: list[Span]) -> None:
        """Stop recording into ``spans``."""
        with self.lock:
            self._traces = [t for t in self._traces if t is not spans]
            self.tracing = bool(self._traces)

    def worker_names(self) -> dict[int, str]:
        """Each worker place's name (``"interpool-worker-0"``: see ``worker_started``)."""
        with self.lock:
            return {n: self.workers[n].name or f"{self.noun} {n}" for n in sorted(self.workers)}

    # -- snapshots --------------------------------------------------------------------

    def snapshot(
        self,
        queued: int,
        running: int,
        now_running: dict[int, tuple[Any, float]],
        slowest: int = 10,
    ) -> PoolStats:
        """The public stats, given what the backend knows now: ``queued`` and
        ``running`` tasks, and per worker place the task it runs now and since when
        (``(function, start)``)."""
        now = time.perf_counter()
        describe = self.name
        with self.lock:
            workers = []
            for number in sorted(self.workers):
                w = self.workers[number]
                current = now_running.get(number) if w.alive else None
                running_for = max(0.0, now - current[1]) if current is not None else 0.0
                lived = w.lived + (now - w.ready if w.alive and w.ready else 0.0)
                workers.append(
                    WorkerStats(
                        worker=number,
                        name=w.name or f"{self.noun} {number}",
                        alive=w.alive,
                        tasks_done=w.done,
                        tasks_failed=w.failed,
                        busy_seconds=w.busy,
                        idle_seconds=max(0.0, lived - w.busy - running_for),
                        startup_seconds=w.startup,
                        initializer_seconds=w.init,
                        started=w.started,
                        replaced=w.replaced,
                        recycled=w.recycled,
                        running=None
                        if current is None
                        else RunningTask(describe(current[0]), running_for),
                    )
                )
            kept = heapq.nlargest(max(0, slowest), self._slowest)
        return PoolStats(
            backend=self.backend,
            max_workers=self.max_workers,
            uptime_seconds=now - self.born,
            queued=queued,
            running=running,
            done=sum(w.tasks_done for w in workers),
            failed=sum(w.tasks_failed for w in workers),
            workers=tuple(workers),
            slowest=tuple(
                TaskTiming(describe(function), seconds, number, kind)
                for seconds, _, function, number, kind in kept
            ),
        )


class TaskClock:
    """The interpreters backend's side of the task clock (``_wire.clock``), and what
    its scheduler records with it in ``recorder`` (one call per event, from
    ``_engine.scheduler``)."""

    __slots__ = ("_buffer", "recorder", "times")

    def __init__(self, slots: int, recorder: Recorder) -> None:
        self._buffer = bytearray(layout.size(slots))
        #: The table, as doubles.
        self.times = memoryview(self._buffer).cast("d")
        self.recorder = recorder

    def shared(self) -> memoryview:
        """What a worker gets: a byte view of the table (it casts it)."""
        return memoryview(self._buffer)

    # -- the workers --------------------------------------------------------------------

    def worker_started(self, slot: int) -> None:
        """A new worker starts in ``slot``."""
        at = layout.SLOTS_AT + slot * layout.SLOT_FIELDS
        self.times[at + layout.SERVING] = self.times[at + layout.READY] = 0.0
        self.recorder.worker_started(slot, f"interpool-worker-{slot}")

    def check_ready(self, slot: int) -> None:
        """Record the start-up and initializer times of the worker in ``slot`` if it
        is ready."""
        at = layout.SLOTS_AT + slot * layout.SLOT_FIELDS
        times = self.times
        if times[at + layout.READY]:
            self.recorder.worker_ready(slot, times[at + layout.SERVING], times[at + layout.READY])

    def worker_exited(self, slot: int, order: int, error: object) -> None:
        """The worker in ``slot`` exited: crashed (``error``), recycled (the slot's
        ``order`` LEFT_RECYCLED), or else retired (counted as replaced by
        :meth:`stopped`), idle or stopped."""
        self.check_ready(slot)
        if error is not None:
            how: str | None = "replaced"  # (a retired one was counted when retired)
        elif order == LEFT_RECYCLED:
            how = "recycled"
        else:
            how = None
        self.recorder.worker_ended(slot, how)

    # -- the tasks ----------------------------------------------------------------------

    def started(self, task_id: int) -> float:
        """When ``task_id`` started in its worker (``0.0`` if not known)."""
        at = (task_id & layout.MASK) * layout.FIELDS
        times = self.times
        return times[at + layout.START] if times[at] == task_id else 0.0

    def finished(
        self,
        task_id: int,
        message: tuple[Any, ...],
        status: int,
        payload: Any,
        outcome: tuple[bool, Any],
    ) -> None:
        """The result of ``task_id`` (its task ``message``) was collected: ``status``
        and ``payload`` as it came, ``outcome`` what its future gets (a map chunk
        whose call raised counts as failed).  A coroutine's worker marks it
        unfinished (its end is now)."""
        times = self.times
        at = (task_id & layout.MASK) * layout.FIELDS
        if times[at] != task_id:
            return  # its entry was reused: its timing is lost
        end = times[at + layout.END]
        start = times[at + layout.START]
        recorder = self.recorder
        kind = message[KIND]
        ok = outcome[0] and (kind != CHUNK or outcome[1][1] is None)
        coroutine = not end  # its worker marked it unfinished: it ends now, not busy time
        if coroutine:
            end = time.perf_counter()
        sent = received = None
        if recorder.tracing:
            a, b = message[ARGS], message[ARGS_FORMAT]
            sent = wire_size(NATIVE_CALL, (a, b)) if type(b) is tuple else wire_size(b, a)
            received = wire_size(status, payload)
        recorder.task_ended(
            int(times[at + layout.SLOT]),
            message[FUNCTION],
            "map" if kind == CHUNK else "call",
            start,
            end,
            not ok,
            sent,
            received,
            coroutine,
        )

    def stopped(self, task_id: int, slot: int, key: Any) -> None:
        """The pool stopped ``task_id`` (of function ``key``) while the worker in
        ``slot`` ran it (time limit, cancel): a failed task, ending now (its result,
        if it comes, is dropped)."""
        start = self.started(task_id)
        if start:
            self.recorder.task_ended(slot, key, "call", start, time.perf_counter(), True)
        self.recorder.replaced(slot)


def describe_callable(fn: Any) -> str:
    """``module.qualname`` of a task's callable (the processes and threads backends
    record the callable itself, named only when shown)."""
    if fn is None:
        return "a task"
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else str(name)


#: :func:`wire_size`'s format for a call's native ``(args, keyword items)``.
NATIVE_CALL = -1


def wire_size(fmt: int, payload: Any) -> int:
    """The bytes a payload of format ``fmt`` (``_wire.protocol``) carries: a pickle's
    length, plus its out-of-band buffers; for a value shared natively (not
    serialized), the length of its ``str`` and ``bytes`` and 8 per other scalar."""
    if fmt == PICKLE:
        return len(payload)
    if fmt == BUFFERS:
        views: tuple[memoryview, ...] = payload[PACKED_VIEWS]
        return len(payload[0]) + sum(view.nbytes for view in views)
    return _native_size(payload)


def _native_size(value: Any) -> int:
    if type(value) in (str, bytes):
        return len(value)
    if type(value) is tuple:
        return sum(_native_size(item) for item in value)
    return 8

"""Scheduling: from a submitted call to a worker, and from its result to a future.

One :class:`Scheduler` per pool owns

* the caller-side queue of tasks not yet handed to a worker (``pending``): these are
  still cancellable, and ``shutdown(cancel_futures=True)`` drops them;
* the shared cross-interpreter task queue that idle workers take from, kept at most
  ``2 * max_workers`` tasks deep so that cancellation stays meaningful (a task handed
  over is *running* from its future's point of view, as in ``ProcessPoolExecutor``);
* the result queue, drained by the collector thread when the result signal fires,
  by callers waiting in ``PoolFuture.result()`` (see ``futures``), and by event loops
  that wait for its futures (see :meth:`Scheduler.listen`);
* the workers (``worker_thread``), each in a slot (``slots``): it starts them,
  replaces one that was retired (its task timed out or was cancelled while running:
  the worker is interrupted, see ``_worker.watchdog``), recycled
  (``max_tasks_per_worker``) or that crashed, and starts workers again after idle
  ones left (``idle_timeout``);
* the task timer (``task_timer``), and the pool's shutdown and breakage state.

It talks with the worker loops (``_worker.loop``) only through the messages and slot
states of ``_wire.protocol``.

Nothing here polls: workers sleep on the task signal, the collector on the result
signal (both ``_platform.signals.Signal``), and every spin is bounded.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from interpool._engine.forwarding import CallerSettings, Delivery
from interpool._engine.futures import NOT_DONE, RUNNING, PoolFuture
from interpool._engine.interpreter_options import InterpreterOptions
from interpool._engine.slots import Slots
from interpool._engine.stats import Recorder, TaskClock
from interpool._engine.task_timer import TaskTimer
from interpool._engine.worker_thread import WorkerThread
from interpool._platform import deadlines, interpreters
from interpool._platform.eventloop import asyncio_feed, asyncio_loop
from interpool._platform.queues import QueueEmpty, ops
from interpool._platform.signals import BUSY, POLLING, Doorbells, Signal, drain, wait_either
from interpool._platform.signals import SLEEPING as _SLEEPING
from interpool._wire.buffers import PACKED_VIEWS
from interpool._wire.errors import rebuild_exception, unrebuildable_result
from interpool._wire.functions import MainRef, args_by_value, describe_key, value_key
from interpool._wire.handoff import adopt
from interpool._wire.protocol import (
    ACCEPTED,
    ARGS,
    ARGS_FORMAT,
    BOOTING,
    BUFFERS,
    CHUNK,
    CRASHED,
    ERROR,
    FORWARD,
    FROM_LOOP,
    FUNCTION,
    INIT_FAILED,
    KIND,
    LEAVING,
    LEFT_IDLE,
    LEFT_RECYCLED,
    LIMIT,
    NEEDS_VALUE,
    RETIRE,
    SKIP_MASK,
    SKIPPED,
    TASK_ID,
)
from interpool._wire.transport import decode
from interpool.exceptions import BrokenPool, WorkerCrashed
from interpool.stats import PoolStats

__all__ = ["Scheduler"]

_CANCELLED = "CANCELLED"
_CANCELLED_AND_NOTIFIED = "CANCELLED_AND_NOTIFIED"
_FINISHED = "FINISHED"
_PENDING = "PENDING"

#: How long an idle worker keeps checking the task queue before it sleeps.
WORKER_SPIN_SECONDS = 100e-6

#: How long a task interrupted for its time limit may take to stop before it is said
#: to be stuck in a C call; and how long, after Ctrl-C, the pool waits for its
#: interrupted tasks to stop before it gives up on them.
STOP_SECONDS = 0.25
CTRL_C_GRACE_SECONDS = 0.5

#: After this many worker crashes in a row, with no task completed in between, the
#: pool is broken instead of starting yet another worker.
MAX_CRASHES = 3

#: While event loops collect the results (see ``Scheduler.listen``), the collector
#: thread still wakes this often (ms) to complete what a stalled loop left.
LOOP_BACKUP_MS = 5


def _can_poll() -> bool:
    """Polling only pays when the caller and a worker can run at the same time: with a
    single usable CPU it only delays the thread that has the work."""
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else True


def _outcome(kind: int, status: int, payload: Any, handed: Any) -> tuple[bool, Any]:
    """``(True, value)`` or ``(False, exception)`` for a worker's result message.

    The ``bytes`` objects a worker handed over (``handed``, see ``_wire.handoff``) are
    adopted first, whatever happens next, so that none is ever leaked."""
    adopted = [(i, adopt(address)) for i, address in handed] if handed else ()
    if status in (ERROR, CRASHED):
        return False, rebuild_exception(payload)
    try:
        value = decode(status, payload, foreign=True)
    except Exception as exc:  # noqa: BLE001 - e.g. a class the caller cannot import
        return False, unrebuildable_result(exc)
    if kind == CHUNK:
        values, error = value
        if adopted:
            values = list(values)
            for i, obj in adopted:
                values[i] = obj
        return True, (values, None if error is None else rebuild_exception(error))
    if adopted:
        return True, adopted[0][1]
    return True, value


def _complete(future: Future[Any], message: tuple[Any, ...], outcome: tuple[bool, Any]) -> None:
    """Complete ``future`` with the ``outcome`` of its task ``message``, once the
    worker's views of the task's buffers are released (see :func:`_await_release`)."""
    if message[ARGS_FORMAT] == BUFFERS:
        _await_release(message[ARGS][PACKED_VIEWS])
    ok, value = outcome
    with contextlib.suppress(InvalidStateError):
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


#: How long a finished task's shared buffers may take to be released (see below): a
#: release normally takes microseconds; this bounds the wait for a task that kept a
#: view, and leaves room for a loaded machine.
RELEASE_PATIENCE = 0.25
#: For this long the wait spins (yielding the CPU); after, it sleeps in short steps.
RELEASE_SPIN = 0.002


def _await_release(views: tuple[memoryview, ...]) -> None:
    """Wait (briefly) until the worker's views of a task's buffers are released, so a
    caller who gets the result may resize or close what it passed.

    A worker drops its views before it replies, but CPython releases a view of another
    interpreter's memory later, as a pending call run by any thread of the owner (the
    main interpreter) at its next bytecode boundary: usually the very thread that runs
    this loop.  A task that kept a view (in a global) holds it until the worker drops
    it; after :data:`RELEASE_PATIENCE` we stop waiting and leave it exported."""
    start = 0.0
    for view in views:
        while True:
            try:
                view.release()
                break
            except BufferError:
                now = time.monotonic()
                if not start:
                    start = now
                elif now - start > RELEASE_PATIENCE:
                    return
                if now - start < RELEASE_SPIN:
                    os.sched_yield()
                else:
                    time.sleep(0.0005)


class Scheduler:
    """The moving parts behind one pool (see the module docstring)."""

    def __init__(  # noqa: PLR0917 - internal
        self,
        max_workers: int,
        path: tuple[str, ...],
        main: MainRef,
        initializer: tuple[str | bytes | tuple[str, bytes], Any, Any] | None,
        max_tasks: int = 0,
        idle_timeout: float = 0.0,
        options: InterpreterOptions | None = None,
        forward: int = 0,
    ) -> None:
        self.max_workers = max_workers
        #: What the workers' tasks print, log and warn that reaches the caller (see
        #: ``_engine.forwarding``), with the caller's settings the workers follow.
        self._forward = forward
        self._settings = CallerSettings(forward) if forward else None
        self._delivery = Delivery("threadName")
        # Results are completed in the order they were sent, one thread at a time, so
        # that a task's forwarded output is handled before its result (see _drain).
        self._drain_lock = threading.RLock()
        #: How every worker interpreter is created (see ``_engine.interpreter_options``).
        self.options = options or InterpreterOptions()
        self._path = path
        self._main = main
        self._initializer = initializer
        self._max_tasks = max_tasks
        self._idle_timeout = idle_timeout
        self._task_q = interpreters.create_queue()
        self._result_q = interpreters.create_queue()
        self._tasks = ops(self._task_q)
        self._put = self._tasks.put
        self._results = ops(self._result_q)
        self._slots = Slots(2 * max_workers)
        self._skips = self._slots.skips
        #: What ``stats()`` and traces read (see ``_engine.stats``).
        self.recorder = Recorder("interpreters", max_workers, "interpreter", describe_key)
        self._clock = TaskClock(self._slots.count, self.recorder)
        self._shared = (*self._slots.shared(), self._clock.shared())
        self._doorbells = Doorbells(self._slots.count)
        self._bells = self._doorbells.buffer
        self._pollers = 0
        self._poll = _can_poll()
        self._result_signal = Signal(blocking=False)
        # Results collected on event loops' threads (see listen()).
        self._collector_wake = Signal(blocking=False)
        self._listeners: dict[int, Callable[[], bool]] = {}
        self._blocked = 0  # threads blocked on a future (see waiting())
        self._timer = TaskTimer(self._slots, self._limit_of, self._expire)
        self._lock = threading.Lock()
        #: Notified (under ``_lock``) when a worker is retired or has exited.
        self._changed = threading.Condition(self._lock)
        self._pending: deque[tuple[PoolFuture[Any], tuple[Any, ...]]] = deque()
        self._running: dict[int, tuple[PoolFuture[Any], tuple[Any, ...]]] = {}
        #: Tasks failed before their worker replied (timed out, or cancelled while
        #: running): their reply, if it ever comes, is dropped.
        self._abandoned: set[int] = set()
        #: Tasks sent again by value (``NEEDS_VALUE``); never twice.
        self._sent_by_value: set[int] = set()
        #: What each abandoned task runs (``functions.describe_key``), for messages.
        self._abandoned_names: dict[int, str] = {}
        #: Tasks whose coroutine runs on a worker's event loop, and that worker's slot
        #: (see ``_worker.coroutines``): off the queue, but their future still waits.
        self._accepted: dict[int, int] = {}
        #: Coroutines whose result was collected before their ACCEPTED message (two
        #: threads may drain at once), and whether that ACCEPTED still counts
        #: (``False`` for a task abandoned meanwhile).
        self._replied: dict[int, bool] = {}
        self._cancel_puts = [ops(q).put for q in self._slots.cancel_queues]
        self._ids = itertools.count()
        self._depth = 2 * max_workers
        self._in_queue = 0
        self._doomed = 0  # tasks in the workers' queue that were cancelled (skipped)
        self._shutdown = False
        self._stops_sent = 0
        self._broken: BrokenPool | None = None
        #: Live worker per slot, retired ones included, and the slots of those.
        self._workers: dict[int, WorkerThread] = {}
        self._retired: set[int] = set()
        self._active = 0  # live workers not retired
        self._owed = 0  # replacements waiting for a free slot
        self._ended: list[threading.Thread] = []
        self._results_seen = 0
        self._crashes = 0  # workers crashed in a row, with no result in between
        self._results_at_crash = -1
        self._collector_done = False
        self._closed = False
        self._finished = threading.Event()
        self._collector = threading.Thread(target=self._collect, name="interpool-collector")
        self._collector.start()
        with self._lock:
            for _ in range(max_workers):
                self._start_worker_locked()

    # -- workers ------------------------------------------------------------------

    def _start_worker_locked(self) -> None:
        """Start a worker in a free slot (or owe one until a slot is free); never
        once the pool is broken."""
        if self._broken is not None:
            return
        slot = self._slots.take()
        if slot is None:
            self._owed += 1
            return
        self._clock.worker_started(slot)
        signals = (
            self._slots.task_signals[slot].rfd,
            self._slots.watch_signals[slot].rfd,
            self._slots.watch_signals[slot].wfd,
            self._result_signal.wfd,
            self._timer.signal.wfd,
            self._slots.cancel_signals[slot].rfd,
        )
        worker = WorkerThread(
            slot,
            self._path,
            (
                # Ids, not queues: on 3.13 a queue cannot arrive in a fresh
                # interpreter before _platform.interpreters has registered its type there.
                self._task_q.id,
                self._result_q.id,
                self._slots.cancel_queues[slot].id,
                slot,
                signals,
                self._doorbells.view,
                self._shared,
                self._main,
                self._initializer,
                WORKER_SPIN_SECONDS if self._poll else 0.0,
                self._max_tasks,
                self._idle_timeout,
                self._forward,
                None if self._settings is None else self._settings.view,
            ),
            self._worker_exiting,
            functools.partial(self._worker_exited, slot),
            options=self.options,
        )
        self._workers[slot] = worker
        self._active += 1
        if self._stops_sent:  # shutting down: it needs a stop message of its own
            self._put(None)
            self._stops_sent += 1
        worker.start()

    def _work_left_locked(self) -> bool:
        """True if tasks wait to be run (queued and not cancelled, or pending)."""
        return self._in_queue - self._doomed > 0 or bool(self._pending)

    def _grow_locked(self, extra: int) -> None:
        """After idle workers left: start workers (up to ``max_workers``) while more
        tasks wait (``extra`` not queued yet) than idle workers can take."""
        bells = self._bells
        idle = bells.count(POLLING, 1) + bells.count(_SLEEPING, 1)
        waiting = self._tasks.count() + len(self._pending) + extra
        while (
            self._active + self._owed < self.max_workers
            and waiting > idle
            and not self._collector_done
        ):
            self._start_worker_locked()
            idle += 1

    def _retire_locked(self, slot: int, task_id: int) -> None:
        """Have the worker in ``slot`` interrupt ``task_id`` (if it still runs it) and
        exit, and start its replacement at once."""
        self._slots.orders[slot] = RETIRE
        self._slots.targets[slot] = task_id
        self._bells[1 + slot] = BUSY  # not a poller that will take the next task
        if not self._closed:
            self._slots.watch_signals[slot].notify()
            self._slots.task_signals[slot].notify()  # if it sleeps: wake up, and leave
        if slot not in self._retired:
            self._retired.add(slot)
            self._active -= 1
            if not self._shutdown or self._work_left_locked():
                self._start_worker_locked()
            elif not self._closed:
                # Shutting down: the collector may be done once this worker no longer
                # counts; have it check now rather than when the worker's code returns.
                self._result_signal.notify()
        self._changed.notify_all()

    def _worker_exiting(self) -> None:
        """A worker's loop has returned but its interpreter still exists: take every
        result it queued now, since a queue drops the items of a destroyed interpreter.
        Without :meth:`_drain`'s lock: the thread holding it may be waiting for this
        worker to exit (a done callback that shuts the pool down)."""
        self._drain_unordered()

    def _worker_exited(self, slot: int, error: BaseException | None) -> None:
        """A worker's thread is ending (its interpreter is destroyed): free its slot,
        and replace it if it crashed, was recycled, or left idle while work waits."""
        crashed: tuple[Future[Any], BaseException] | None = None
        orphaned: list[Future[Any]] = []
        failed_to_start = False
        with self._lock:
            worker = self._workers.pop(slot)
            self._clock.worker_exited(slot, self._slots.orders[slot], error)
            self._ended = [t for t in self._ended if t.is_alive()]
            self._ended.append(worker.thread)
            if slot in self._retired:
                self._retired.discard(slot)
            else:
                self._active -= 1
                reason = self._slots.orders[slot]
                task_id = self._slots.tasks[slot]
                replace = False
                if error is not None:
                    if self._results_at_crash == self._results_seen:
                        self._crashes += 1
                    else:
                        self._crashes = 1
                    self._results_at_crash = self._results_seen
                    if task_id == BOOTING or self._crashes >= MAX_CRASHES:
                        failed_to_start = True
                    else:
                        replace = True
                        entry = self._running.pop(task_id, None) if task_id >= 0 else None
                        if entry is not None:
                            self._in_queue -= 1
                            crashed = (entry[0], error)
                elif reason == LEFT_RECYCLED:
                    replace = True
                if not self._collector_done:
                    if replace and (not self._shutdown or self._work_left_locked()):
                        self._start_worker_locked()
                    elif reason == LEFT_IDLE and not self._shutdown:
                        self._grow_locked(0)
            if error is not None:
                # Coroutines it accepted and never answered for (it failed before its
                # event loop could reply) can only fail now.
                for orphan in [t for t, s in self._accepted.items() if s == slot]:
                    del self._accepted[orphan]
                    lost = self._running.pop(orphan, None)
                    if lost is not None:
                        orphaned.append(lost[0])
            self._slots.release(slot)
            if not self._collector_done:
                while self._owed and self._slots.has_free():
                    self._owed -= 1
                    if self._active < self.max_workers and (
                        not self._shutdown or self._work_left_locked()
                    ):
                        self._start_worker_locked()
                # Shutting down, a worker that left idle (or was retired) may have been
                # the last one while tasks still wait: they must still run.
                if self._shutdown and not self._active and self._work_left_locked():
                    self._start_worker_locked()
            if self._tasks.count():
                self._wake_locked()  # the exiting worker may have looked like a taker
            if not self._closed:
                self._result_signal.notify()
            self._changed.notify_all()
            close = self._closing_locked()
        if crashed is not None:
            orphaned.append(crashed[0])
        for future in orphaned:
            exc = WorkerCrashed(
                f"interpool: the worker interpreter running this task failed: {error!r}. "
                "It was replaced; other tasks are not affected."
            )
            exc.__cause__ = error
            with contextlib.suppress(InvalidStateError):
                future.set_exception(exc)
        if failed_to_start:
            self._break(
                BrokenPool(
                    "a worker interpreter failed to start"
                    if self._crashes < MAX_CRASHES
                    else f"{MAX_CRASHES} worker interpreters in a row failed before any "
                    "task completed; the pool stops replacing them"
                ),
                error,
            )
        if close:
            self._close()

    # -- submitting ---------------------------------------------------------------

    def submit(  # noqa: PLR0917 - the hot path: positional
        self,
        future: PoolFuture[Any],
        key: str | bytes,
        kind: int,
        a: Any,
        b: Any,
        limit: float | None = None,
    ) -> None:
        """Queue a task (see ``_wire.protocol`` for ``kind``, ``limit`` and ``a``,
        ``b``: the message's ``args``, ``args_format``); ``future`` completes with its
        outcome.  Raises ``RuntimeError`` after shutdown and ``BrokenPool`` once the
        pool is broken.  Submitted from an asyncio loop's thread, the loop collects
        the results itself until the task is done (see :meth:`listen`)."""
        if self._settings is not None:
            self._settings.refresh()
        self._enqueue(future, key, kind, a, b, limit)
        loop = asyncio_loop()
        if loop is not None:
            feed = asyncio_feed(loop, self)
            if feed is not None:
                feed.acquire()
                future.add_done_callback(feed.release_from_any_thread)

    def _enqueue(  # noqa: PLR0917 - the hot path: positional
        self,
        future: PoolFuture[Any],
        key: str | bytes,
        kind: int,
        a: Any,
        b: Any,
        limit: float | None,
    ) -> None:
        with self._lock:
            if self._shutdown:
                if self._broken is not None:
                    raise self._broken
                raise RuntimeError("cannot schedule new futures after shutdown")
            task_id = next(self._ids)
            future.task_id = task_id
            message = (task_id, key, kind, a, b, limit)  # see _wire.protocol
            if limit is not None:
                self._timer.start()
            if self._active < self.max_workers:
                self._grow_locked(1)
            if self._pending or self._in_queue >= self._depth:
                self._pending.append((future, message))
                return
            # A brand-new future: nobody else can have cancelled it yet.
            future._state = RUNNING
            self._running[task_id] = (future, message)
            self._put(message)
            self._in_queue += 1
            if _SLEEPING in self._bells:
                self._wake_locked()

    def one_at_a_time(self, on: bool) -> None:
        """Hand the workers one task at a time (``on``), or as many as usual.  An
        actor's host keeps its creation alone in the queue until it has ended, so that
        the calls after it wait here, in order, even if the creation is sent again (by
        value, ``NEEDS_VALUE``)."""
        with self._lock:
            self._depth = 1 if on else 2 * self.max_workers
            if not on:
                self._refill_locked()

    def _wake_locked(self) -> None:
        """Wake as many sleeping workers as there are queued messages beyond the
        polling workers, which will take them anyway (see ``_platform.signals``).  The
        caller holds ``_lock``, which also guards against the signals being closed."""
        if self._closed:
            return
        n = self._tasks.count() - self._doorbells.polling()
        if n <= 0:
            return
        for i, signal in enumerate(self._slots.task_signals):
            if self._doorbells.wake(i):
                signal.notify()
                n -= 1
                if not n:
                    return

    def _refill_locked(self) -> None:
        """Move pending tasks to the shared queue while there is room, and queue the
        stop messages once shutting down and nothing is pending."""
        moved = False
        while self._pending and self._in_queue < self._depth:
            future, message = self._pending.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while pending
            self._running[message[TASK_ID]] = (future, message)
            self._put(message)
            self._in_queue += 1
            moved = True
        if moved:
            self._wake_locked()
        if self._shutdown and not self._pending and not self._stops_sent:
            # One per live worker, retired ones included (one may take a stop
            # message before it sees it is retired); extra ones are harmless.
            self._stops_sent = max(1, len(self._workers))
            for _ in range(self._stops_sent):
                self._put(None)
            # Wake every worker, whatever its flag says: stopping must not depend on
            # the polling bookkeeping.
            if not self._closed:
                for signal in self._slots.task_signals:
                    signal.notify()

    # -- cancelling and time limits -------------------------------------------------

    def cancel(self, future: PoolFuture[Any], interrupt: bool) -> bool:
        """``future.cancel()``: a pending task is dropped; a queued one is skipped by
        the worker that takes it; a running one (with ``interrupt``) is interrupted,
        its worker retired and replaced; a running coroutine (with ``interrupt``) is
        cancelled on its worker's event loop.  The future is cancelled at once in each
        of these cases; False if it is finished, or running and not ``interrupt``."""
        # Only one future's condition is ever held at a time, and never while the
        # scheduler touches other futures: wait() and as_completed() take several
        # conditions at once, in their own order.
        with self._lock:
            slot = None
            with future._condition:
                state = future._state
                if state == _FINISHED:
                    return False
                if state in (_CANCELLED, _CANCELLED_AND_NOTIFIED):
                    return True
                if state == _PENDING:
                    # Still in _pending: dropped (and its waiters told) at the next
                    # refill.
                    future._state = _CANCELLED
                else:
                    task_id: int = future.task_id
                    if task_id not in self._running:
                        return False  # its result is being delivered
                    on_loop = self._accepted.get(task_id)
                    if on_loop is not None:
                        # Its reply (then dropped) still comes, and ends its bookkeeping.
                        if not interrupt:
                            return False
                        self._cancel_coroutine_locked(task_id, on_loop)
                    else:
                        skip = task_id & SKIP_MASK
                        # Mark it skipped *before* looking for a worker running it; a
                        # worker marks it running before it reads the mark (see _worker.loop).
                        self._skips[skip] = 1
                        slot = self._slots.running(task_id)
                        if slot is not None:
                            self._skips[skip] = 0
                            if not interrupt:
                                return False
                            key = self._running.pop(task_id)[1][FUNCTION]
                        else:
                            self._doomed += 1
                    future._state = _CANCELLED_AND_NOTIFIED
                    for waiter in future._waiters:
                        waiter.add_cancelled(future)
                future._condition.notify_all()
            if slot is not None:
                self._abandon_locked(task_id, slot, key)
        future._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def _cancel_coroutine_locked(self, task_id: int, slot: int) -> None:
        """Have the worker in ``slot`` cancel the coroutine of ``task_id``."""
        self._cancel_puts[slot](task_id)
        if not self._closed:
            self._slots.cancel_signals[slot].notify()

    def _abandon_locked(self, task_id: int, slot: int, key: str | bytes) -> None:
        """``task_id`` (of function ``key``), run by the worker in ``slot``, was failed
        before it ended: forget it (its reply will be dropped) and retire that worker."""
        self._in_queue -= 1
        self._clock.stopped(task_id, slot, key)
        self._abandoned.add(task_id)
        self._abandoned_names[task_id] = describe_key(key)
        self._retire_locked(slot, task_id)
        self._refill_locked()

    def _limit_of(self, task_id: int) -> float | None:
        entry = self._running.get(task_id)
        return None if entry is None else entry[1][LIMIT]

    def _expire(self, task_id: int, slot: int, limit: float) -> None:
        """The timer's call: ``task_id`` ran longer than ``limit`` in ``slot``."""
        with self._lock:
            if self._slots.tasks[slot] != task_id:
                return
            entry = self._running.pop(task_id, None)
            if entry is None:
                return
            self._abandon_locked(task_id, slot, entry[1][FUNCTION])
        self._judge(entry[0], task_id, slot, limit, time.monotonic() + STOP_SECONDS)

    def _judge(
        self, future: PoolFuture[Any], task_id: int, slot: int, limit: float, end: float
    ) -> None:
        """Fail the future of ``task_id``, past its time limit ``limit`` and being
        interrupted in ``slot``, with ``TimeoutError`` once its worker has stopped it
        (Python code stops at once) or, at ``end``, saying that it is stuck in a C
        call.  It looks every millisecond from the callback timer
        (``_platform.deadlines``), so that the task timer stays free for the other
        limits meanwhile."""
        if self._slots.tasks[slot] == task_id and time.monotonic() < end:
            deadlines.at(0.001, functools.partial(self._judge, future, task_id, slot, limit, end))
            return
        if self._slots.tasks[slot] == task_id:
            how = (
                "it is still running in a C call, which cannot be interrupted: its worker "
                "is abandoned (its interpreter is destroyed when the call returns) and "
                "replaced by a new one"
            )
        else:
            how = "it was interrupted, and its worker is replaced by a new one"
        error = TimeoutError(
            f"interpool: the task ran longer than its time limit of {limit:g} s; {how}"
        )
        with contextlib.suppress(InvalidStateError):
            future.set_exception(error)

    # -- results ------------------------------------------------------------------

    def help_wait(self, future: PoolFuture[Any], budget: float) -> None:
        """Called by a caller about to block on ``future``: complete arriving results
        for up to ``budget`` seconds, or until ``future`` is done.  While any caller
        is in here, workers do not wake the collector (see ``_platform.signals``).
        Returns at once when the process has a single usable CPU."""
        if not self._poll:
            return
        count = self._results.count
        sched_yield = os.sched_yield
        bells = self._bells
        perf = time.perf_counter
        deadline = 0.0
        with self._lock:
            self._pollers += 1
            bells[0] = 1
        try:
            while future._state in NOT_DONE:
                # (If another thread is draining, it completes the results: yield.)
                if count() and self._drain(0):
                    continue
                # Yield the CPU (and the GIL) at every empty turn.  The kernel often
                # puts the worker we wait for on this very CPU (it woke there, or was
                # never moved away); without a yield it would wait for the next
                # load-balancing tick, milliseconds away.  The GIL release lets another
                # thread that took results off the queue (the collector) settle them.
                sched_yield()
                if not deadline:
                    deadline = perf() + budget
                elif perf() > deadline:
                    return
        finally:
            with self._lock:
                self._pollers -= 1
                if not self._pollers:
                    bells[0] = 0
            if count():  # a result may have arrived unsignalled: see _platform.signals
                self._drain()

    def _drain(self, wait: float = -1) -> bool:
        """Complete every result in the result queue, unless another thread is doing
        it and has not finished within ``wait`` seconds (``-1``: however long it
        takes); False then.  One thread at a time takes results, so that they are
        handled in the order they were sent: a task's forwarded output before its
        result."""
        lock = self._drain_lock
        if not lock.acquire(timeout=wait):
            return False
        try:
            self._drain_unordered()
        finally:
            lock.release()
        return True

    def _drain_unordered(self) -> None:
        """:meth:`_drain`'s work, without taking its lock: another thread may take
        results at the same time (only a worker about to exit does)."""
        get = self._results.get
        running = self._running
        abandoned = self._abandoned
        accepted = self._accepted
        skips = self._skips
        lock = self._lock
        finished = self._clock.finished
        while True:
            try:
                task_id, status, payload, handed = get()  # see _wire.protocol
            except QueueEmpty:
                return
            if status == INIT_FAILED:
                self._break(
                    BrokenPool("a worker's initializer failed; the pool cannot run tasks"),
                    rebuild_exception(payload),
                )
                continue
            if status == NEEDS_VALUE:
                if self._send_by_value(task_id, payload):
                    continue
                status = SKIPPED  # cancelled or failed meanwhile: as any reply
            if status >= ACCEPTED:
                if status == FORWARD:
                    slot, event = payload
                    self._delivery.deliver(event, f"interpool-worker-{slot}")
                    continue
                if status == ACCEPTED:
                    self._accept(task_id, payload)
                    continue
                if status == LEAVING:
                    self._leaving(payload)
                    continue
                status -= FROM_LOOP  # a coroutine's result: already off the queue
                with lock:
                    if accepted.pop(task_id, None) is None:
                        # Its ACCEPTED is being handled by another thread.
                        self._replied[task_id] = task_id not in abandoned
                    if task_id in abandoned:
                        abandoned.discard(task_id)
                        self._abandoned_names.pop(task_id, None)
                        entry = None
                    else:
                        entry = running.pop(task_id, None)
                        if status != CRASHED:
                            self._results_seen += 1
            else:
                with lock:
                    if abandoned and task_id in abandoned:
                        abandoned.discard(task_id)  # already failed; already uncounted
                        self._abandoned_names.pop(task_id, None)
                        entry = None
                    else:
                        entry = running.pop(task_id, None)
                        self._in_queue -= 1
                        if status != CRASHED:
                            self._results_seen += 1
                        if self._sent_by_value:
                            self._sent_by_value.discard(task_id)
                        if skips[task_id & SKIP_MASK]:
                            skips[task_id & SKIP_MASK] = 0
                            if entry is None or entry[0]._state == _CANCELLED_AND_NOTIFIED:
                                self._doomed -= 1
                    if self._pending or self._shutdown:
                        self._refill_locked()
            if entry is None or status == SKIPPED:
                for _, address in handed:  # adopt (and drop) what was handed over
                    adopt(address)
                continue
            outcome = _outcome(entry[1][KIND], status, payload, handed)
            finished(task_id, entry[1], status, payload, outcome)
            # Drop the payload (views of a worker's memory, or of ours that a worker
            # returned) before waiting for the release of the task's own views.
            payload = handed = None
            _complete(entry[0], entry[1], outcome)
            del outcome

    def _send_by_value(self, task_id: int, unloadable: str | None) -> bool:
        """A worker could not find the task's function of the script by name
        (``NEEDS_VALUE``): queue the task again with the function by value
        (``functions.value_key``).  False if the task is no longer the worker's to
        run (cancelled, failed or abandoned meanwhile): then it is handled as any
        reply."""
        with self._lock:
            entry = self._running.get(task_id)
            if entry is None or task_id in self._abandoned or self._skips[task_id & SKIP_MASK]:
                return False
            message = entry[1]
            again = task_id in self._sent_by_value
            self._sent_by_value.add(task_id)
        task_id, _, kind, a, b, limit = message
        try:
            if again:  # sent by value already, and still naming the script: give up
                raise ImportError(
                    f"interpool: the worker interpreter cannot load the script ({unloadable}), "
                    "and this task still refers to it by name"
                )
            key = value_key(message[FUNCTION], unloadable)
            a, b = args_by_value(kind, a, b)
        except Exception as exc:  # noqa: BLE001 - the task's outcome
            with self._lock:
                entry = self._running.pop(task_id, None)
                self._in_queue -= 1
                self._refill_locked()
            if entry is not None:
                _complete(entry[0], entry[1], (False, exc))
            return True
        with self._lock:
            entry = self._running.get(task_id)
            if entry is None or task_id in self._abandoned:
                return False
            self._running[task_id] = (entry[0], (task_id, key, kind, a, b, limit))
            self._put(self._running[task_id][1])
            if self._stops_sent:
                # Behind the stop messages: a fresh worker (with a stop message of its
                # own, queued after the task) makes sure it runs.
                self._start_worker_locked()
            if not self._closed:
                self._wake_locked()
        return True

    def _accept(self, task_id: int, slot: int) -> None:
        """A worker took ``task_id`` and runs its coroutine on its event loop: the
        task leaves the queue's count (making room for another), and its future
        waits for the coroutine's result."""
        with self._lock:
            counts = self._replied.pop(task_id, None)
            if counts is not None:
                # Its result came first (another thread drained it).
                if counts:
                    self._in_queue -= 1
                    self._clear_skip_locked(task_id)
            elif task_id in self._abandoned:
                # Cancelled or timed out while its coroutine was being made: already
                # uncounted, and its worker retired.  The worker does not start such a
                # coroutine if it saw the interruption's target (see _worker.loop);
                # this one it did not, as the target came just after the call ended.
                # Cancel the coroutine; its reply is dropped.
                self._accepted[task_id] = slot
                self._cancel_coroutine_locked(task_id, slot)
            else:
                self._in_queue -= 1
                self._accepted[task_id] = slot
                if self._clear_skip_locked(task_id):
                    # Cancelled while queued, after the worker checked: cancel it there.
                    self._cancel_coroutine_locked(task_id, slot)
            if self._pending or self._shutdown:
                self._refill_locked()

    def _clear_skip_locked(self, task_id: int) -> bool:
        """Clear the skip mark of a task that left the queue; True if it was set."""
        skip = task_id & SKIP_MASK
        if not self._skips[skip]:
            return False
        self._skips[skip] = 0
        entry = self._running.get(task_id)
        if entry is None or entry[0]._state == _CANCELLED_AND_NOTIFIED:
            self._doomed -= 1
        return True

    def _leaving(self, slot: int) -> None:
        """The worker in ``slot`` takes no more tasks but waits for its coroutines
        before it exits: replace it now, as if it were retired."""
        with self._lock:
            if slot in self._retired or slot not in self._workers:
                return
            if self._shutdown and not self._work_left_locked():
                return  # no replacement needed: shutdown waits for it as for the others
            self._retired.add(slot)
            self._active -= 1
            if not self._collector_done and (not self._shutdown or self._work_left_locked()):
                self._start_worker_locked()
            self._changed.notify_all()

    def _collect(self) -> None:
        """The collector thread: sleep on the result signal, complete what arrived."""
        while True:
            self._await_results()
            self._drain_or_report()
            if self._shutdown and not self._active and self._all_done():
                break
        self._drain_or_report()
        self._fail_leftovers()
        with self._lock:
            self._collector_done = True
            close = self._closing_locked()
        if close:
            self._close()

    def _drain_or_report(self) -> None:
        """:meth:`_drain`, for the collector: a bug there must not kill the thread that
        every other future depends on; it is reported on stderr instead."""
        try:
            self._drain()
        except Exception as exc:  # noqa: BLE001 - reported, and the collector goes on
            import traceback

            sys.stderr.write("interpool: error in the pool's collector thread (a bug):\n")
            traceback.print_exception(exc)

    # -- results collected on an event loop's thread ------------------------------
    # (issue 17) An asyncio or trio loop that awaits this pool's futures watches the
    # result signal itself (``_platform.eventloop.LoopFeed``) and completes the results
    # on its own thread: one wake-up (the loop's) per result instead of two (the
    # collector's, then the loop's through ``call_soon_threadsafe``).  Meanwhile the
    # collector thread stands back (it would race the loop for the same results),
    # except while a thread blocks on a future (the loop's own thread may be the one
    # blocked), and every ``LOOP_BACKUP_MS`` to complete what a stalled loop left.

    def listen(self, alive: Callable[[], bool]) -> int | None:
        """An event loop starts collecting results: return a new descriptor (a dup) of
        the result signal for it to watch and pass to :meth:`collect`, or ``None``
        once the pool is closing.  ``alive()`` tells the collector whether the loop
        still runs (a closed loop's descriptor is closed for it)."""
        with self._lock:
            if self._closed or self._collector_done:
                return None
            fd = os.dup(self._result_signal.rfd)
            self._listeners[fd] = alive
            if len(self._listeners) == 1:
                self._collector_wake.notify()  # stand back now, not after a result
        return fd

    def unlisten(self, fd: int, alive: Callable[[], bool]) -> None:
        """The loop that watched ``fd`` (given ``alive`` to :meth:`listen`) stops
        collecting results; ``fd`` is closed (once: a second call does nothing)."""
        with self._lock:
            if self._listeners.get(fd) is not alive:
                return
            del self._listeners[fd]
            os.close(fd)
            if not self._listeners and not self._closed:
                self._collector_wake.notify()  # collect again

    def collect(self, fd: int) -> None:
        """On a listening loop's thread, when ``fd`` is readable: consume the signal
        and complete every result that arrived (their done callbacks run here)."""
        drain(fd)
        self._drain_or_report()

    def waiting(self, delta: int) -> None:
        """A thread starts (``+1``) or stops (``-1``) blocking on a future: while one
        does, the collector collects even if event loops listen."""
        with self._lock:
            self._blocked += delta
            if delta > 0 and self._blocked == 1 and self._listeners and not self._closed:
                self._collector_wake.notify()

    def _await_results(self) -> None:
        """The collector's sleep: until the result signal fires; while event loops
        collect (and no thread blocks on a future), until woken or for
        ``LOOP_BACKUP_MS``."""
        if not self._listeners or self._blocked:
            wait_either(self._result_signal.rfd, self._collector_wake.rfd)
        elif not wait_either(None, self._collector_wake.rfd, LOOP_BACKUP_MS):
            for fd, alive in list(self._listeners.items()):
                if not alive():  # its loop was closed while it listened
                    self.unlisten(fd, alive)

    # -- shutdown and breakage ----------------------------------------------------

    def shutdown(self, wait: bool, cancel_futures: bool, cancel_running: bool = False) -> None:
        """Stop taking tasks; workers stop once every queued task has run (or been
        cancelled, with ``cancel_futures``: pending and queued tasks, except the first
        ones that idle or starting workers are about to take, as the standard
        library's executors do; with ``cancel_running`` too, these and the running
        ones are interrupted).  With ``wait``, return
        once every worker interpreter is destroyed (except retired ones whose task
        does not return: see ``join``) and every future is done."""
        with self._lock:
            self._shutdown = True
            cancelled = []
            if cancel_futures:
                cancelled = list(self._pending)
                self._pending.clear()
            self._refill_locked()
            if not self._closed:
                self._result_signal.notify()  # no worker may be left to wake the collector
            queued = [f for f, _ in self._running.values()] if cancel_futures else []
            if not cancel_running:
                queued = self._not_taken_locked(queued)
        for future, _ in cancelled:
            if future.cancel():
                future.set_running_or_notify_cancel()
        # Queued ones first, so that no replacement worker is started for them when
        # the running ones are interrupted.
        for future in queued:
            self.cancel(future, interrupt=False)
        if cancel_running:
            for future in queued:
                self.cancel(future, interrupt=True)
        if wait:
            try:
                self.join()
            except KeyboardInterrupt as interrupt:
                # Ctrl-C: stop waiting.  Cancel what has not run, interrupt what runs,
                # give it a moment, and say what is left behind (a task stuck in C).
                self.shutdown(False, True, True)
                if not self.join(everything=True, timeout=CTRL_C_GRACE_SECONDS):
                    stuck = self.stuck()
                    if stuck:
                        interrupt.add_note(
                            f"interpool: shutdown stopped waiting for {_tasks(stuck)} "
                            "still running in C; their worker interpreters are abandoned"
                        )
                raise

    def stuck(self) -> list[str]:
        """What the tasks still running in this pool's workers run (retired workers
        included): after an interruption, the tasks stuck in a C call."""
        with self._lock:
            names = []
            for slot in self._workers:
                task_id = self._slots.tasks[slot]
                if task_id < 0:
                    continue
                entry = self._running.get(task_id)
                if entry is not None:
                    names.append(describe_key(entry[1][FUNCTION]))
                else:
                    names.append(self._abandoned_names.get(task_id, "a task"))
            return names

    def _not_taken_locked(self, queued: list[PoolFuture[Any]]) -> list[PoolFuture[Any]]:
        """``queued`` (the workers' queue, in its order) without the first tasks that
        the idle or starting workers are about to take: as in ``concurrent.futures``,
        where an idle worker takes a task as soon as it is submitted, these are taken,
        and ``shutdown(cancel_futures=True)`` lets them run."""
        running = self._slots.running
        free = self._active - sum(1 for f in queued if running(f.task_id) is not None)
        kept: list[PoolFuture[Any]] = []
        for future in queued:
            if free <= 0:
                break
            if future.task_id not in self._accepted and running(future.task_id) is None:
                kept.append(future)
                free -= 1
        return [f for f in queued if f not in kept] if kept else queued

    def join(self, everything: bool = False, timeout: float | None = None) -> bool:
        """Wait until every worker has exited and the collector has cleaned up.

        Retired workers (whose task timed out or was cancelled) are waited for only
        with ``everything`` (at interpreter exit, which must not destroy a running
        interpreter): otherwise a task stuck in a C call would hold up ``shutdown``;
        such a worker's interpreter is destroyed in the background when the call
        returns.  Called on the collector thread itself (``shutdown(wait=True)`` in a
        done callback), it keeps collecting results, which hands the remaining tasks
        to the workers, until they have all exited; the collector cleans up after.
        With ``timeout``, gives up after that many seconds and returns False (True
        when everything ended)."""
        current = threading.current_thread()
        with self._lock:
            on_worker = any(w.thread is current for w in self._workers.values())
        if on_worker:
            # A done callback run by a worker's thread (which delivers the results
            # its interpreter queued before it is destroyed): the pool cannot finish
            # while this thread waits, so do not wait.
            return True
        if current is self._collector:
            while self._active:
                self._await_results()
                self._drain()
        end = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while any(
                worker.thread is not current and (everything or slot not in self._retired)
                for slot, worker in self._workers.items()
            ):
                if end is None:
                    self._changed.wait()
                elif not self._changed.wait(max(0.0, end - time.monotonic())):
                    return False
            ended = list(self._ended)
        for thread in ended:
            if thread is not current:
                thread.join(None if end is None else max(0.0, end - time.monotonic()))
        if self._collector is not current:
            self._collector.join(None if end is None else max(0.0, end - time.monotonic()))
            if self._collector.is_alive():
                return False
        return not any(t.is_alive() for t in ended if t is not current)

    def _break(self, error: BrokenPool, cause: BaseException | None) -> None:
        if cause is not None:
            error.__cause__ = cause
        with self._lock:
            if self._broken is None:
                self._broken = error
            self._shutdown = True
            dropped = list(self._pending)
            self._pending.clear()
            self._refill_locked()
            if not self._closed:
                self._result_signal.notify()
        for future, _ in dropped:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)

    def _fail_leftovers(self) -> None:
        with self._lock:
            leftovers = [f for f, _ in self._running.values()]
            leftovers += [f for f, _ in self._pending]
            self._running.clear()
            self._pending.clear()
        error = self._broken or BrokenPool("the pool's workers exited before finishing")
        for future in leftovers:
            if future.done():
                continue
            if not future.running() and not future.set_running_or_notify_cancel():
                continue
            with contextlib.suppress(InvalidStateError):
                future.set_exception(error)

    def _all_done(self) -> bool:
        """(Shutting down, no active worker left.)  True unless a worker still owed
        has work to do, or a retired worker still runs a task that was not failed
        (one it took just before it was retired)."""
        with self._lock:
            if self._owed and self._work_left_locked():
                return False
            self._owed = 0
            tasks = self._slots.tasks
            retired = self._retired
            return not any(tasks[slot] in self._running for slot in retired) and not any(
                slot in retired for slot in self._accepted.values()
            )

    def _closing_locked(self) -> bool:
        """True (once) when the signals can be closed: the collector is done and no
        worker, retired or not, is left to use them."""
        if self._collector_done and not self._workers and not self._closed:
            self._closed = True
            return True
        return False

    def _close(self) -> None:
        self._timer.stop()
        self._slots.close()
        self._result_signal.close()  # event loops watch dups of it: see listen()
        self._collector_wake.close()
        self._finished.set()

    @property
    def closed(self) -> bool:
        """True once the pool takes no more tasks (shut down, or broken)."""
        return self._shutdown

    @property
    def broken(self) -> BrokenPool | None:
        """The error that broke the pool (its initializer failed...), or ``None``."""
        return self._broken

    def on_loop(self, future: PoolFuture[Any]) -> bool:
        """Whether ``future``'s task is a coroutine on its worker's event loop (which
        an interruption cancels, leaving the worker in place)."""
        return future.task_id in self._accepted

    @property
    def finished(self) -> bool:
        """True once every worker has exited and resources are released."""
        return self._finished.is_set()

    def stats(self, slowest: int) -> PoolStats:
        """``Pool.stats()``: the recorder's counts, with what runs and waits now."""
        clock = self._clock
        with self._lock:
            now: dict[int, tuple[Any, float]] = {}
            tasks = self._slots.tasks
            for slot in self._workers:
                clock.check_ready(slot)
                task_id = tasks[slot]
                entry = self._running.get(task_id) if task_id >= 0 else None
                start = clock.started(task_id) if entry is not None else 0.0
                if entry is not None and start:
                    now[slot] = (entry[1][FUNCTION], start)
            held = sum(1 for slot in self._workers if tasks[slot] >= 0)
            running = held + len(self._accepted)
            queued = len(self._pending) + max(0, self._in_queue - self._doomed - held)
        return self.recorder.snapshot(queued, running, now, slowest)


def _tasks(names: list[str]) -> str:
    """``"2 tasks (time.sleep, f)"``."""
    return f"{len(names)} task{'s' if len(names) > 1 else ''} ({', '.join(names)})"

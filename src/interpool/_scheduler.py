"""Scheduling: from a submitted call to a worker, and from its result to a future.

One :class:`Scheduler` per pool owns

* the caller-side queue of tasks not yet handed to a worker (``pending``): these are
  still cancellable, and ``shutdown(cancel_futures=True)`` drops them;
* the shared cross-interpreter task queue that idle workers take from, kept at most
  ``2 * max_workers`` tasks deep so that cancellation stays meaningful (a task handed
  over is *running* from its future's point of view, as in ``ProcessPoolExecutor``);
* the result queue, drained by the collector thread when the result signal fires,
  and by callers waiting in ``PoolFuture.result()`` (see ``_future``);
* the worker threads (``_workers``) and the pool's shutdown and breakage state.

Nothing here polls: workers sleep on the task signal, the collector on the result
signal (both ``_wakeup.Signal``), and every spin is bounded.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import deque
from concurrent import interpreters
from concurrent.futures import Future, InvalidStateError
from typing import Any

from . import _worker
from ._errors import BrokenPool, rebuild_exception
from ._functions import MainRef
from ._future import NOT_DONE, RUNNING
from ._handoff import adopt
from ._transport import BUFFERS, decode
from ._wakeup import SLEEPING as _SLEEPING
from ._wakeup import Doorbells, Signal
from ._workers import WorkerThread
from ._xiqueue import QueueEmpty, ops

__all__ = ["Scheduler"]

#: How long an idle worker keeps checking the task queue before it sleeps.
WORKER_SPIN_SECONDS = 100e-6


def _can_poll() -> bool:
    """Polling only pays when the caller and a worker can run at the same time: with a
    single usable CPU it only delays the thread that has the work."""
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else True


def _outcome(kind: int, status: int, payload: Any, handed: Any) -> tuple[bool, Any]:
    """``(True, value)`` or ``(False, exception)`` for a worker's result message.

    The ``bytes`` objects a worker handed over (``handed``, see ``_handoff``) are
    adopted first, whatever happens next, so that none is ever leaked."""
    adopted = [(i, adopt(address)) for i, address in handed] if handed else ()
    if status == _worker.ERROR:
        return False, rebuild_exception(payload)
    try:
        value = decode(status, payload, foreign=True)
    except Exception as exc:  # noqa: BLE001 - e.g. a class the caller cannot import
        error = TypeError(
            f"interpool: the task's result cannot be rebuilt in the caller: {exc}. Return "
            "values whose classes the caller can import (defined in a module, not only in "
            "the worker), and whose unpickling works outside the worker."
        )
        error.__cause__ = exc
        return False, error
    if kind == _worker.CHUNK:
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
    if message[4] == BUFFERS:
        _await_release(message[3][1])
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

    def __init__(
        self,
        max_workers: int,
        path: tuple[str, ...],
        main: MainRef,
        initializer: tuple[str | bytes, Any, Any] | None,
    ) -> None:
        self.max_workers = max_workers
        task_q = interpreters.create_queue()
        result_q = interpreters.create_queue()
        self._tasks = ops(task_q)
        self._put = self._tasks.put
        self._results = ops(result_q)
        self._doorbells = Doorbells(max_workers)
        self._bells = self._doorbells.buffer
        self._pollers = 0
        self._poll = _can_poll()
        self._worker_signals = [Signal() for _ in range(max_workers)]
        self._result_signal = Signal()
        self._lock = threading.Lock()
        self._pending: deque[tuple[Future[Any], tuple[Any, ...]]] = deque()
        self._running: dict[int, tuple[Future[Any], tuple[Any, ...]]] = {}
        self._ids = itertools.count()
        self._depth = 2 * max_workers
        self._in_queue = 0
        self._shutdown = False
        self._sentinels_sent = False
        self._broken: BrokenPool | None = None
        self._live_workers = max_workers
        self._finished = threading.Event()
        self._signals_closed = False
        self._workers = [
            WorkerThread(
                i,
                path,
                (
                    task_q,
                    result_q,
                    i,
                    self._worker_signals[i].rfd,
                    self._result_signal.wfd,
                    self._doorbells.view,
                    main,
                    initializer,
                    WORKER_SPIN_SECONDS if self._poll else 0.0,
                ),
                self._worker_exiting,
                self._worker_exited,
            )
            for i in range(max_workers)
        ]
        self._collector = threading.Thread(target=self._collect, name="interpool-collector")
        self._collector.start()
        for worker in self._workers:
            worker.start()

    # -- submitting ---------------------------------------------------------------

    def submit(self, future: Future[Any], key: str | bytes, kind: int, a: Any, b: Any) -> None:
        """Queue a task (see ``_worker`` for ``kind``, ``a`` and ``b``); ``future``
        completes with its outcome.  Raises ``RuntimeError`` after shutdown and
        ``BrokenPool`` once the pool is broken."""
        with self._lock:
            if self._shutdown:
                if self._broken is not None:
                    raise self._broken
                raise RuntimeError("cannot schedule new futures after shutdown")
            task_id = next(self._ids)
            message = (task_id, key, kind, a, b)
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

    def _wake_locked(self) -> None:
        """Wake as many sleeping workers as there are queued messages beyond the
        polling workers, which will take them anyway (see ``_wakeup``).  The caller
        holds ``_lock``, which also guards against the signals being closed."""
        if self._signals_closed:
            return
        n = self._tasks.count() - self._doorbells.polling()
        if n <= 0:
            return
        for i, signal in enumerate(self._worker_signals):
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
            self._running[message[0]] = (future, message)
            self._put(message)
            self._in_queue += 1
            moved = True
        if moved:
            self._wake_locked()
        if self._shutdown and not self._pending and not self._sentinels_sent:
            self._sentinels_sent = True
            for _ in range(self.max_workers):
                self._put(None)
            # Wake every worker, whatever its flag says: stopping must not depend on
            # the polling bookkeeping.
            if not self._signals_closed:
                for signal in self._worker_signals:
                    signal.notify()

    # -- results ------------------------------------------------------------------

    def help_wait(self, future: Future[Any], budget: float) -> None:
        """Called by a caller about to block on ``future``: complete arriving results
        for up to ``budget`` seconds, or until ``future`` is done.  While any caller
        is in here, workers do not wake the collector (see ``_wakeup``).  Returns at
        once when the process has a single usable CPU."""
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
                if count():
                    self._drain()
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
            if count():  # a result may have arrived unsignalled: see _wakeup
                self._drain()

    def _drain(self) -> None:
        """Complete every result in the result queue."""
        get = self._results.get
        running = self._running
        lock = self._lock
        while True:
            try:
                task_id, status, payload, handed = get()
            except QueueEmpty:
                return
            if status == _worker.INIT_FAILED:
                self._break(
                    BrokenPool("a worker's initializer failed; the pool cannot run tasks"),
                    rebuild_exception(payload),
                )
                continue
            with lock:
                entry = running.pop(task_id, None)
                self._in_queue -= 1
                if self._pending or self._shutdown:
                    self._refill_locked()
            kind = _worker.CALL if entry is None else entry[1][2]
            outcome = _outcome(kind, status, payload, handed)
            # Drop the payload (views of a worker's memory, or of ours that a worker
            # returned) before waiting for the release of the task's own views.
            payload = handed = None
            if entry is not None:
                _complete(entry[0], entry[1], outcome)
            del outcome

    def _collect(self) -> None:
        """The collector thread: sleep on the result signal, complete what arrived."""
        while True:
            self._result_signal.wait()
            self._drain()
            if self._live_workers == 0:
                break
        self._drain()
        self._fail_leftovers()
        with self._lock:
            self._signals_closed = True
            for signal in self._worker_signals:
                signal.close()
            self._result_signal.close()
        self._finished.set()

    # -- shutdown and breakage ----------------------------------------------------

    def shutdown(self, wait: bool, cancel_futures: bool) -> None:
        """Stop taking tasks; workers stop once every queued task has run (or been
        cancelled, with ``cancel_futures``).  With ``wait``, return once every
        worker interpreter is destroyed and every future is done."""
        with self._lock:
            self._shutdown = True
            cancelled = []
            if cancel_futures:
                cancelled = list(self._pending)
                self._pending.clear()
            self._refill_locked()
        for future, _ in cancelled:
            future.cancel()
        if wait:
            self.join()

    def join(self) -> None:
        """Wait until every worker has exited and the collector has cleaned up.

        Called on the collector thread itself (``shutdown(wait=True)`` in a done
        callback), it keeps collecting results, which hands the remaining tasks to
        the workers, until they have all exited; the collector cleans up after."""
        current = threading.current_thread()
        if current is self._collector:
            while self._live_workers:
                self._result_signal.wait()
                self._drain()
        for worker in self._workers:
            if worker.thread is not current and worker.thread.ident is not None:
                worker.thread.join()
        if self._collector is not current:
            self._collector.join()

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
        for future, _ in dropped:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)

    def _worker_exiting(self) -> None:
        """A worker's loop has returned but its interpreter still exists: take every
        result it queued now, since a queue drops the items of a destroyed interpreter."""
        self._drain()

    def _worker_exited(self, error: BaseException | None) -> None:
        if error is not None:
            self._break(BrokenPool("a worker interpreter exited unexpectedly"), error)
        with self._lock:
            self._live_workers -= 1
            self._result_signal.notify()

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

    @property
    def finished(self) -> bool:
        """True once every worker has exited and resources are released."""
        return self._finished.is_set()

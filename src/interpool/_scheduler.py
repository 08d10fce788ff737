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

import itertools
import threading
import time
from collections import deque
from concurrent import interpreters
from concurrent.futures import Future, InvalidStateError
from typing import Any

from . import _worker
from ._errors import BrokenPool, rebuild_exception
from ._functions import MainRef
from ._transport import load
from ._wakeup import Doorbells, Signal
from ._workers import WorkerThread

__all__ = ["Scheduler"]

#: How long an idle worker keeps checking the task queue before it sleeps.
WORKER_SPIN_SECONDS = 100e-6


class Scheduler:
    """The moving parts behind one pool (see the module docstring)."""

    def __init__(
        self,
        max_workers: int,
        path: tuple[str, ...],
        main: MainRef,
        initializer: tuple[str | bytes, tuple[Any, ...] | bytes] | None,
    ) -> None:
        self.max_workers = max_workers
        self._task_q = interpreters.create_queue()
        self._result_q = interpreters.create_queue()
        self._doorbells = Doorbells(max_workers)
        self._worker_signals = [Signal() for _ in range(max_workers)]
        self._result_signal = Signal()
        self._lock = threading.Lock()
        self._pending: deque[tuple[Future[Any], tuple[Any, ...]]] = deque()
        self._running: dict[int, tuple[Future[Any], int]] = {}
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
                    self._task_q,
                    self._result_q,
                    i,
                    self._worker_signals[i].rfd,
                    self._result_signal.wfd,
                    self._doorbells.view,
                    main,
                    initializer,
                    WORKER_SPIN_SECONDS,
                ),
                self._worker_exited,
            )
            for i in range(max_workers)
        ]
        self._collector = threading.Thread(target=self._collect, name="interpool-collector")
        self._collector.start()
        for worker in self._workers:
            worker.start()

    # -- submitting ---------------------------------------------------------------

    def submit(self, future: Future[Any], key: str | bytes, kind: int, payload: Any) -> None:
        """Queue a task; ``future`` completes with its outcome.  Raises
        ``RuntimeError`` after shutdown and ``BrokenPool`` once the pool is broken."""
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            task_id = next(self._ids)
            message = (task_id, key, kind, payload)
            if self._pending or self._in_queue >= self._depth:
                self._pending.append((future, message))
                return
            future.set_running_or_notify_cancel()
            self._running[task_id] = (future, kind)
            self._task_q.put_nowait(message)
            self._in_queue += 1
            self._notify_locked(1)

    def _notify_locked(self, n: int) -> None:
        """After ``n`` messages were queued: wake as many sleeping workers as there are
        waiting messages beyond the polling workers (see ``_wakeup``).  The caller
        holds ``_lock``, which also guards against the signals being closed."""
        if not n or self._signals_closed:
            return
        n = self._task_q.qsize() - self._doorbells.polling()
        if n <= 0:
            return
        for i, signal in enumerate(self._worker_signals):
            if self._doorbells.wake(i):
                signal.notify()
                n -= 1
                if not n:
                    return

    def _refill_locked(self) -> int:
        """Move pending tasks to the shared queue while there is room; returns how many."""
        moved = 0
        while self._pending and self._in_queue < self._depth:
            future, message = self._pending.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while pending
            self._running[message[0]] = (future, message[2])
            self._task_q.put_nowait(message)
            self._in_queue += 1
            moved += 1
        if self._shutdown and not self._pending and not self._sentinels_sent:
            self._sentinels_sent = True
            for _ in range(self.max_workers):
                self._task_q.put_nowait(None)
            moved += self.max_workers
        return moved

    # -- results ------------------------------------------------------------------

    def help_wait(self, future: Future[Any], budget: float) -> None:
        """Called by a caller about to block on ``future``: drain results for up to
        ``budget`` seconds, or until ``future`` is done."""
        qsize = self._result_q.qsize
        deadline = time.perf_counter() + budget
        with self._lock:
            self._doorbells.spinner_enter()
        try:
            while not future.done():
                if qsize():
                    self._drain()
                elif time.perf_counter() > deadline:
                    return
        finally:
            with self._lock:
                self._doorbells.spinner_exit()
            if qsize():  # a result may have arrived unsignalled: see _wakeup
                self._drain()

    def _drain(self) -> None:
        get = self._result_q.get_nowait
        while True:
            try:
                message = get()
            except interpreters.QueueEmpty:
                return
            self._complete(message)

    def _complete(self, message: tuple[Any, ...]) -> None:
        task_id, status, payload = message
        if status == _worker.INIT_FAILED:
            self._break(
                BrokenPool("a worker's initializer failed; the pool cannot run tasks"),
                rebuild_exception(payload),
            )
            return
        with self._lock:
            entry = self._running.pop(task_id, None)
            self._in_queue -= 1
            self._notify_locked(self._refill_locked())
        if entry is None:
            return
        future, kind = entry
        try:
            if status == _worker.OK:
                value = load(payload)
                if kind == _worker.CALL:
                    future.set_result(value[0])
                else:
                    values, error = value
                    future.set_result((values, None if error is None else rebuild_exception(error)))
            else:
                future.set_exception(rebuild_exception(payload))
        except InvalidStateError:
            pass
        except Exception as exc:  # noqa: BLE001 - e.g. the result cannot be unpickled here
            try:
                future.set_exception(exc)
            except InvalidStateError:
                pass

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
            self._notify_locked(self._refill_locked())
        for future, _ in cancelled:
            future.cancel()
        if wait:
            self.join()

    def join(self) -> None:
        """Wait until every worker has exited and the collector has cleaned up."""
        current = threading.current_thread()
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
            self._notify_locked(self._refill_locked())
        for future, _ in dropped:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)

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
            if future.done() or (not future.running() and not future.set_running_or_notify_cancel()):
                continue
            try:
                future.set_exception(error)
            except InvalidStateError:
                pass

    @property
    def finished(self) -> bool:
        """True once every worker has exited and resources are released."""
        return self._finished.is_set()

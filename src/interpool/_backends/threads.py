"""The ``"threads"`` backend: tasks on threads of the caller's interpreter.

The natural choice on a free-threaded build (threads then run Python in parallel and
share objects); elsewhere it serves I/O and C code that releases the GIL.  Nothing is
pickled or copied: a task receives the caller's objects themselves, and its exception
is raised as it is, traceback included.

Workers are threads started on demand, up to ``max_workers``; they take tasks from
one queue in submission order.  A time limit, or ``cancel(interrupt=True)`` on a
running task, fails the task's future at once and raises :class:`Interrupted` in its
thread (``PyThreadState_SetAsyncExc``, as the interpreters backend does inside a
worker interpreter): pure-Python code stops within microseconds, a C call such as
``time.sleep`` only when it returns.  The interrupted thread is not waited for: a
fresh thread takes its place at once, so the pool keeps its capacity, and the old one
exits when its task ends.  A thread that swallows the exception is interrupted again
every :data:`REPEAT_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import itertools
import threading
import time
import types
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from interpool._backends.base import CallHost, Mapper, at_exit
from interpool._engine.forwarding import tag_thread_records
from interpool._engine.futures import NoHelp, PoolFuture, cancel_running
from interpool._engine.stats import Recorder, describe_callable
from interpool._platform import deadlines
from interpool._wire.protocol import FORWARD_LOGS
from interpool._worker import actor_host
from interpool.exceptions import BrokenPool, Interrupted

if TYPE_CHECKING:
    from interpool._backends.base import BackendName, ChunkOutcome
    from interpool.stats import PoolStats

__all__ = ["Interrupted", "Threads"]

#: While an interrupted task still runs, how often it is interrupted again.
REPEAT_SECONDS = 0.5

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int
#: The same function, to clear a pending exception (a NULL exception).
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)

_live: weakref.WeakSet[Threads] = weakref.WeakSet()
_numbers = itertools.count(1)


class _Task:
    """One queued call, or one ``map`` chunk, and the future it completes."""

    __slots__ = ("began", "deadline", "fn", "future", "limit", "run", "started", "thread")

    def __init__(
        self,
        future: ThreadFuture[Any],
        run: Callable[[_Task], Any],
        limit: float | None,
        fn: Any = None,
    ) -> None:
        self.future = future
        #: What it calls (for ``stats()`` and traces), and when it began
        #: (``time.perf_counter()``; ``0.0`` while queued).
        self.fn = fn
        self.began = 0.0
        #: Runs the call (or the chunk's calls); gets the task, to restart the clock
        #: of its time limit at each call of a chunk.
        self.run = run
        self.limit = limit
        #: The worker running it (``None`` while queued).
        self.thread: _Worker | None = None
        #: When its current call started (``time.monotonic()``), and the timer of its
        #: time limit, if it has one.
        self.started = 0.0
        self.deadline: deadlines.Deadline | None = None


class ThreadFuture[T](PoolFuture[T]):
    """The future of a task of the threads backend: a ``PoolFuture`` owned by the
    backend, with its task while it is queued or running (see :meth:`Threads.cancel`)."""

    def __init__(self, backend: Threads) -> None:
        super().__init__(backend)
        self._task: _Task | None = None


class _Worker:
    """A worker thread and what the pool needs to interrupt it."""

    __slots__ = ("ident", "number", "task", "thread")

    def __init__(self, thread: threading.Thread, number: int) -> None:
        self.thread = thread
        #: Its place in ``stats()`` (a replacement thread gets a new one).
        self.number = number
        self.ident = 0
        #: The task it runs (``None`` between tasks); changed under the pool's lock.
        self.task: _Task | None = None


class Threads(NoHelp):
    """The threads backend (see the module docstring).

    Args:
        max_workers: the most tasks run at once (threads start on demand).
        initializer: called with ``*initargs`` in each thread before its first task;
            if it raises, the pool is broken: pending and later tasks fail with
            ``BrokenPool``, whose cause is that error.
    """

    name: BackendName = "threads"
    default_buffersize: int | None = None

    def __init__(
        self,
        max_workers: int,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        forward: int = 0,
    ) -> None:
        self.max_workers = max_workers
        # The tasks print, log and warn through the caller's own streams, logging and
        # warnings: records only need the worker's name (see _engine.forwarding).
        if forward & FORWARD_LOGS:
            tag_thread_records()
        self._initializer = initializer
        self._initargs = initargs
        # Reentrant, so that a worker can release it if an interruption was delivered
        # right after the worker took it (see _end).
        self._lock = threading.RLock()
        self._work = threading.Condition(self._lock)
        self._queue: deque[_Task] = deque()
        #: Threads that take tasks (interrupted ones leave this set at once).
        self._workers: set[_Worker] = set()
        self._idle = 0
        #: Every thread started, to join at shutdown (interrupted ones included).
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._broken: BrokenPool | None = None
        #: ``stats()`` and traces (see ``_engine.stats``).
        self.recorder = Recorder("threads", max_workers, "thread", describe_callable)
        self._places = itertools.count()
        _live.add(self)

    def stats(self, slowest: int) -> PoolStats:
        """``Pool.stats()``: see ``_engine.stats``."""
        with self._lock:
            running = [w.task for w in self._workers if w.task is not None]
            now = {
                w.number: (_function(w.task), w.task.began)
                for w in self._workers
                if w.task is not None and w.task.began
            }
            queued = len(self._queue)
        return self.recorder.snapshot(queued, len(running), now, slowest)

    # -- submitting ---------------------------------------------------------------

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> PoolFuture[Any]:
        if not callable(fn):
            raise TypeError(f"interpool: a task needs a callable, got {type(fn).__name__}")

        def run(task: _Task) -> Any:
            return _awaited(fn(*args, **kwargs))

        return self._submit(run, limit, fn)

    def mapper(self, fn: Callable[..., Any], limit: float | None) -> ThreadMapper:
        if not callable(fn):
            raise TypeError(f"interpool: map needs a callable, got {type(fn).__name__}")
        return ThreadMapper(self, fn, limit)

    def actor_host(self, actor_id: int) -> CallHost:
        """A thread of its own for an actor (with this backend's initializer)."""
        with self._lock:
            if self._closed:
                raise self._broken or RuntimeError(
                    "cannot create an actor after the pool's shutdown"
                )
        return _ActorHost(
            Threads(1, initializer=self._initializer, initargs=self._initargs), actor_id
        )

    def _submit(
        self, run: Callable[[_Task], Any], limit: float | None, fn: Any = None
    ) -> ThreadFuture[Any]:
        future: ThreadFuture[Any] = ThreadFuture(self)
        task = _Task(future, run, limit, fn)
        future._task = task
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append(task)
            if self._idle:
                self._work.notify()
            # (An idle thread counts as idle until it wakes: several submits in a row
            # must not all count on the same one.)
            if len(self._queue) > self._idle and len(self._workers) < self.max_workers:
                self._start_locked()
        return future

    def _start_locked(self) -> None:
        thread = threading.Thread(
            target=self._serve, name=f"interpool-thread-{next(_numbers)}", daemon=True
        )
        worker = _Worker(thread, next(self._places))
        self.recorder.worker_started(worker.number, thread.name)
        self._workers.add(worker)
        self._threads.append(thread)
        thread._interpool_worker = worker  # type: ignore[attr-defined]
        thread.start()

    # -- the worker threads -------------------------------------------------------

    def _serve(self) -> None:
        worker: _Worker = threading.current_thread()._interpool_worker  # type: ignore[attr-defined]
        worker.ident = threading.get_ident()
        try:
            self._serve_as(worker)
        finally:
            self.recorder.worker_ended(worker.number, None)  # (if not replaced)

    def _serve_as(self, worker: _Worker) -> None:
        serving = time.perf_counter()
        if self._initializer is not None:
            try:
                self._initializer(*self._initargs)
            except BaseException as exc:  # noqa: BLE001 - breaks the pool, reported there
                self._break(worker, exc)
                return
        self.recorder.worker_ready(worker.number, serving, time.perf_counter())
        while True:
            task = None  # (the last one is not kept alive while the thread waits)
            try:
                task = self._next(worker)
                if task is None:
                    return
                self._run(worker, task)
            except Interrupted:
                # Delivered outside the task's code (as the worker took it, or as it
                # ended): the task's future is already failed or cancelled.
                self._end(worker, worker.task)
                self.recorder.worker_ended(worker.number, "replaced")
            if worker not in self._workers:
                return  # interrupted: a fresh thread took its place

    def _next(self, worker: _Worker) -> _Task | None:
        """The next task for ``worker`` (``None``: the thread must exit), made
        visible as running, its time limit armed.  Under the lock, so nothing can
        interrupt the worker before the task is its own."""
        with self._lock:
            while True:
                if worker not in self._workers:
                    return None
                if self._broken is not None or (self._closed and not self._queue):
                    self._workers.discard(worker)
                    self._work.notify_all()
                    return None
                while self._queue:
                    task = self._queue.popleft()
                    if task.future.set_running_or_notify_cancel():
                        task.thread = worker
                        worker.task = task
                        task.started = time.monotonic()
                        if task.limit is not None:
                            task.deadline = deadlines.at(
                                task.limit, functools.partial(self._check, task)
                            )
                        return task
                if self._closed:
                    continue
                self._idle += 1
                self._work.wait()
                self._idle -= 1

    def _run(self, worker: _Worker, task: _Task) -> None:
        outcome: tuple[bool, Any] | None = None
        try:
            task.began = time.perf_counter()
            outcome = (True, task.run(task))
        except Interrupted:
            pass  # the future was failed (or cancelled) when the thread was interrupted
        except BaseException as exc:  # noqa: BLE001 - the task's outcome
            outcome = (False, exc)
        finally:
            self._end(worker, task)
        if outcome is None:
            return  # (counted by _stop)
        _record(self.recorder, worker, task, outcome)
        ok, value = outcome
        future = task.future
        with contextlib.suppress(Exception):  # cancelled or failed by its time limit
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _end(self, worker: _Worker, task: _Task | None) -> None:
        """The worker's task has ended: from now on nothing may interrupt it, and an
        interruption raised but not yet delivered is dropped.

        An interruption can still be delivered while this runs, at any bytecode
        boundary, including right after ``with self._lock`` took the lock and before
        its block began (the lock then stays taken): so this starts over until it
        completes, first releasing the lock if this thread holds it (no caller of
        ``_end`` does)."""
        while True:
            try:
                while self._lock._is_owned():  # type: ignore[attr-defined]
                    self._lock.release()
                if task is not None and task.deadline is not None:
                    task.deadline.cancel()
                with self._lock:
                    worker.task = None
                    if task is not None:
                        # (No cycle future -> task -> future: a future dropped by the
                        # caller frees the call's arguments at once, as in the stdlib.)
                        task.future._task = None
                    if worker not in self._workers:  # it was interrupted (only such leave)
                        _clear_async_exc(worker.ident, None)
                return
            except Interrupted:
                continue

    # -- stopping a task --------------------------------------------------------------

    def cancel(self, future: ThreadFuture[Any], interrupt: bool) -> bool:
        """``future.cancel(interrupt=...)``: a queued task is dropped; a running one
        is interrupted (the future is cancelled at once; see the module docstring),
        unless not ``interrupt``: then it is left alone and False is returned, as in
        ``concurrent.futures``.  False once finished."""
        if Future.cancel(future):
            return True
        if not interrupt or future.done():
            return future.cancelled()
        return self._stop(future, None)

    def _stop(self, future: ThreadFuture[Any], limit: float | None) -> bool:
        """Fail ``future`` at once (``TimeoutError`` at its time ``limit``, cancelled
        without one) and interrupt its thread, which a fresh one replaces."""
        task = future._task
        with self._lock:
            worker = None if task is None else task.thread
            if worker is None or worker.task is not task:
                return future.cancelled()  # not running: it ended meanwhile
            self._workers.discard(worker)
            if self._queue:
                self._start_locked()  # (after shutdown too: the queued tasks still run)
            _set_async_exc(worker.ident, Interrupted)
            assert task is not None
            # Counted now: its thread may stay in a C call for long.
            _record(self.recorder, worker, task, None)
            self.recorder.worker_ended(worker.number, "replaced")
        if task is not None:
            self._repeat(worker, task)
        if limit is not None:
            error = TimeoutError(
                f"interpool: the task ran longer than its time limit of {limit:g} s; it "
                "was interrupted, and its thread is replaced by a new one"
            )
            with contextlib.suppress(Exception):
                future.set_exception(error)
            return False
        return cancel_running(future)

    def _check(self, task: _Task) -> None:
        """The timer's call at ``task``'s time limit: stop it, unless a later call of
        its chunk restarted the clock (then wait for the rest of that call's limit)."""
        assert task.limit is not None
        left = task.started + task.limit - time.monotonic()
        if left <= 0:
            self._stop(task.future, task.limit)
            return
        with self._lock:
            worker = task.thread
            if worker is not None and worker.task is task:
                task.deadline = deadlines.at(left, functools.partial(self._check, task))

    def _repeat(self, worker: _Worker, task: _Task) -> None:
        def again() -> None:
            with self._lock:
                if worker.task is not task:
                    return
                _set_async_exc(worker.ident, Interrupted)
            deadlines.at(REPEAT_SECONDS, again)

        deadlines.at(REPEAT_SECONDS, again)

    # -- the end ----------------------------------------------------------------------

    def _break(self, worker: _Worker, exc: BaseException) -> None:
        error = BrokenPool(
            "interpool: the pool's initializer raised "
            f"{type(exc).__qualname__}: {exc}; the pool cannot run tasks"
        )
        error.__cause__ = exc
        with self._lock:
            if self._broken is None:
                self._broken = error
            # The other threads leave after their current task (see _next).
            self._workers.discard(worker)
            queued = list(self._queue)
            self._queue.clear()
            self._work.notify_all()
        for task in queued:
            with contextlib.suppress(Exception):
                if task.future.set_running_or_notify_cancel():
                    task.future.set_exception(self._broken)

    def shutdown(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        with self._lock:
            self._closed = True
            cancelled = []
            if cancel_futures:
                # As in concurrent.futures, the tasks that idle (or starting) threads
                # are about to take are taken: they run, unless cancel_running.
                keep = 0 if cancel_running else sum(w.task is None for w in self._workers)
                cancelled = list(self._queue)[keep:]
                for _ in cancelled:
                    self._queue.pop()
            running = [w.task.future for w in self._workers if w.task is not None]
            self._work.notify_all()
        for task in cancelled:
            task.future.cancel()
        if cancel_futures and cancel_running:
            for future in running:
                future.cancel(interrupt=True)
        if wait:
            self.join()

    def join(self) -> None:
        """Wait for the threads that take tasks (not for the one calling this, if a
        task does); an interrupted thread stuck in a C call is not waited for (it is a
        daemon thread, and exits with its call)."""
        me = threading.current_thread()
        while True:
            with self._lock:
                threads = [w.thread for w in self._workers if w.thread is not me]
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                return
            for thread in alive:
                thread.join()


class ThreadMapper(Mapper[Threads]):
    """``map`` chunks of one function: each chunk one task, each call with the time
    limit restarted."""

    __slots__ = ()

    def encode(self, chunk: tuple[tuple[Any, ...], ...], start: int) -> tuple[tuple[Any, ...], ...]:
        return chunk

    def submit(self, encoded: tuple[tuple[Any, ...], ...]) -> PoolFuture[ChunkOutcome]:
        fn = self._fn

        def run(task: _Task) -> ChunkOutcome:
            results: list[Any] = []
            for i, args in enumerate(encoded):
                if i:
                    task.started = time.monotonic()  # each call has the whole limit
                try:
                    results.append(_awaited(fn(*args)))
                except Interrupted:
                    raise
                except BaseException as exc:  # noqa: BLE001 - the chunk's outcome
                    return results, exc
            return results, None

        return self._backend._submit(run, self._limit, _Chunk(fn))


class _ActorHost(CallHost):
    """:meth:`Threads.actor_host`: a thread of its own serves the actor, whose
    instance lives in this interpreter's ``_worker.actor_host`` registry; it is
    dropped once the thread is done (at once with ``close(wait=True)``, else by a
    helper thread)."""

    __slots__ = ("_forgetter",)

    def __init__(self, backend: Threads, actor_id: int) -> None:
        super().__init__(backend, actor_id, "thread")
        self._forgetter: threading.Thread | None = None

    def close(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        super().close(wait, cancel_futures, cancel_running)
        if wait:
            self._forget()
        elif self._forgetter is None:
            self._forgetter = threading.Thread(
                target=self._forget, name="interpool-actor-forget", daemon=True
            )
            self._forgetter.start()

    def _forget(self) -> None:
        self._backend.join()
        actor_host.forget(self._id)


def _record(
    recorder: Recorder, worker: _Worker, task: _Task, outcome: tuple[bool, Any] | None
) -> None:
    """Count a task that ended (``outcome`` ``None``: stopped, its thread replaced:
    counted by ``Threads._stop``, which passes ``outcome`` ``None``, so that
    ``Threads._run`` passes its ``None`` for nothing)."""
    end = time.perf_counter()
    chunk = type(task.fn) is _Chunk
    failed = outcome is None or not outcome[0] or (chunk and outcome[1][1] is not None)
    recorder.task_ended(
        worker.number,
        _function(task),
        "map" if chunk else "call",
        task.began or end,
        end,
        failed,
    )


def _function(task: _Task) -> Any:
    """What ``task`` calls."""
    return task.fn.fn if type(task.fn) is _Chunk else task.fn


class _Chunk:
    """A map chunk's function, as its task records it."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn


def _awaited(value: Any) -> Any:
    """``value``, or what it returns if it is a coroutine, run on an event loop of its
    own in this thread."""
    if isinstance(value, types.CoroutineType):
        return asyncio.run(value)
    return value


def _at_exit() -> None:
    """At exit, let the queued tasks run (as ``ThreadPoolExecutor`` does); see
    ``base.EXIT_STEPS``."""
    for backend in list(_live):
        backend.shutdown(True, False, False)


at_exit("threads", _at_exit)

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
import itertools
import threading
import types
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from . import _deadlines
from ._errors import BrokenPool
from ._future import cancel_running

if TYPE_CHECKING:
    from ._backend import BackendName, ChunkOutcome

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


class Interrupted(BaseException):
    """Raised in a worker thread to stop a task that ran past its time limit or was
    cancelled.  A ``BaseException``, so that ``except Exception`` does not swallow it."""


class _Task:
    """One queued call, or one ``map`` chunk, and the future it completes."""

    __slots__ = ("future", "limit", "run", "thread")

    def __init__(self, future: ThreadFuture[Any], run: Callable[[], Any], limit: float | None):
        self.future = future
        self.run = run
        self.limit = limit
        #: The worker running it (``None`` while queued).
        self.thread: _Worker | None = None


class ThreadFuture[T](Future[T]):
    """The future of a task of the threads backend; see :meth:`cancel`."""

    def __init__(self, backend: Threads) -> None:
        super().__init__()
        self._backend = backend
        self._task: _Task | None = None

    def cancel(self, *, interrupt: bool = True) -> bool:
        """Cancel the task; True if it is (now) cancelled.  A queued task is dropped;
        a running one is interrupted (the future is cancelled at once; see the
        module docstring), unless ``interrupt=False``: then it is left alone and
        False is returned, as in ``concurrent.futures``.  False once finished."""
        if super().cancel():
            return True
        if not interrupt or self.done():
            return self.cancelled()
        return self._backend._stop(self, None)


class _Worker:
    """A worker thread and what the pool needs to interrupt it."""

    __slots__ = ("ident", "task", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.ident = 0
        #: The task it runs (``None`` between tasks); changed under the pool's lock.
        self.task: _Task | None = None


class Threads:
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
    ) -> None:
        self.max_workers = max_workers
        self._initializer = initializer
        self._initargs = initargs
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._queue: deque[_Task] = deque()
        #: Threads that take tasks (interrupted ones leave this set at once).
        self._workers: set[_Worker] = set()
        self._idle = 0
        #: Every thread started, to join at shutdown (interrupted ones included).
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._broken: BrokenPool | None = None
        _live.add(self)

    # -- submitting ---------------------------------------------------------------

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> Future[Any]:
        if not callable(fn):
            raise TypeError(f"interpool: a task needs a callable, got {type(fn).__name__}")

        def run() -> Any:
            return _awaited(fn(*args, **kwargs))

        return self._submit(run, limit)

    def mapper(self, fn: Callable[..., Any], limit: float | None) -> _Mapper:
        if not callable(fn):
            raise TypeError(f"interpool: map needs a callable, got {type(fn).__name__}")
        return _Mapper(self, fn, limit)

    def _submit(self, run: Callable[[], Any], limit: float | None) -> ThreadFuture[Any]:
        future: ThreadFuture[Any] = ThreadFuture(self)
        task = _Task(future, run, limit)
        future._task = task
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append(task)
            if self._idle:
                self._work.notify()
            elif len(self._workers) < self.max_workers:
                self._start_locked()
        return future

    def _start_locked(self) -> None:
        thread = threading.Thread(
            target=self._serve, name=f"interpool-thread-{next(_numbers)}", daemon=True
        )
        worker = _Worker(thread)
        self._workers.add(worker)
        self._threads.append(thread)
        thread._interpool_worker = worker  # type: ignore[attr-defined]
        thread.start()

    # -- the worker threads -------------------------------------------------------

    def _serve(self) -> None:
        worker: _Worker = threading.current_thread()._interpool_worker  # type: ignore[attr-defined]
        worker.ident = threading.get_ident()
        if self._initializer is not None:
            try:
                self._initializer(*self._initargs)
            except BaseException as exc:  # noqa: BLE001 - breaks the pool, reported there
                self._break(exc)
                return
        while True:
            try:
                task = self._next(worker)
                if task is None:
                    return
                self._run(worker, task)
            except Interrupted:
                # Raised late (after its task ended, before the worker was detached
                # from it): that task's future is already done.
                self._detach(worker)
            if worker not in self._workers:
                return  # interrupted: a fresh thread took its place

    def _next(self, worker: _Worker) -> _Task | None:
        with self._lock:
            while True:
                if worker not in self._workers:
                    return None
                while self._queue:
                    task = self._queue.popleft()
                    if task.future.set_running_or_notify_cancel():
                        task.thread = worker
                        worker.task = task
                        return task
                if self._closed:
                    self._workers.discard(worker)
                    self._work.notify_all()
                    return None
                self._idle += 1
                self._work.wait()
                self._idle -= 1

    def _run(self, worker: _Worker, task: _Task) -> None:
        future = task.future
        deadline = None
        if task.limit is not None:
            limit = task.limit
            deadline = _deadlines.at(limit, lambda: self._stop(future, limit))
        try:
            try:
                value = task.run()
            finally:
                if deadline is not None:
                    deadline.cancel()
                self._detach(worker)
        except Interrupted:
            return  # the future was failed (or cancelled) when the thread was interrupted
        except BaseException as exc:  # noqa: BLE001 - the task's outcome
            with contextlib.suppress(Exception):
                future.set_exception(exc)
            del exc
            return
        with contextlib.suppress(Exception):  # cancelled or failed by its time limit
            future.set_result(value)

    def _detach(self, worker: _Worker) -> None:
        """The worker's task has ended: from now on nothing may interrupt it, and an
        interruption raised but not yet delivered is dropped."""
        with self._lock:
            worker.task = None
            if worker not in self._workers:  # it was interrupted (only such leave)
                _clear_async_exc(worker.ident, None)

    # -- stopping a task --------------------------------------------------------------

    def _stop(self, future: ThreadFuture[Any], limit: float | None) -> bool:
        """Fail ``future`` at once (``TimeoutError`` at its time ``limit``, cancelled
        without one) and interrupt its thread, which a fresh one replaces."""
        task = future._task
        with self._lock:
            worker = None if task is None else task.thread
            if worker is None or worker.task is not task:
                return future.cancelled()  # not running: it ended meanwhile
            self._workers.discard(worker)
            if self._queue and not self._closed:
                self._start_locked()
            elif self._closed:
                self._work.notify_all()
            _set_async_exc(worker.ident, Interrupted)
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

    def _repeat(self, worker: _Worker, task: _Task) -> None:
        def again() -> None:
            with self._lock:
                if worker.task is not task:
                    return
                _set_async_exc(worker.ident, Interrupted)
            _deadlines.at(REPEAT_SECONDS, again)

        _deadlines.at(REPEAT_SECONDS, again)

    # -- the end ----------------------------------------------------------------------

    def _break(self, exc: BaseException) -> None:
        error = BrokenPool(
            "interpool: the pool's initializer raised "
            f"{type(exc).__qualname__}: {exc}; the pool cannot run tasks"
        )
        error.__cause__ = exc
        with self._lock:
            if self._broken is None:
                self._broken = error
            self._workers.clear()
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
                cancelled = list(self._queue)
                self._queue.clear()
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
        """Wait for the threads that take tasks; an interrupted thread stuck in a C
        call is not waited for (it is a daemon thread, and exits with its call)."""
        while True:
            with self._lock:
                workers = [w.thread for w in self._workers]
            if not workers:
                return
            for thread in workers:
                if thread is not threading.current_thread():
                    thread.join()
            with self._lock:
                if all(not w.thread.is_alive() for w in self._workers):
                    return


class _Mapper:
    """``map`` chunks of one function: each chunk one task, each call with the time
    limit restarted."""

    __slots__ = ("_backend", "_fn", "_limit")

    def __init__(self, backend: Threads, fn: Callable[..., Any], limit: float | None) -> None:
        self._backend = backend
        self._fn = fn
        self._limit = limit

    def encode(self, chunk: tuple[tuple[Any, ...], ...], start: int) -> tuple[tuple[Any, ...], ...]:
        return chunk

    def submit(self, encoded: tuple[tuple[Any, ...], ...]) -> Future[ChunkOutcome]:
        fn = self._fn

        def run() -> ChunkOutcome:
            results: list[Any] = []
            for args in encoded:
                try:
                    results.append(_awaited(fn(*args)))
                except Interrupted:
                    raise
                except BaseException as exc:  # noqa: BLE001 - the chunk's outcome
                    return results, exc
            return results, None

        return self._backend._submit(run, self._limit)


def _awaited(value: Any) -> Any:
    """``value``, or what it returns if it is a coroutine, run on an event loop of its
    own in this thread."""
    if isinstance(value, types.CoroutineType):
        return asyncio.run(value)
    return value


def _at_exit() -> None:
    """At exit, let the queued tasks run (as ``ThreadPoolExecutor`` does)."""
    for backend in list(_live):
        backend.shutdown(True, False, False)


threading._register_atexit(_at_exit)  # type: ignore[attr-defined]

"""The processes backend: each task runs in a worker process whose death fails that
task only.

It is the home of work that needs extension modules which cannot load in a
sub-interpreter (numpy, orjson, msgspec, pydantic-core...), and of *hard* time
limits: a task past its limit, or cancelled while it runs, is stopped by killing its
process (``SIGKILL``), which stops a C call too.  ``Pool(fallback="processes")``
runs its rerouted tasks here as well.

How it works.  Each worker is a caller-side thread (``interpool-process-N``) that owns
one process (``multiprocessing``'s "forkserver" method, "spawn" where it does not
exist; never "fork": the caller runs threads, which a forked child would inherit in
an arbitrary state) and one duplex pipe to it.  The thread takes tasks from the
backend's queue, sends each to its process, and waits for the reply with
``conn.poll(time left)``.  At the limit, or on ``cancel()``, the process is killed
and the thread starts a fresh one; if the process dies on its own (``os._exit``, a
segfault, killed from outside), that task fails with :class:`WorkerCrashed` and the
process is replaced.  Nothing else is affected (unlike ``ProcessPoolExecutor``,
which then breaks for good).

Callables and values cross pickled (``_wire.pickled``): plain pickle when the pickle
does not mention ``__main__``; otherwise, or when plain pickle cannot (lambdas,
closures, nested functions, classes defined in a function), cloudpickle, which sends
them by value.  So functions of the REPL, ``python -c``, stdin or a script run with
``python -m pkg`` work too.  Errors are encoded as interpool's workers do
(``_wire.errors.encode_error``) and rebuilt with
``_wire.errors.rebuild_exception``: the original type and message, with an
``interpool.RemoteTraceback`` holding the process's traceback, or an
``interpool.RemoteError`` if the exception cannot be sent back.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, InvalidStateError
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from interpool._backends.base import (
    BackendName,
    CallHost,
    ChunkOutcome,
    Mapper,
    at_exit,
    main_file_hidden,
)
from interpool._engine.forwarding import CallerSettings, Delivery
from interpool._engine.futures import NoHelp, PoolFuture, cancel_running
from interpool._engine.stats import Recorder, describe_callable
from interpool._wire.errors import encode_error, rebuild_exception
from interpool._wire.pickled import (
    NEXT,
    decode_chunk,
    decode_reply,
    dump_sent,
    run_call,
    run_chunk,
    set_main_file,
)
from interpool.exceptions import BrokenPool, WorkerCrashed
from interpool.stats import PoolStats

__all__ = ["ProcessFuture", "Processes"]

_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"

#: How long a worker waits for an idle process to exit when asked, before killing it.
STOP_GRACE = 5.0

# Messages.  Caller to process: ``(kind, payload, progress)`` or ``None`` (exit);
# ``(_SETTINGS, blob, None)`` brings the caller's logger levels and warning filters
# (``_engine.forwarding.CallerSettings``) before a task when they changed.  Process to
# caller: ``(_READY, (pid, initializer seconds))``, ``(_INIT_FAILED, error info)``,
# ``NEXT`` (a chunk's call finished; only with ``progress``), ``(_FORWARD, event)``
# (what a task printed, logged or warned: ``_worker.forwarding``), then the reply:
# ``(_CALL_DONE, pickled.run_call's reply)`` for a call, ``(_CHUNK_DONE,
# pickled.run_chunk's reply)`` for a chunk.
_CALL = 0
_MAP = 1
_SETTINGS = 3
_FORWARD = 9
_READY = 10
_INIT_FAILED = 11
_CALL_DONE = 12
_CHUNK_DONE = 13

# A task's states (changed under the backend's lock).
_QUEUED = 0
_RUNNING = 1
_ENDED = 2  # its reply came, or its process died: the worker completes the future
_STOPPED = 3  # cancelled or timed out: the process is being killed

_live: weakref.WeakSet[Processes] = weakref.WeakSet()
_names = itertools.count(1)
#: Starting a process may hide ``__main__.__file__`` for a moment (see
#: :func:`base.main_file_hidden`): one start at a time.
_start_lock = threading.Lock()


def _at_exit() -> None:
    """At exit: stop every backend still open, letting queued tasks finish, so no
    worker process outlives the program.  Ctrl-C while waiting cancels the rest and
    kills the running tasks' processes.

    The last step of the exit (``base.EXIT_STEPS``), with daemon worker threads: it
    runs after the pools have stopped their worker interpreters and the non-daemon
    threads were joined, so that a task those reroute to a process at exit still
    runs; and before ``multiprocessing``'s own hook, which would wait for the
    processes."""
    for backend in list(_live):
        backend.shutdown(False, False, False)
    for backend in list(_live):
        while True:
            try:
                backend.join()
                break
            except KeyboardInterrupt:
                backend.shutdown(False, True, True)


at_exit("processes", _at_exit)


class Processes(NoHelp):
    """Runs tasks in worker processes (see the module docstring).

    Args:
        max_workers: the most processes run at once; each is started on demand (the
            first with the first task: a backend that is never used costs no process)
            and then kept until shutdown.
        path: the ``sys.path`` of the processes (``None``: the caller's, as it is now).
        initializer: called with ``*initargs`` once in each process before its first
            task (sent like a task's callable and arguments); replacement processes
            run it too.  If it raises (or its process dies), the backend is broken:
            queued and later tasks fail with ``BrokenPool``, whose ``__cause__`` is the
            initializer's error.
        max_tasks_per_worker: replace a process by a fresh one after it has run that
            many tasks (a ``map`` chunk counts as one).  ``None``: never.

    Semantics of the futures it returns:

    * Time limit (``limit`` of :meth:`call` and :meth:`mapper`): counted from the
      moment the task is sent to its process (for a ``map`` chunk, for each call of
      the chunk).  At the limit the future fails at once with ``TimeoutError``, the
      process is killed (``SIGKILL``; a C call such as ``time.sleep`` is stopped too)
      and a fresh one takes its place.
    * ``cancel()`` (``interrupt=True``, the default): a queued task is dropped; a
      running one is cancelled at once and its process killed and replaced.
      ``cancel(interrupt=False)`` leaves a running task alone and returns False.
    * A process that dies during a task fails that task with ``WorkerCrashed``
      (naming the exit code or signal); it is replaced and other tasks go on.
    * Arguments and results are copies (a ``memoryview`` arrives as ``bytes``).  An
      argument that cannot be pickled raises ``TypeError`` at submission; a result
      that cannot be sent back, or rebuilt in the caller, fails that task with
      ``TypeError``.  A coroutine function (or a call returning a coroutine) runs
      with ``asyncio.run`` in the process.
    * The processes ignore ``SIGINT`` (a Ctrl-C in the terminal reaches the whole
      process group): the caller decides, by cancelling, what stops.

    The processes get the caller's ``sys.path`` and load its ``__main__`` script as
    ``multiprocessing`` does (its top-level code runs again, its ``if __name__ ==
    "__main__":`` block does not).  The forkserver process is ``multiprocessing``'s,
    shared by the whole program.  Thread-safe.
    """

    name: BackendName = "processes"
    default_buffersize: int | None = None

    def __init__(
        self,
        max_workers: int,
        *,
        path: Iterable[str] | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        max_tasks_per_worker: int | None = None,
        forward: int = 0,
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be callable, got {type(initializer).__name__}")
        if max_tasks_per_worker is not None and (
            not isinstance(max_tasks_per_worker, int)
            or isinstance(max_tasks_per_worker, bool)
            or max_tasks_per_worker < 1
        ):
            raise ValueError(
                f"max_tasks_per_worker must be a positive int or None, got {max_tasks_per_worker!r}"
            )
        self.max_workers = max_workers
        self._path = tuple(p for p in (sys.path if path is None else path) if isinstance(p, str))
        self._init: bytes | None = None
        if initializer is not None:
            self._init = dump_sent((initializer, tuple(initargs)), "the initializer")
        self._max_tasks = max_tasks_per_worker or 0
        main = sys.modules.get("__main__")
        self._main_file: str | None = getattr(main, "__file__", None)
        #: What the tasks print, log and warn that reaches the caller (see
        #: ``_engine.forwarding``), and the caller's settings the processes follow.
        self.forward = forward
        self._settings = CallerSettings(forward) if forward else None
        self._delivery = Delivery("processName")
        # Reentrant: a future's callbacks may run in a thread that holds it.
        self._lock = threading.RLock()
        self._work = threading.Condition(self._lock)
        self._queue: deque[_Task] = deque()
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers not running a task
        self._closed = False
        self._broken: BrokenPool | None = None
        #: ``stats()`` and traces (see ``_engine.stats``).
        self.recorder = Recorder("processes", max_workers, "process", describe_callable)
        _live.add(self)

    def stats(self, slowest: int) -> PoolStats:
        """``Pool.stats()``: see ``_engine.stats``."""
        with self._lock:
            running = [w.task for w in self._workers if w.task is not None]
            now = {
                w.place: (w.task.fn, w.task.began)
                for w in self._workers
                if w.task is not None and w.task.began
            }
            queued = len(self._queue)
        return self.recorder.snapshot(queued, len(running), now, slowest)

    @property
    def started(self) -> bool:
        """Whether a worker (and so a process) was ever started."""
        return bool(self._threads)

    # -- submitting ----------------------------------------------------------------------

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        limit: float | None = None,
    ) -> PoolFuture[Any]:
        """Run ``fn(*args, **kwargs)`` in a process (see the class docstring for
        ``limit`` and cancellation).  Raises ``TypeError`` at once if ``fn`` or an
        argument cannot be pickled (a lock, a socket...), ``RuntimeError`` after
        :meth:`shutdown`, ``BrokenPool`` once the backend is broken."""
        blob = dump_sent((fn, tuple(args), dict(kwargs or {})), "the call")
        return self._submit(_CALL, blob, limit, fn)

    def mapper(self, fn: Callable[..., Any], limit: float | None = None) -> ProcessMapper:
        """How ``map`` sends chunks of ``fn`` calls to processes (``fn`` is pickled
        once, here: ``TypeError`` if it cannot be); ``limit`` applies to each call."""
        mapper = ProcessMapper(self, dump_sent(fn, "the function"), limit)
        mapper.function = fn
        return mapper

    def actor_host(self, actor_id: int) -> CallHost:
        """A process of its own for an actor (with this backend's initializer)."""
        with self._lock:
            if self._closed:
                raise self._broken or RuntimeError(
                    "cannot create an actor after the pool's shutdown"
                )
        own = Processes(1, forward=self.forward)
        own._init = self._init
        return CallHost(own, actor_id, "process")

    def _submit(
        self, kind: int, payload: Any, limit: float | None, fn: Any = None
    ) -> ProcessFuture[Any]:
        if self._settings is not None:
            self._settings.refresh()
        future: ProcessFuture[Any] = ProcessFuture(self)
        task = _Task(future, kind, payload, limit, fn)
        future._task = task
        with self._lock:
            if self._closed:
                if self._broken is not None:
                    raise self._broken
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append(task)
            if self._idle < len(self._queue) and len(self._workers) < self.max_workers:
                self._add_worker_locked()
            self._work.notify()
        return future

    def _add_worker_locked(self) -> None:
        worker = _Worker(next(_names), len(self._workers))
        # A daemon: the backend's exit hook (see _at_exit) stops it.
        thread = threading.Thread(
            target=self._serve,
            args=(worker,),
            name=f"interpool-process-{worker.number}",
            daemon=True,
        )
        self._workers.append(worker)
        self._threads.append(thread)
        self._idle += 1
        thread.start()

    # -- cancelling ----------------------------------------------------------------------

    def cancel(self, future: ProcessFuture[Any], interrupt: bool) -> bool:
        """``future.cancel(interrupt=...)``: see the class docstring."""
        task = future._task
        with self._lock:
            state = task.state
            if state == _QUEUED:
                self._queue.remove(task)
                task.state = _STOPPED
            elif state == _RUNNING and interrupt:
                task.state = _STOPPED
                worker = task.worker
                assert worker is not None and worker.process is not None
                # Not reaped yet: the worker reaps it only after it saw the task's
                # state, under this lock.
                worker.process.kill()
            elif state == _STOPPED:
                return future.cancelled()
            else:
                return False
        if state == _QUEUED:
            if Future.cancel(future):
                future.set_running_or_notify_cancel()
            return True
        return cancel_running(future)

    # -- the workers ---------------------------------------------------------------------

    def _serve(self, worker: _Worker) -> None:
        """A worker thread: start a process, run tasks on it, replace it as needed."""
        try:
            while True:
                with self._lock:
                    while (
                        not self._queue
                        and not self._closed
                        and (worker.process is not None or not worker.started)
                    ):
                        self._work.wait()
                    if self._broken is not None or (self._closed and not self._queue):
                        return
                    task = None
                    died = worker.process is not None and _ended(worker.conn)
                    if worker.process is not None and not died:
                        task = self._queue.popleft()
                        task.state = _RUNNING
                        task.worker = worker
                        worker.task = task
                        self._idle -= 1
                        if not task.future.set_running_or_notify_cancel():
                            task.state = _STOPPED  # (cannot happen: cancel dequeues)
                            worker.task = None
                            self._idle += 1
                            continue
                if task is None:
                    if died:  # while idle (killed from outside): no task lost
                        self._replace(worker)
                    elif not self._start(worker):
                        return
                    continue
                try:
                    task.began = time.perf_counter()
                    self._run(worker, task)
                finally:
                    _record(self.recorder, worker, task)
                    task.fn = None  # (its future keeps the task: not the callable)
                    with self._lock:
                        worker.task = None
                        self._idle += 1
        finally:
            self._stop(worker)
            self.recorder.worker_ended(worker.place, None)
            with self._lock:
                self._idle -= 1
                self._work.notify_all()

    def _start(self, worker: _Worker) -> bool:
        """Start ``worker``'s process and wait until it is ready; False (the backend
        is then broken) if it fails."""
        worker.started = True
        self.recorder.worker_started(worker.place, f"interpool-process-{worker.number}")
        # (Typed as Any: typeshed's BaseContext has no Process.)
        context: Any = multiprocessing.get_context(_START_METHOD)
        here, there = context.Pipe(duplex=True)
        process: BaseProcess = context.Process(
            target=_serve,
            args=(there, self._path, self._init, self.forward, self._main_file),
            name=f"interpool-process-{worker.number}",
        )
        try:
            with _start_lock, main_file_hidden():
                process.start()
        except Exception as exc:  # noqa: BLE001 - becomes the pool's BrokenPool
            here.close()
            there.close()
            self._break(BrokenPool("a worker process failed to start"), exc)
            return False
        there.close()  # so that the process's death is seen as the end of the pipe
        try:
            status, payload = here.recv()
            while status == _FORWARD:  # the initializer's output, logs and warnings
                self._delivery.deliver(payload, process.name)
                status, payload = here.recv()
        except (EOFError, OSError):
            process.join()
            here.close()
            self._break(
                BrokenPool("a worker process died before it was ready; the pool cannot run tasks"),
                WorkerCrashed(f"interpool: the worker process {_how_it_ended(process)}"),
            )
            return False
        if status == _INIT_FAILED:
            process.join()
            here.close()
            self._break(
                BrokenPool("a worker's initializer failed; the pool cannot run tasks"),
                rebuild_exception(payload),
            )
            return False
        ready = time.perf_counter()
        self.recorder.worker_ready(worker.place, ready - payload[1], ready)
        with self._lock:
            worker.process, worker.conn, worker.tasks = process, here, 0
            worker.settings = 0
        return True

    def _run(self, worker: _Worker, task: _Task) -> None:
        """Send ``task`` to ``worker``'s process and complete its future."""
        conn, process = worker.conn, worker.process
        assert conn is not None and process is not None
        limit = task.limit
        reply: Any = None
        timed_out = False
        settings = self._settings
        try:
            if settings is not None and worker.settings != settings.current[0]:
                worker.settings, blob = settings.current
                conn.send((_SETTINGS, blob, None))
            conn.send((task.kind, task.payload, limit is not None))
            deadline = None if limit is None else time.monotonic() + limit
            while True:
                if deadline is not None and not conn.poll(max(0.0, deadline - time.monotonic())):
                    timed_out = True
                    break
                reply = conn.recv()
                if type(reply) is tuple and reply[0] == _FORWARD:
                    self._delivery.deliver(reply[1], process.name or "")
                    continue
                if reply != NEXT:
                    break
                # A chunk's call finished: the next one has the whole limit.
                deadline = None if limit is None else time.monotonic() + limit
        except (EOFError, OSError):
            reply = None  # the process died (or was killed: cancel)
        task.ended = time.perf_counter()
        with self._lock:
            state = task.state
            if state == _RUNNING:
                task.state = _STOPPED if timed_out else _ENDED
        future = task.future
        if state == _STOPPED or timed_out or reply is None:
            if state == _RUNNING and timed_out:
                # The future fails at once; then the process is killed and reaped.
                _fail(
                    future,
                    TimeoutError(
                        f"interpool: the task exceeded its time limit of {limit} s; its "
                        "worker process was killed (and replaced)"
                    ),
                )
                process.kill()
            how = self._replace(worker)
            if state == _RUNNING and not timed_out:
                _fail(
                    future,
                    WorkerCrashed(
                        f"interpool: the worker process running this task {how}. It was "
                        "replaced; other tasks are not affected."
                    ),
                )
            return  # (else cancelled: the future is already)
        try:
            ok, value = _decode(reply)
        except BaseException as exc:  # noqa: BLE001 - a bug here must not hang the caller
            ok, value = False, exc
        task.reply = reply
        task.failed = not ok or (task.kind == _MAP and value[1] is not None)
        if ok:
            with contextlib.suppress(InvalidStateError):
                future.set_result(value)
        else:
            _fail(future, value)
        worker.tasks += 1
        if self._max_tasks and worker.tasks >= self._max_tasks:
            self._stop(worker)  # the next task gets a fresh process
            self.recorder.worker_ended(worker.place, "recycled")

    def _replace(self, worker: _Worker) -> str:
        """Reap ``worker``'s process (killed or dead) so that a fresh one is started;
        say how it ended."""
        process, conn = worker.process, worker.conn
        assert process is not None and conn is not None
        process.join()
        conn.close()
        with self._lock:
            worker.process = worker.conn = None
        self.recorder.worker_ended(worker.place, "replaced")
        return _how_it_ended(process)

    def _stop(self, worker: _Worker) -> None:
        """Ask ``worker``'s idle process to exit, and reap it (killed if it does not
        exit within :data:`STOP_GRACE`)."""
        process, conn = worker.process, worker.conn
        if process is None or conn is None:
            return
        with contextlib.suppress(OSError):
            conn.send(None)
        process.join(STOP_GRACE)
        if process.exitcode is None:
            process.kill()
            process.join()
        conn.close()
        with self._lock:
            worker.process = worker.conn = None

    def _drop_queued_locked(self, keep: int = 0) -> list[_Task]:
        """Take every queued task but the first ``keep`` out of the queue (their
        futures are the caller's to complete)."""
        dropped = list(self._queue)[keep:]
        for _ in dropped:
            self._queue.pop()
        for task in dropped:
            task.state = _STOPPED
        return dropped

    def _break(self, error: BrokenPool, cause: BaseException) -> None:
        error.__cause__ = cause
        with self._lock:
            if self._broken is None:
                self._broken = error
            self._closed = True
            dropped = self._drop_queued_locked()
            self._work.notify_all()
        for task in dropped:
            if task.future.set_running_or_notify_cancel():
                _fail(task.future, self._broken)

    # -- shutting down -------------------------------------------------------------------

    def shutdown(
        self, wait: bool = True, cancel_futures: bool = False, cancel_running: bool = False
    ) -> None:
        """Stop accepting tasks (``RuntimeError`` from then on); the queued tasks
        still run unless ``cancel_futures`` (they are then cancelled, except the first
        ones that idle or starting workers are about to take, as in
        ``concurrent.futures``; with ``cancel_running`` these and the running ones
        are cancelled too, their processes killed); then
        the processes exit.  ``wait``: block until all of that is done (else it
        happens in the background; :meth:`join` waits).  Calling it again is
        harmless; a backend never used has nothing to stop."""
        with self._lock:
            self._closed = True
            # As in concurrent.futures, the tasks that idle (or starting) workers are
            # about to take are taken: they run, unless cancel_running.
            keep = 0 if cancel_running else self._idle
            dropped = self._drop_queued_locked(keep) if cancel_futures else []
            running = [
                w.task
                for w in self._workers
                if cancel_futures and cancel_running and w.task is not None
            ]
            self._work.notify_all()
        for task in dropped:
            if Future.cancel(task.future):
                task.future.set_running_or_notify_cancel()
        for task in running:
            self.cancel(task.future, interrupt=True)
        if wait:
            self.join()

    def join(self) -> None:
        """Block until a shutdown has stopped every worker process."""
        current = threading.current_thread()
        for thread in list(self._threads):
            if thread is not current:
                thread.join()


class _Worker:
    """A worker thread's state: its process and pipe (``None`` between processes)."""

    __slots__ = ("conn", "number", "place", "process", "settings", "started", "task", "tasks")

    def __init__(self, number: int, place: int) -> None:
        self.number = number
        #: Its place in ``stats()`` (its processes are replaced in place).
        self.place = place
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.started = False  # a first process was started (replacements start at once)
        self.task: _Task | None = None  # the task it runs
        self.tasks = 0  # how many its process has run
        self.settings = 0  # the generation of the caller's settings its process has


class _Task:
    __slots__ = (
        "began",
        "ended",
        "failed",
        "fn",
        "future",
        "kind",
        "limit",
        "payload",
        "reply",
        "state",
        "worker",
    )

    def __init__(
        self,
        future: ProcessFuture[Any],
        kind: int,
        payload: Any,
        limit: float | None,
        fn: Any = None,
    ) -> None:
        self.future = future
        #: For ``stats()`` and traces: what it calls, when it was sent and when its
        #: reply came (or its process ended), whether it failed, and the reply.
        self.fn = fn
        self.began = self.ended = 0.0
        self.failed = True
        self.reply: Any = None
        self.kind = kind
        self.payload = payload
        self.limit = limit
        self.state = _QUEUED
        self.worker: _Worker | None = None


class ProcessFuture[T](PoolFuture[T]):
    """A task's future: a ``PoolFuture`` owned by the backend, with its task (see
    :meth:`Processes.cancel`)."""

    _task: _Task


class ProcessMapper(Mapper[Processes]):
    """``Processes.mapper``: chunks of calls of one function, pickled once."""

    __slots__ = ("function",)

    #: The function (its pickle is ``_fn``), for ``stats()`` and traces.
    function: Any

    def encode(self, chunk: tuple[tuple[Any, ...], ...], start: int) -> bytes:
        """The chunk's argument tuples, pickled (``TypeError`` if one cannot be)."""
        return dump_sent(tuple(chunk), "the chunk")

    def submit(self, encoded: bytes) -> PoolFuture[ChunkOutcome]:
        """Run an encoded chunk in one process; its future gives ``(results, error)``."""
        return self._backend._submit(_MAP, (self._fn, encoded), self._limit, self.function)


def _ended(conn: Connection | None) -> bool:
    """Whether an idle process's pipe has something to read: only its end can be
    there (the process died)."""
    try:
        return conn is None or conn.poll()
    except (OSError, ValueError):
        return True


def _fail(future: Future[Any], error: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):
        future.set_exception(error)


def _how_it_ended(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


# -- caller side ------------------------------------------------------------------------


def _record(recorder: Recorder, worker: _Worker, task: _Task) -> None:
    """Count a task that ended (failed unless its reply says otherwise), with the
    bytes of its pickled call and of its pickled result."""
    end = task.ended or time.perf_counter()
    sent = received = None
    if recorder.tracing:
        payload, reply = task.payload, task.reply
        sent = len(payload) if task.kind == _CALL else len(payload[0]) + len(payload[1])
        if reply is not None:
            data = reply[1][0] if reply[0] == _CHUNK_DONE else reply[1][1]
            received = len(data) if type(data) is bytes else None
    recorder.task_ended(
        worker.place,
        task.fn,
        "call" if task.kind == _CALL else "map",
        task.began or end,
        end,
        task.failed,
        sent,
        received,
    )


def _decode(reply: tuple[int, Any]) -> tuple[bool, Any]:
    """``(True, value)`` or ``(False, exception)`` from a process's reply."""
    kind, payload = reply
    return decode_reply(payload) if kind == _CALL_DONE else decode_chunk(payload)


# -- process side ------------------------------------------------------------------------


def _serve(
    conn: Connection, path: tuple[str, ...], init: bytes | None, forward: int, main: str | None
) -> None:
    """A worker process: the caller's ``sys.path``, the initializer, then tasks until
    told to stop (``None``) or the caller's end of the pipe closes.  ``forward``: what
    its tasks print, log and warn that goes to the caller (``_worker.forwarding``);
    ``main``: the caller's script (see ``pickled.set_main_file``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.path[:] = path
    set_main_file(main)
    began = time.perf_counter()
    # The pipe is written by this thread and by any thread of a task that prints.
    out = _LockedPipe(conn)
    forwarder = None
    if forward:
        from interpool._worker.forwarding import Forwarder

        forwarder = Forwarder(lambda event: out.send((_FORWARD, event)), forward)
        forwarder.install()
    if init is not None:
        try:
            fn, args = pickle.loads(init)
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - sent back to the caller
            if forwarder is not None:
                forwarder.task_ended()
            out.send((_INIT_FAILED, encode_error(exc)))
            return
    if forwarder is not None:
        forwarder.task_ended()
    out.send((_READY, (os.getpid(), time.perf_counter() - began)))  # (its initializer's time)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        kind, payload, progress = message
        if kind == _SETTINGS:
            if forwarder is not None:
                forwarder.apply(payload)
            continue
        reply: tuple[int, Any]
        if kind == _CALL:
            reply = (_CALL_DONE, run_call(payload))
        else:
            fn_blob, chunk_blob = payload
            reply = (_CHUNK_DONE, run_chunk(fn_blob, chunk_blob, out if progress else None))
        if forwarder is not None:
            forwarder.task_ended()  # its unfinished line goes before its result
        out.send(reply)
        del reply


class _LockedPipe:
    """A worker process's end of its pipe, for sending from any thread."""

    __slots__ = ("_conn", "_lock")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            self._conn.send(message)

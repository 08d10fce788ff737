"""``Pool``: the public executor and async API over a backend (worker interpreters by
default), and ``TaskOptions``, the same calls with other options.  Both take their
calls through :class:`_Calls`: each goes to the backend with the time limit of the
object it was made on."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from interpool._api import progress as progress_bars
from interpool._api import windowed_map
from interpool._api.aio import in_thread, result_of
from interpool._api.arguments import check_count, check_max_workers, check_seconds, deadline
from interpool._api.progress import Progress
from interpool._api.trace import Trace
from interpool._backends.base import BACKENDS, Backend, BackendName, default_backend, exiting
from interpool._backends.interpreters import Interpreters
from interpool._engine.forwarding import flags
from interpool._engine.futures import PoolFuture
from interpool._engine.interpreter_options import InterpreterOptions, Preset, resolve
from interpool._wire import handoff
from interpool._wire.functions import alias_main, check_main_guard, loading_script, no_guard_error

if TYPE_CHECKING:
    from interpool._api.actor import Actor
    from interpool.stats import PoolStats

__all__ = ["Pool", "TaskOptions"]

#: Upper bound of the automatic ``map`` chunk size.
MAX_AUTO_CHUNKSIZE = 256


class _Calls:
    """The calls a pool takes, shared by :class:`Pool` and :class:`TaskOptions`: each
    goes to ``_backend`` with the time limit ``_limit`` (the pool's ``task_timeout``,
    or the one given to :meth:`Pool.options`)."""

    __slots__ = ()

    _backend: Backend
    _limit: float | None

    @overload
    def submit[**P, R](
        self, fn: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> PoolFuture[R]: ...
    @overload
    def submit[**P, R](
        self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> PoolFuture[R]: ...
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> PoolFuture[Any]:
        """Schedule ``fn(*args, **kwargs)`` in a worker and return its future, a
        :class:`~interpool.PoolFuture` (on every backend).

        If ``fn`` is a coroutine function (``async def``), or returns a coroutine, the
        coroutine runs on an asyncio event loop inside the worker interpreter and the
        future gets what it returns.  That worker takes further tasks meanwhile, so
        one worker serves many I/O-bound coroutines at once; a time limit applies to
        the coroutine (it is cancelled when the limit passes, and the worker stays),
        and cancelling the future cancels the coroutine.

        The future's ``cancel()`` drops the task if no worker has started it, and
        interrupts it if one has (see ``PoolFuture.cancel``; up to ``2 *
        max_workers`` tasks wait in the workers' queue, and can still be cancelled
        there).  Raises ``TypeError`` at once if ``fn`` or an argument cannot be sent
        to a worker, ``RuntimeError`` after :meth:`shutdown`, and ``BrokenPool`` if
        the pool is broken.
        """
        return self._backend.call(fn, args, kwargs, self._limit)

    def map[R](
        self,
        fn: Callable[..., R],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
        buffersize: int | None = None,
        progress: Progress = None,
    ) -> Iterator[R]:
        """Like ``concurrent.futures.Executor.map``: ``fn`` over the zipped
        ``iterables``, results in input order.

        Args:
            timeout: seconds from this call after which ``__next__`` raises
                ``TimeoutError`` for a result that is not ready; the rest is cancelled.
            chunksize: how many calls are sent to a worker as one task.  ``None`` (the
                default) picks one: about 8 chunks per worker, at most
                ``MAX_AUTO_CHUNKSIZE``, and 1 when the input is read lazily and has no
                ``len()``.  Pass ``1`` for one task per call.
            buffersize: with a value, at most that many chunks are submitted ahead of
                the results yielded so far, so the input is consumed lazily (it may
                then be infinite).  Without, the input is consumed at once, as the
                standard library does, except on the Dask backend, which is lazy by
                default (a few chunks per worker thread ahead), so that a large input
                does not flood the cluster's scheduler.
            progress: ``True`` shows a tqdm progress bar in the caller, advanced by
                one per result yielded, with a total when the inputs have ``len()``;
                a dict of ``tqdm()`` keyword arguments makes one with them; a bar
                object (a ``tqdm`` instance) is advanced and left open.  Needs the
                ``interpool[progress]`` extra (``ImportError`` at this call, before
                anything runs, without it).  The same holds for :meth:`imap`,
                :meth:`imap_unordered` and :meth:`amap`.

        An exception raised by a call is raised by ``__next__`` at that item, after
        the results before it.  Closing the iterator early (or an error) cancels the
        chunks no worker has started; started ones finish, and their results are
        dropped.  With a task time limit, each call has it; a call that exceeds it
        fails its whole chunk with ``TimeoutError``.
        """
        return progress_bars.tracked(
            progress,
            iterables,
            lambda: self._map(fn, iterables, timeout, chunksize, buffersize),
        )

    def _map[R](
        self,
        fn: Callable[..., R],
        iterables: tuple[Iterable[Any], ...],
        timeout: float | None,
        chunksize: int | None,
        buffersize: int | None,
    ) -> Iterator[R]:
        check_count("buffersize", buffersize)
        check_count("chunksize", chunksize)
        end = deadline(timeout, negative_ok=True)
        mapper = self._backend.mapper(fn, self._limit)
        if buffersize is None:
            buffersize = self._backend.default_buffersize
        args: Iterable[tuple[Any, ...]] = zip(*iterables, strict=False)
        if buffersize is None:
            args = list(args)
        if chunksize is None:
            chunksize = self._auto_chunksize(args, iterables)
        size = chunksize
        chunks = enumerate(itertools.batched(args, size, strict=False))
        submit_encoded = mapper.submit

        def encode(numbered: _Numbered) -> Any:
            number, chunk = numbered
            return mapper.encode(chunk, number * size)

        def submit_chunk(numbered: _Numbered) -> _ChunkFuture:
            return submit_encoded(encode(numbered))

        # Encode every chunk before submitting any, so that an item that cannot be
        # sent makes map() raise with nothing run.
        if buffersize is None:
            encoded = [encode(c) for c in chunks]
            futures = deque(submit_encoded(e) for e in encoded)
            del encoded
            return windowed_map.map_results(futures, end, None, submit_chunk)
        first = [encode(c) for c in itertools.islice(chunks, buffersize)]
        futures = deque(submit_encoded(e) for e in first)
        del first
        return windowed_map.map_results(futures, end, chunks, submit_chunk)

    def _auto_chunksize(self, args: Iterable[Any], iterables: tuple[Iterable[Any], ...]) -> int:
        """About 8 chunks per worker, from the number of calls: known when the input
        was read at once (``args`` a list) or when every input has a ``len()`` (a
        lazy ``map`` over lists and ranges, the Dask backend's default); else 1."""
        if isinstance(args, list):
            count = len(args)
        else:
            try:
                count = min(len(it) for it in iterables)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return 1
        return max(1, min(count // (8 * self._backend.max_workers), MAX_AUTO_CHUNKSIZE))

    @overload
    async def run[**P, R](
        self, fn: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R: ...
    @overload
    async def run[**P, R](self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...
    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in a worker and await its result, under asyncio
        or trio (and so under anyio on either).

        The event loop is never blocked: it collects the result itself when it
        arrives (it watches the pool's result signal), with no thread per call.  Cancelling
        the awaiting task cancels the call, and the cancellation reaches the awaiting
        task at once: a call no worker has started is dropped; a running one is
        interrupted (and its worker replaced), as ``PoolFuture.cancel`` does, and a
        result that arrives anyway is discarded.  If the pool itself cancels the call
        (``shutdown(cancel_futures=True)``), this raises
        ``concurrent.futures.CancelledError`` (an ``Exception``), not the loop's own
        cancellation: the awaiting task was not cancelled.  ``fn`` may be a coroutine
        function: see :meth:`submit`.
        """
        return await _run(self._backend.call(fn, args, kwargs, self._limit))

    def imap[R](
        self,
        fn: Callable[..., R],
        *iterables: Iterable[Any],
        window: int | None = None,
        chunksize: int = 1,
        timeout: float | None = None,
        progress: Progress = None,
    ) -> Iterator[R]:
        """``fn`` over the zipped ``iterables``, results in input order, as they arrive.

        The input is read lazily (it may be endless): at most ``window`` tasks
        (default ``2 * max_workers``; each a chunk of ``chunksize`` calls) are
        submitted ahead of the results yielded so far.  Errors, ``timeout`` and
        leaving early behave as for :meth:`map`: closing the iterator (``break`` in a
        ``for`` loop is enough once it is garbage-collected; call ``close()`` to be
        sure) cancels the tasks no worker has started, lets started ones finish and
        drops their results.  ``progress``: a progress bar, as for :meth:`map`.
        """
        return progress_bars.tracked(
            progress,
            iterables,
            lambda: self._imap(fn, iterables, window, chunksize, timeout),
        )

    def _imap[R](
        self,
        fn: Callable[..., R],
        iterables: tuple[Iterable[Any], ...],
        window: int | None,
        chunksize: int,
        timeout: float | None,
    ) -> Iterator[R]:
        check_count("window", window)
        check_count("chunksize", chunksize)
        window = window or 2 * self._backend.max_workers
        return self._map(fn, iterables, timeout, chunksize, window)

    def imap_unordered[R](
        self,
        fn: Callable[..., R],
        *iterables: Iterable[Any],
        window: int | None = None,
        timeout: float | None = None,
        progress: Progress = None,
    ) -> Iterator[R]:
        """Like :meth:`imap`, but each result is yielded as soon as it is ready,
        whatever its place in the input (one task per call).  A call's exception is
        raised when it arrives, and the remaining calls are cancelled as when the
        iterator is closed early.  ``timeout``: seconds from this call after which
        waiting for a result raises ``TimeoutError``.  ``progress``: a progress bar,
        as for :meth:`map`."""
        return progress_bars.tracked(
            progress,
            iterables,
            lambda: self._imap_unordered(fn, iterables, window, timeout),
        )

    def _imap_unordered[R](
        self,
        fn: Callable[..., R],
        iterables: tuple[Iterable[Any], ...],
        window: int | None,
        timeout: float | None,
    ) -> Iterator[R]:
        check_count("window", window)
        end = deadline(timeout, negative_ok=True)
        args = zip(*iterables, strict=False)
        return windowed_map.imap_unordered(
            self._submitter(fn), args, window or 2 * self._backend.max_workers, end
        )

    @overload
    def amap[R](
        self,
        fn: Callable[..., Coroutine[Any, Any, R]],
        *iterables: Iterable[Any] | AsyncIterable[Any],
        ordered: bool = True,
        window: int | None = None,
        progress: Progress = None,
    ) -> AsyncIterator[R]: ...
    @overload
    def amap[R](
        self,
        fn: Callable[..., R],
        *iterables: Iterable[Any] | AsyncIterable[Any],
        ordered: bool = True,
        window: int | None = None,
        progress: Progress = None,
    ) -> AsyncIterator[R]: ...
    def amap(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any] | AsyncIterable[Any],
        ordered: bool = True,
        window: int | None = None,
        progress: Progress = None,
    ) -> AsyncIterator[Any]:
        """``async for result in pool.amap(fn, xs)``: ``fn`` over the zipped inputs,
        streamed to an asyncio or trio task.

        Inputs may be plain or async iterables, even endless ones: they are read
        lazily, at most ``window`` calls (default ``2 * max_workers``) being submitted
        ahead of the results yielded so far; an async input is read in a background
        task, so results keep flowing while it is slow.  ``ordered=True`` yields in
        input order; ``ordered=False`` as the results complete.  A call's exception
        is raised at its place in the stream.  Leaving the loop early (``break``,
        or ``aclose()``) cancels the calls no worker has started and drops the
        results of the running ones; cancelling the consuming task also interrupts
        the running ones, as for :meth:`run`.  ``progress``: a progress bar, as for
        :meth:`map`, advanced on the event loop's thread.
        """
        return progress_bars.tracked_async(
            progress,
            iterables,
            lambda: self._amap(fn, iterables, ordered, window),
        )

    def _amap(
        self,
        fn: Callable[..., Any],
        iterables: tuple[Iterable[Any] | AsyncIterable[Any], ...],
        ordered: bool,
        window: int | None,
    ) -> AsyncIterator[Any]:
        check_count("window", window)
        if not iterables:
            raise TypeError("amap() needs at least one input iterable")
        return windowed_map.amap(
            self._submitter(fn),
            windowed_map.zip_inputs(iterables),
            window or 2 * self._backend.max_workers,
            bool(ordered),
        )

    def _submitter(self, fn: Callable[..., Any]) -> Callable[[tuple[Any, ...]], PoolFuture[Any]]:
        """What submits one call of ``fn`` (its argument tuple) for the windowed maps."""
        call, limit = self._backend.call, self._limit

        def submit_one(args: tuple[Any, ...]) -> PoolFuture[Any]:
            return call(fn, args, {}, limit)

        return submit_one


class Pool(_Calls, Executor):
    """A pool of workers running calls in parallel, by default sub-interpreters of
    this process with a GIL each: a drop-in ``concurrent.futures.Executor``, plus
    ``await pool.run(...)``, streaming maps (:meth:`imap`, :meth:`amap`), actors.

    Args:
        max_workers: how many tasks run at once (default ``os.process_cpu_count()``).
        backend: ``"interpreters"`` (the default; ``"threads"`` on a free-threaded
            build), ``"processes"``, ``"threads"`` or ``"dask"``: the same API and
            semantics on each.
        address: ``backend="dask"``'s scheduler (``"tcp://host:8786"``); ``None``:
            an embedded ``LocalCluster``.
        initializer: called with ``*initargs`` once in each worker before its first
            task; if it raises, the pool is broken (``BrokenPool`` for every task).
        task_timeout: seconds each task may run, from its start (``None``: no
            limit); :meth:`options` sets another for some calls.
        max_tasks_per_worker: replace a worker after that many tasks.
        idle_timeout: an idle worker exits after that many seconds.
        fallback: ``"processes"``: run in a process a task that fails with
            ``IncompatibleModuleError``, and the later calls of its function.
        interpreter: ``"isolated"`` (default), ``"legacy"`` or an
            :class:`InterpreterOptions`: how worker interpreters are created.
        forward: what the workers' tasks (and initializer) print, log and warn
            that is handed to the caller, as if they ran here: ``True`` (the
            default) for all, ``False`` for none (the workers' raw streams and own,
            unconfigured ``logging``), or some of ``"output"`` (``print``,
            ``sys.stdout``/``sys.stderr``: to the caller's current streams, whole
            lines, in order, before the task's result), ``"logs"`` (``logging``
            records: handled by the caller's loggers, filtered by their levels
            before they leave the worker, with ``record.interpool_worker``) and
            ``"warnings"`` (through the caller's filters, at the task's file and
            line).  The threads backend shares all three with the caller anyway
            (a print's pieces may mix with another thread's); Dask forwards logs
            with its ``Client.forward_logging()``, not output nor warnings.
        trace: a file to write a timeline of every task to (Chrome trace-event
            JSON, for ui.perfetto.dev or chrome://tracing), when the pool shuts
            down; see :meth:`trace`.  Not on the Dask backend.

    **Bad input** raises at once, before anything runs, as in ``concurrent.futures``:
    ``TypeError`` for an option of the wrong type, ``ValueError`` for a wrong value
    (or an option the backend lacks), ``TypeError`` for a callable or argument that
    cannot be sent.  **Cancelling** a future drops a task
    no worker has started and interrupts a running one, whose worker is replaced
    (``cancel(interrupt=False)`` leaves it alone; Dask cannot stop a running task).
    At its **time limit** a task fails with ``TimeoutError`` at once and is
    interrupted as by a cancel; the pool keeps its capacity.  A task's **exception**
    comes back with its type, message and the worker's traceback as ``__cause__``;
    a dying worker fails its task alone (``WorkerCrashed``).  **Shutdown**
    (:meth:`shutdown`, leaving ``with``, garbage collection, the program's exit)
    refuses new tasks (``RuntimeError``), runs the queued ones unless cancelled, and
    releases the workers.  ``docs/guide.md`` tells the rest: each backend, what can
    be sent and how, the costs.
    """

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        backend: BackendName | None = None,
        address: str | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        task_timeout: float | None = None,
        max_tasks_per_worker: int | None = None,
        idle_timeout: float | None = None,
        fallback: Literal["processes"] | None = None,
        interpreter: Preset | InterpreterOptions | None = None,
        forward: bool | Iterable[Literal["output", "logs", "warnings"]] = True,
        trace: str | os.PathLike[str] | None = None,
    ) -> None:
        if loading_script():
            # A worker loading the caller's script met this pool: the script starts
            # it at its top level, unguarded.  The worker then sends the script's
            # functions by value instead (see _wire.functions).
            raise no_guard_error()
        check_main_guard(sys._getframe(1))
        if backend is None:
            backend = default_backend()
        if backend not in BACKENDS:
            raise ValueError(
                f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}"
            )
        if max_workers is None and backend != "dask":
            max_workers = os.process_cpu_count() or 1
        check_max_workers(max_workers)
        _check_backend_options(
            backend,
            address=address,
            max_tasks_per_worker=max_tasks_per_worker,
            idle_timeout=idle_timeout,
            fallback=fallback,
            interpreter=interpreter,
            trace=trace,
        )
        task_timeout = check_seconds("task_timeout", task_timeout)
        idle = check_seconds("idle_timeout", idle_timeout)
        check_count("max_tasks_per_worker", max_tasks_per_worker)
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be callable, got {type(initializer).__name__}")
        if not isinstance(initargs, (tuple, list)):
            raise TypeError(f"initargs must be a tuple, got {type(initargs).__name__}")
        if fallback not in (None, "processes"):
            raise ValueError(f'fallback must be None or "processes", got {fallback!r}')
        options = resolve("isolated" if interpreter is None else interpreter)
        what = flags(forward)
        if exiting():
            raise RuntimeError("cannot start a Pool during interpreter shutdown")
        path = tuple(p for p in sys.path if isinstance(p, str))
        initargs = tuple(initargs)
        #: The time limit of the calls made through the pool itself.
        self._limit = task_timeout
        engine: Backend
        if backend == "interpreters":
            assert max_workers is not None
            alias_main()
            handoff.prepare()
            engine = Interpreters(
                max_workers, path, initializer, initargs, max_tasks_per_worker, idle,
                fallback == "processes", options, what,
            )  # fmt: skip
        elif backend == "processes":
            from interpool._backends.processes import Processes

            assert max_workers is not None
            engine = Processes(
                max_workers,
                path=path,
                initializer=initializer,
                initargs=initargs,
                max_tasks_per_worker=max_tasks_per_worker,
                forward=what,
            )
        elif backend == "threads":
            from interpool._backends.threads import Threads

            assert max_workers is not None
            engine = Threads(max_workers, initializer=initializer, initargs=initargs, forward=what)
        else:
            from interpool._backends.dask import Dask

            engine = Dask(
                max_workers,
                address=address,
                initializer=initializer,
                initargs=initargs,
                forward=what,
            )
        self._backend = engine
        #: Live actors made by :meth:`actor`; closed by :meth:`shutdown`.
        self._actors: weakref.WeakSet[Actor[Any]] = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, engine.shutdown, False, False, False)
        #: ``trace=``'s timeline, written at shutdown (at the latest at exit).
        self._trace: Trace | None = None
        if trace is not None:
            assert engine.recorder is not None
            self._trace = Trace(engine.recorder, trace)
            weakref.finalize(self, self._trace.close)

    @property
    def max_workers(self) -> int:
        """The number of workers: how many tasks run at once (with the Dask backend,
        the cluster's threads when the pool was made)."""
        return self._backend.max_workers

    @property
    def backend(self) -> BackendName:
        """What runs the tasks: ``"interpreters"``, ``"processes"``, ``"threads"`` or
        ``"dask"`` (see :class:`Pool`)."""
        return self._backend.name

    @property
    def interpreter_options(self) -> InterpreterOptions | None:
        """The options every worker interpreter is created with (``interpreter=``);
        ``None`` for a backend other than interpreters."""
        backend = self._backend
        return backend.options if isinstance(backend, Interpreters) else None

    def stats(self, slowest: int = 10) -> PoolStats:
        """Where the time went so far: per worker, the tasks done and failed, busy
        and idle time, start-up and initializer time, how often it was replaced or
        recycled and what it runs now; for the pool, the tasks queued, running,
        done and failed, and the ``slowest`` slowest tasks (at most
        ``SLOWEST_KEPT``, 100).  ``print(pool.stats())`` shows a table;
        ``.to_dict()`` gives plain data for ``json.dumps``.  See
        :mod:`interpool.stats` for each figure, and ``docs/guide.md`` for what each
        backend measures.  The bookkeeping is always on (its cost:
        ``docs/performance.md``).  Raises ``NotImplementedError`` on the Dask
        backend, whose dashboard shows the same and more."""
        if not isinstance(slowest, int) or isinstance(slowest, bool):
            raise TypeError(f"slowest must be an int, got {type(slowest).__name__}")
        if slowest < 0:
            raise ValueError(f"slowest must be >= 0, got {slowest!r}")
        return self._backend.stats(slowest)

    @contextlib.contextmanager
    def trace(self, path: str | os.PathLike[str]) -> Iterator[None]:
        """``with pool.trace("run.json"):`` writes a timeline of the tasks that end
        inside the block to ``path`` when it is left (Chrome trace-event JSON: open
        it in ui.perfetto.dev or chrome://tracing): one complete event per task (a
        ``map`` chunk is one), named after its function, on one lane per worker,
        with the sizes of its arguments and result in ``args``.  Tasks still running
        when the block ends are not in it.  Traces may nest or overlap; each gets
        the tasks that end while it is open.  ``NotImplementedError`` on the Dask
        backend."""
        recorder = self._backend.recorder
        if recorder is None:
            self._backend.stats(0)  # raises, saying why
            raise NotImplementedError  # (not reached)
        tracer = Trace(recorder, path)
        try:
            yield
        finally:
            tracer.close()

    def options(self, *, task_timeout: float | None = None) -> TaskOptions:
        """The same pool with options for the calls made through the result::

            pool.options(task_timeout=2.0).submit(fn, x)
            pool.options(task_timeout=2.0).map(fn, xs)
            await pool.options(task_timeout=2.0).run(fn, x)

        Options are given here rather than to ``submit`` so that they can never
        collide with the keyword arguments of ``fn`` itself (``submit(fn, x,
        timeout=1)`` passes ``timeout`` to ``fn``).  ``task_timeout`` (seconds, or
        ``None`` for none) replaces the pool's for these calls; see :class:`Pool`.
        """
        return TaskOptions(self, check_seconds("task_timeout", task_timeout))

    def actor[T](self, cls: Callable[..., T], /, *args: Any, **kwargs: Any) -> Actor[T]:
        """Create ``cls(*args, **kwargs)`` in a worker of its own and return a
        handle whose method calls run there, in order, on that one instance (see
        :class:`interpool.Actor`).  The worker is an interpreter, a process, or a
        thread of this interpreter (holding the instance here), by the pool's
        backend; the Dask backend raises ``NotImplementedError`` (Dask has actors of
        its own).  :meth:`shutdown` closes the pool's actors."""
        from interpool._api.actor import Actor

        if exiting():
            raise RuntimeError("cannot start a Pool during interpreter shutdown")
        actor = Actor(self._backend.actor_host, self._limit, cls, args, kwargs)
        self._actors.add(actor)
        return actor

    def shutdown(
        self, wait: bool = True, *, cancel_futures: bool = False, cancel_running: bool = False
    ) -> None:
        """Stop accepting tasks and release the workers once the queued tasks are done.

        Args:
            wait: block until every task has finished and every worker interpreter
                is destroyed.  With ``False`` this happens in the background.  A
                worker whose task timed out or was cancelled but is stuck in a C
                call is not waited for: its interpreter is destroyed when the call
                returns (and at the latest at interpreter exit, which waits for it).
            cancel_futures: cancel every task no worker has started yet.
            cancel_running: with ``cancel_futures``, also interrupt and cancel the
                running tasks (see ``PoolFuture.cancel``).

        Calling it again is harmless; ``submit`` afterwards raises ``RuntimeError``.
        """
        for actor in list(self._actors):
            actor.close(
                wait=wait,
                cancel_pending=cancel_futures,
                cancel_running=cancel_futures and cancel_running,
            )
        self._backend.shutdown(wait, cancel_futures, cancel_futures and cancel_running)
        if self._trace is not None:
            self._close_trace(wait)

    def _close_trace(self, joined: bool) -> None:
        """Write ``trace=``'s file: now if the workers are done (``joined``), else
        once they are, from a thread of its own."""
        trace = self._trace
        assert trace is not None
        if joined:
            trace.close()
            return
        backend = self._backend

        def close_when_done() -> None:
            backend.join()
            trace.close()

        threading.Thread(target=close_when_done, name="interpool-trace", daemon=True).start()

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Shut down and wait.  If the block is left by ``KeyboardInterrupt`` (Ctrl-C),
        every task is cancelled first, running ones interrupted, so this returns
        promptly instead of running the remaining work."""
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self.shutdown(True, cancel_futures=interrupted, cancel_running=interrupted)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Shut down without blocking the event loop (asyncio or trio; waits in a
        helper thread).  As for ``with``, leaving by ``KeyboardInterrupt`` or by the
        cancellation of the task (any exception that is not an ``Exception``:
        ``asyncio.CancelledError``, ``trio.Cancelled``) cancels every task first."""
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        for actor in list(self._actors):
            actor.close(wait=False, cancel_pending=interrupted, cancel_running=interrupted)
        self._backend.shutdown(False, interrupted, interrupted)
        await in_thread(self._backend.join)
        if self._trace is not None:
            await in_thread(self._trace.close)


class TaskOptions(_Calls):
    """A pool seen through :meth:`Pool.options`: ``submit``, ``map``, ``run``,
    ``imap``, ``imap_unordered`` and ``amap`` with those options (each as
    :class:`Pool`'s).  Cheap to make; holds no resources of its own."""

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    __slots__ = ("_backend", "_limit", "_pool")

    def __init__(self, pool: Pool, task_timeout: float | None) -> None:
        self._pool = pool  # (kept alive while its options are used)
        self._backend = pool._backend
        self._limit = task_timeout


async def _run[R](future: PoolFuture[R]) -> R:
    """Await a pool future; cancelling the awaiting task cancels (and interrupts) it."""
    return await result_of(future, future.cancel)


def _check_backend_options(
    backend: BackendName,
    *,
    address: str | None,
    max_tasks_per_worker: int | None,
    idle_timeout: float | None,
    fallback: str | None,
    interpreter: object,
    trace: object = None,
) -> None:
    """``ValueError`` for an option that ``backend`` does not have, naming both."""
    given = {
        "address": (address, ("dask",)),
        "max_tasks_per_worker": (max_tasks_per_worker, ("interpreters", "processes")),
        "idle_timeout": (idle_timeout, ("interpreters",)),
        "fallback": (fallback, ("interpreters",)),
        "interpreter": (interpreter, ("interpreters",)),
        "trace": (trace, ("interpreters", "processes", "threads")),
    }
    for name, (value, backends) in given.items():
        if value is not None and backend not in backends:
            where = " or ".join(repr(b) for b in backends)
            raise ValueError(
                f"{name}= is an option of backend={where}; the {backend!r} backend does "
                f"not have it: drop {name}=, or choose backend={backends[0]!r}"
            )
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address must be a str such as 'tcp://host:8786', got {address!r}")


#: A map chunk (argument tuples), and the same with its number.
_Chunk = tuple[tuple[Any, ...], ...]
_Numbered = tuple[int, _Chunk]
#: A chunk's future (on every backend, and with the fallback, a ``PoolFuture``).
type _ChunkFuture = PoolFuture[Any]

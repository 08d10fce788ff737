"""The ``"interpreters"`` backend: tasks on interpool's warm sub-interpreters.

A call is keyed (``_functions.function_key``: by name, or pickled by value once),
its arguments encoded (``_transport``), and handed to the :class:`~._scheduler.Scheduler`
with a :class:`~._future.PoolFuture`; the scheduler's workers (``_workers``,
``_worker``) run it and the collector completes the future.  With
``fallback="processes"`` every task goes through a :class:`~._reroute.Rerouter`,
which runs it again on the workers of a processes backend
(:class:`~._backend_processes.Processes`) if it hits an extension module that cannot
load in a sub-interpreter.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from interpool._engine.futures import PoolFuture
from interpool._engine.interpreter_options import InterpreterOptions
from interpool._engine.scheduler import Scheduler
from interpool._wire.functions import function_key, main_ref
from interpool._wire.protocol import CALL, CHUNK
from interpool._wire.transport import dump_chunk, encode_call

if TYPE_CHECKING:
    from interpool._backends.base import BackendName, ChunkOutcome
    from interpool._backends.fallback import Rerouter

__all__ = ["Interpreters", "live_schedulers"]

#: Every scheduler still open, for the program's exit (``_pool._at_exit``).
live_schedulers: weakref.WeakSet[Scheduler] = weakref.WeakSet()


class Interpreters:
    """The backend over one :class:`Scheduler` (see the module docstring)."""

    name: BackendName = "interpreters"
    default_buffersize: int | None = None

    def __init__(  # noqa: PLR0917 - internal
        self,
        max_workers: int,
        path: tuple[str, ...],
        initializer: Callable[..., object] | None,
        initargs: tuple[Any, ...],
        max_tasks_per_worker: int | None,
        idle_timeout: float | None,
        fallback: bool,
        options: InterpreterOptions,
    ) -> None:
        init = None
        if initializer is not None:
            init = (function_key(initializer), *encode_call(initargs, {}))
        self.max_workers = max_workers
        self.reroute: Rerouter | None = None
        if fallback:
            # Imported only here: multiprocessing costs the pool's start-up ~10 ms.
            from interpool._backends.fallback import Rerouter
            from interpool._backends.processes import Processes

            self.reroute = Rerouter(
                Processes(
                    max_workers,
                    path=path,
                    initializer=initializer,
                    initargs=initargs,
                    max_tasks_per_worker=max_tasks_per_worker,
                )
            )
        self.scheduler = Scheduler(
            max_workers, path, main_ref(), init, max_tasks_per_worker or 0, idle_timeout or 0.0,
            options,
        )  # fmt: skip
        live_schedulers.add(self.scheduler)
        #: The thread that stops the processes of the fallback after a
        #: ``shutdown(wait=False)`` (it waits for the interpreters first).
        self._stopper: threading.Thread | None = None

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> Future[Any]:
        key = function_key(fn)
        a, b = encode_call(args, kwargs)
        if self.reroute is not None:
            to_interpreter = functools.partial(self.schedule, key, CALL, a, b, limit)
            return self.reroute.call(key, fn, args, kwargs, to_interpreter, limit=limit)
        return self.schedule(key, CALL, a, b, limit)

    def schedule(
        self, key: str | bytes, kind: int, a: Any, b: Any, limit: float | None
    ) -> PoolFuture[Any]:
        """Hand one encoded task (a call or a chunk) to the worker interpreters."""
        future: PoolFuture[Any] = PoolFuture(self.scheduler)
        self.scheduler.submit(future, key, kind, a, b, limit)
        return future

    def mapper(self, fn: Callable[..., Any], limit: float | None) -> _Mapper:
        return _Mapper(self, fn, limit)

    def shutdown(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        self.scheduler.shutdown(wait, cancel_futures, cancel_futures and cancel_running)
        reroute = self.reroute
        if reroute is None:
            return
        if wait:
            reroute.shutdown(True, cancel_futures, cancel_futures and cancel_running)
            return
        if self._stopper is None:
            # After the worker interpreters: a task queued there may still move to the
            # processes.
            def stop_processes() -> None:
                self.scheduler.join()
                reroute.shutdown(True, cancel_futures, cancel_futures and cancel_running)

            self._stopper = threading.Thread(target=stop_processes, name="interpool-fallback-stop")
            self._stopper.start()

    def join(self) -> None:
        self.scheduler.join()
        if self._stopper is not None:
            self._stopper.join()


class _Mapper:
    """``map`` chunks of one function: keyed once, each chunk encoded in the caller
    (so an item that cannot be sent raises before anything runs)."""

    __slots__ = ("_backend", "_fn", "_key", "_limit")

    def __init__(self, backend: Interpreters, fn: Callable[..., Any], limit: float | None) -> None:
        self._backend = backend
        self._fn = fn
        self._key = function_key(fn)
        self._limit = limit

    def encode(
        self, chunk: tuple[tuple[Any, ...], ...], start: int
    ) -> tuple[tuple[int, Any], tuple[tuple[Any, ...], ...]]:
        return dump_chunk(chunk, start), chunk

    def submit(
        self, encoded: tuple[tuple[int, Any], tuple[tuple[Any, ...], ...]]
    ) -> Future[ChunkOutcome]:
        (fmt, payload), chunk = encoded
        backend, key, limit = self._backend, self._key, self._limit
        if backend.reroute is not None:
            to_interpreter = functools.partial(backend.schedule, key, CHUNK, payload, fmt, limit)
            return backend.reroute.chunk(key, self._fn, chunk, to_interpreter, limit=limit)
        return backend.schedule(key, CHUNK, payload, fmt, limit)

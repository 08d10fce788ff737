"""``Pool(fallback="processes")``: tasks that hit an extension module which cannot load
in a sub-interpreter run again in a process, transparently.

A task (or a ``map`` chunk) goes to a worker interpreter first.  If it fails with
:class:`~interpool.IncompatibleModuleError` (numpy, orjson... refusing to load), it
is submitted again, with the same callable and arguments, to the pool's processes
backend (:class:`~interpool._backends.processes.Processes`), and the caller's future
completes with that outcome instead; for a chunk, the calls after the ones that
succeeded run there.
From then on that function goes straight to the processes.  The caller's future is a
:class:`Rerouted` future that follows whichever future currently runs the task.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from interpool._backends.base import copy_outcome
from interpool._backends.processes import Processes
from interpool._engine.futures import NoHelp, PoolFuture
from interpool.exceptions import IncompatibleModuleError

__all__ = ["Rerouted", "Rerouter"]

_Key = str | bytes


class Rerouted[T](PoolFuture[T]):
    """The caller's future of a task that may move from a worker interpreter to a
    process: a ``PoolFuture`` owned by the :class:`Rerouter`, whose ``cancel`` cancels
    the task where it currently is (see :meth:`Rerouter.cancel`)."""

    def __init__(self, owner: Rerouter) -> None:
        super().__init__(owner)
        self._inner: PoolFuture[Any] | None = None

    def running(self) -> bool:
        inner = self._inner
        return not self.done() and inner is not None and inner.running()

    def follow(self, inner: PoolFuture[Any], then: Callable[[Future[Any]], None]) -> None:
        """Run the task's outcome through ``then`` once ``inner`` is done."""
        self._inner = inner
        inner.add_done_callback(then)

    def copy(self, inner: Future[Any]) -> None:
        """Complete this future as ``inner`` was."""
        copy_outcome(self, inner)


class Rerouter(NoHelp):
    """Sends tasks to worker interpreters, and again to ``fallback`` when they hit an
    incompatible extension module (see the module docstring)."""

    def __init__(self, fallback: Processes) -> None:
        self.fallback = fallback
        self._lock = threading.Lock()
        self._to_processes: set[_Key] = set()

    def cancel(self, future: Rerouted[Any], interrupt: bool) -> bool:
        """``future.cancel(interrupt=...)``: cancel the task where it currently is
        (``PoolFuture.cancel``: in a worker interpreter, or in a process, where a
        running task is stopped by killing its process, which is replaced)."""
        inner = future._inner
        if inner is None:
            return Future.cancel(future)
        # The inner future's callback has cancelled the outer one (callbacks of a
        # cancelled future run at once).
        return inner.cancel(interrupt=interrupt) or future.cancelled()

    def call(
        self,
        key: _Key,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        to_interpreter: Callable[[], PoolFuture[Any]],
        *,
        limit: float | None = None,
    ) -> PoolFuture[Any]:
        """The future of ``fn(*args, **kwargs)``, first submitted by ``to_interpreter``;
        in a process, it runs with the time limit ``limit``."""
        outer: Rerouted[Any] = Rerouted(self)
        if key in self._to_processes:
            outer.follow(self.fallback.call(fn, args, kwargs, limit), outer.copy)
            return outer

        def done(inner: Future[Any]) -> None:
            if not inner.cancelled() and isinstance(inner.exception(), IncompatibleModuleError):
                self._remember(key)
                try:
                    again = self.fallback.call(fn, args, kwargs, limit)
                except BaseException as exc:  # noqa: BLE001 - the task's outcome
                    _fail(outer, exc)
                    return
                outer.follow(again, outer.copy)
                return
            outer.copy(inner)

        outer.follow(to_interpreter(), done)
        return outer

    def chunk(
        self,
        key: _Key,
        fn: Callable[..., Any],
        chunk: tuple[tuple[Any, ...], ...],
        to_interpreter: Callable[[], PoolFuture[Any]],
        *,
        limit: float | None = None,
    ) -> PoolFuture[Any]:
        """The future of a ``map`` chunk's ``(results, error)``, first submitted by
        ``to_interpreter``; the calls from the first that hit an incompatible module
        on run in a process (each with the time limit ``limit``)."""
        outer: Rerouted[Any] = Rerouted(self)
        if key in self._to_processes:
            outer.follow(self._submit_chunk(fn, chunk, limit), outer.copy)
            return outer

        def done(inner: Future[Any]) -> None:
            if inner.cancelled() or inner.exception() is not None:
                outer.copy(inner)
                return
            values, error = inner.result()
            if not isinstance(error, IncompatibleModuleError):
                outer.copy(inner)
                return
            self._remember(key)
            try:
                again = self._submit_chunk(fn, chunk[len(values) :], limit)
            except BaseException as exc:  # noqa: BLE001 - the chunk's outcome
                _fail(outer, exc)
                return

            def joined(rest: Future[Any]) -> None:
                if rest.cancelled() or rest.exception() is not None:
                    outer.copy(rest)
                    return
                more, last_error = rest.result()
                with contextlib.suppress(InvalidStateError):
                    outer.set_result(([*values, *more], last_error))

            outer.follow(again, joined)

        outer.follow(to_interpreter(), done)
        return outer

    def _submit_chunk(
        self, fn: Callable[..., Any], chunk: tuple[tuple[Any, ...], ...], limit: float | None
    ) -> PoolFuture[Any]:
        mapper = self.fallback.mapper(fn, limit)
        return mapper.submit(mapper.encode(chunk, 0))

    def _remember(self, key: _Key) -> None:
        with self._lock:
            self._to_processes.add(key)

    def shutdown(self, wait: bool, cancel_futures: bool, cancel_running: bool = False) -> None:
        self.fallback.shutdown(wait, cancel_futures, cancel_running=cancel_running)


def _fail(future: Future[Any], exc: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):
        future.set_exception(exc)

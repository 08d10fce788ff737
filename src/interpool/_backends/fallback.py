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
import functools
import threading
import types
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from interpool._backends.base import ActorHost, copy_outcome
from interpool._backends.processes import Processes
from interpool._engine.futures import NoHelp, PoolFuture
from interpool.exceptions import IncompatibleModuleError

__all__ = ["Rerouted", "ReroutedActor", "Rerouter"]

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
        #: The callables (see ``_known``) that go straight to the processes.
        self._to_processes: set[Any] = set()

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
        known = _known(fn, key)
        if known in self._to_processes:
            outer.follow(self.fallback.call(fn, args, kwargs, limit), outer.copy)
            return outer

        def done(inner: Future[Any]) -> None:
            if not inner.cancelled() and isinstance(inner.exception(), IncompatibleModuleError):
                self.remember(known)
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
        known = _known(fn, key)
        if known in self._to_processes:
            outer.follow(self._submit_chunk(fn, chunk, limit), outer.copy)
            return outer

        def done(inner: Future[Any]) -> None:
            if inner.cancelled():
                outer.copy(inner)
                return
            failed = inner.exception()
            if failed is not None:
                # The callable itself (or its module) did not load: the whole chunk.
                values, error = [], failed
            else:
                values, error = inner.result()
            if not isinstance(error, IncompatibleModuleError):
                outer.copy(inner)
                return
            self.remember(known)
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

    @property
    def to_processes(self) -> set[Any]:
        """The callables and classes (see ``_known``) that go straight to a process."""
        return self._to_processes

    def remember(self, known: Any) -> None:
        """From now on, run ``known`` (see ``_known``) in a process at once."""
        with self._lock:
            self._to_processes.add(known)

    def actor_host(self, first: ActorHost, actor_id: int) -> ActorHost:
        """The host of an actor whose instance is made in ``first`` (a worker
        interpreter of its own), or in a process if its class needs one (see
        :class:`ReroutedActor`)."""
        return ReroutedActor(self, first, actor_id)

    def shutdown(self, wait: bool, cancel_futures: bool, cancel_running: bool = False) -> None:
        self.fallback.shutdown(wait, cancel_futures, cancel_running=cancel_running)


class ReroutedActor:
    """The :class:`~interpool._backends.base.ActorHost` of an actor of a pool with the
    fallback.  The instance is made in a worker interpreter of its own; if that fails
    with :class:`~interpool.IncompatibleModuleError`, it is made in a process of its
    own instead, and the calls made meanwhile (which the interpreter did not run:
    they came after the failed creation) are sent there again, in their order.  A
    class that needed a process once goes to one at once.

    Each caller's future follows an inner future of the host that runs the call."""

    def __init__(self, rerouter: Rerouter, first: ActorHost, actor_id: int) -> None:
        self._rerouter = rerouter
        self._first = first
        self._id = actor_id
        self._lock = threading.RLock()
        self._host = first
        #: Until the creation's outcome is known: the calls made, to send again.
        self._undecided: list[tuple[Future[Any], str, tuple[Any, ...], dict[str, Any], Any]] = []
        self._decided = False
        #: Calls that ended in ``first`` before the creation's outcome was known.
        self._early: list[tuple[Future[Any], Future[Any]]] = []
        #: The caller's future -> (its host, the inner future), until it is done.
        self._inner: dict[Future[Any], tuple[ActorHost, PoolFuture[Any]]] = {}

    @property
    def worker(self) -> str:
        return self._host.worker

    @property
    def interrupted(self) -> str:
        return self._host.interrupted

    def create(
        self,
        future: PoolFuture[Any],
        cls: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        made = (cls, tuple(args), dict(kwargs), limit)
        if _known(cls, "") in self._rerouter.to_processes:
            self._decided = True
            self._first.close(False, False, False)
            self._host = self._rerouter.fallback.actor_host(self._id)
            self._send(future, self._host, None, made)
            return
        inner = self._send(future, self._first, None, made, follow=False)
        inner.add_done_callback(functools.partial(self._created, future, made))

    def call(
        self,
        future: PoolFuture[Any],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        with self._lock:
            self._send(future, self._host, name, (args, kwargs, limit))
            if not self._decided:
                self._undecided.append((future, name, args, kwargs, limit))

    def _send(
        self,
        future: Future[Any],
        host: ActorHost,
        name: str | None,
        what: tuple[Any, ...],
        follow: bool = True,
    ) -> PoolFuture[Any]:
        """Run the creation (``name`` None) or a call on ``host``, for ``future``."""
        inner: PoolFuture[Any] = PoolFuture(host)
        if name is None:
            host.create(inner, *what)
        else:
            host.call(inner, name, *what)
        self._inner[future] = (host, inner)
        if follow:
            inner.add_done_callback(functools.partial(self._ended, future, host))
        return inner

    def _created(self, future: Future[Any], made: tuple[Any, ...], inner: Future[Any]) -> None:
        error = None if inner.cancelled() else inner.exception()
        with self._lock:
            self._decided = True
            calls, self._undecided = self._undecided, []
            early, self._early = self._early, []
            if isinstance(error, IncompatibleModuleError):
                self._move(future, made, calls)
                return
            for caller, _ in [(future, inner), *early]:
                self._inner.pop(caller, None)
        # Outside the lock: the callers' callbacks run here.
        for caller, ended in [(future, inner), *early]:
            copy_outcome(caller, ended)

    def _move(
        self,
        future: Future[Any],
        made: tuple[Any, ...],
        calls: list[tuple[Future[Any], str, tuple[Any, ...], dict[str, Any], Any]],
    ) -> None:
        """(Under the lock.)  Make the instance in a process, and send it the calls."""
        self._rerouter.remember(_known(made[0], ""))
        self._first.close(False, False, False)
        try:
            host = self._host = self._rerouter.fallback.actor_host(self._id)
            self._send(future, host, None, made)
        except BaseException as exc:  # noqa: BLE001 - the creation's outcome
            _fail(future, exc)
            return
        for caller, name, args, kwargs, limit in calls:
            if caller.done():
                continue
            try:
                self._send(caller, host, name, (args, kwargs, limit))
            except BaseException as exc:  # noqa: BLE001 - that call's outcome
                _fail(caller, exc)

    def _ended(self, future: Future[Any], host: ActorHost, inner: Future[Any]) -> None:
        with self._lock:
            if host is not self._host:
                return  # sent again to the process
            if not self._decided and not inner.cancelled():
                self._early.append((future, inner))  # see _created
                return
            if self._inner.get(future, (None, None))[1] is inner:
                del self._inner[future]
        copy_outcome(future, inner)

    def cancel(self, future: Any, interrupt: bool) -> bool:
        entry = self._inner.get(future)
        if entry is None:
            return bool(future.cancelled())
        host, inner = entry
        if host.cancel(inner, interrupt):
            return True  # (the caller's future was cancelled with it)
        return bool(future.cancelled())

    def help_wait(self, future: Any, budget: float) -> None:
        entry = self._inner.get(future)
        if entry is not None:
            entry[0].help_wait(entry[1], budget)

    def on_loop(self, future: Any) -> bool:
        entry = self._inner.get(future)
        return entry is not None and entry[0].on_loop(entry[1])

    def owns(self, error: BaseException) -> bool:
        return self._host.owns(error)

    def close(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        host = self._host
        if host is not self._first:
            self._first.close(False, False, False)
        host.close(wait, cancel_futures, cancel_running)

    def join(self) -> None:
        self._first.join()
        self._host.join()


def _known(fn: Callable[..., Any], key: _Key) -> Any:
    """What the rerouter remembers a callable by: a function or class by itself (its
    key changes when a function of the script goes by value), anything else (a
    partial, a bound method: objects made afresh) by its key."""
    return fn if isinstance(fn, (types.FunctionType, type)) else key


def _fail(future: Future[Any], exc: BaseException) -> None:
    with contextlib.suppress(InvalidStateError):
        future.set_exception(exc)

"""Actors: one instance of a class living in a worker of its own, called in order.

``counter = pool.actor(Counter, start=0)`` asks the pool's backend for an actor host
(``Backend.actor_host``: one worker of its own, an interpreter, a process, or a thread
of this interpreter), creates ``Counter(start=0)`` there as its first task
(``_worker.actor_host.create``), and returns an :class:`Actor` handle.
``counter.increment(5)`` has the host run ``_worker.actor_host.call(actor_id,
"increment", 5)`` and returns its future.  So everything a task has, a call has: the
encoding of arguments and results, errors rebuilt with the worker's traceback, time
limits, cancellation.

The futures are :class:`_CallFuture` s, ``PoolFuture`` s owned by the host, with the
same ``cancel(*, interrupt=True)``; an interruption replaces the worker, and the
instance with it, so their ``cancel`` marks the actor lost then, and their
``set_exception`` notices what loses the actor (a call interrupted by its time limit,
a crashed worker, a failed ``__init__``) and turns the worker's "no such instance"
(``actor_host.ActorGone``) into :class:`ActorLost`, naming the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from itertools import count
from typing import TYPE_CHECKING, Any, NoReturn, Self

from interpool._api.aio import result_of
from interpool._api.arguments import check_seconds
from interpool._engine.futures import PoolFuture
from interpool._worker import actor_host
from interpool.exceptions import ActorLost, BrokenPool, WorkerCrashed

if TYPE_CHECKING:
    from interpool._backends.base import ActorHost

__all__ = ["Actor", "ActorMethod"]

_ids = count(1)


class _State:
    """What an actor's handle, its methods and its futures share."""

    __slots__ = (
        "closed",
        "cls",
        "cls_name",
        "host",
        "lost",
        "lost_cause",
        "lost_vague",
        "methods",
        "name",
    )

    def __init__(
        self, host: ActorHost, cls: Callable[..., Any], cls_name: str, actor_id: int
    ) -> None:
        self.host = host
        self.cls = cls
        self.cls_name = cls_name
        #: How messages name the actor: ``Counter#3``.
        self.name = f"{cls_name}#{actor_id}"
        self.closed = False
        #: Why the actor is lost (``None`` while it is not), and the error that did it.
        self.lost: str | None = None
        self.lost_cause: BaseException | None = None
        self.lost_vague = False
        #: Names checked to be methods of ``cls`` (see :meth:`Actor.__getattr__`).
        self.methods: set[str] = set()

    @property
    def worker(self) -> str:
        """What the instance lives in: ``"interpreter"``, ``"process"`` or ``"thread"``."""
        return self.host.worker

    def lose(self, reason: str, cause: BaseException | None = None, vague: bool = False) -> None:
        """Mark the actor lost and release its interpreter in the background (calls
        already queued still run there, and fail with :class:`ActorLost`).  The first
        reason wins, except a ``vague`` one (the worker's "no instance here", which
        may arrive before the caller learns why), which a precise one replaces."""
        if self.lost is not None and not self.lost_vague:
            return
        first = self.lost is None
        self.lost_cause = cause
        self.lost_vague = vague
        self.lost = reason
        if first:
            self.host.close(False, False, False)

    def lost_error(self, detail: str | None = None) -> ActorLost:
        error = ActorLost(
            f"interpool: actor {self.name} is lost: {self.lost or detail}. Its calls "
            "cannot run; create a new actor"
        )
        error.__cause__ = self.lost_cause
        return error

    def raise_refusal(self, exc: RuntimeError) -> NoReturn:
        """Raise what the actor's pool refusing a call (``exc``, as after its
        shutdown) means for the caller: closed, lost, or ``exc`` itself."""
        if self.closed:
            raise self.closed_error() from None
        if self.lost is not None:
            raise self.lost_error() from None
        raise exc

    def closed_error(self) -> RuntimeError:
        return RuntimeError(f"interpool: actor {self.name} is closed; it cannot take calls")

    def settled(self, future: _CallFuture, exc: BaseException) -> BaseException:
        """The exception ``future`` (of this actor) gets for the task's ``exc``; notes
        whether it means the actor is lost."""
        what = future._what
        if type(exc) is actor_host.ActorGone:
            error = self.lost_error(str(exc))
            self.lose(str(exc), vague=True)
            error.__suppress_context__ = True
            return error
        if isinstance(exc, TimeoutError) and _made_by_pool(exc):
            # The call was interrupted by its time limit: its worker is replaced.  (A
            # coroutine method's time limit cancels only the coroutine: that error is
            # made in the worker, and comes with the worker's traceback.)
            self.lose(
                f"{what} ran past its time limit and was interrupted, which replaced "
                f"its {self.worker}",
                exc,
            )
            exc.add_note(
                f"interpool: actor {self.name} is lost (its state went with its {self.worker})"
            )
        elif isinstance(exc, WorkerCrashed):
            self.lose(f"the worker {self.worker} running {what} failed", exc)
        elif isinstance(exc, BrokenPool) and (self.host.owns(exc) or _made_by_pool(exc)):
            # A call's failure may be known before its creation's (a call still waiting
            # for the creation to end is failed first): the creation's reason wins.
            self.lose(
                f"its interpreter could not run {what}: {_summary(exc)}",
                exc,
                vague=not future._creation,
            )
        elif future._creation:
            self.lose(f"its creation failed: {self.cls_name}(...) raised {_summary(exc)}", exc)
        return exc


def _made_by_pool(exc: BaseException) -> bool:
    """True for an error the pool made (a time limit...), False for one raised in the
    worker: a rebuilt task error always carries the worker's traceback in its chain
    (or in a note)."""
    return exc.__cause__ is None and exc.__context__ is None and not getattr(exc, "__notes__", None)


def _summary(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__
        text = ""
    return f"{type(exc).__qualname__}: {text}" if text else type(exc).__qualname__


class _CallFuture(PoolFuture[Any]):
    """The future of one call (or of the creation) of an actor; its owner is the
    actor's host (``Backend.actor_host``), which completes it."""

    def __init__(self, host: ActorHost, state: _State, what: str, creation: bool = False) -> None:
        super().__init__(host)
        self._actor = state
        self._what = what
        self._creation = creation

    def cancel(self, *, interrupt: bool = True) -> bool:
        """Cancel the call; True if it is (now) cancelled (``PoolFuture.cancel``).

        A call no worker has started is dropped (the calls after it still run, in
        order).  A running call is interrupted (pure Python at once; a C call when it
        returns; the processes backend kills the process), which replaces the
        actor's worker, so the actor is lost (:class:`ActorLost` for the calls after
        it); a coroutine method's call is cancelled on the worker's event loop
        instead, and the actor survives.  With ``interrupt=False`` a running call is
        left alone and False is returned, as in ``concurrent.futures``.  False if the
        call has finished.
        """
        host = self._actor.host
        if host.cancel(self, False):
            if self._creation:
                self._actor.lose("its creation was cancelled before it ran")
            return True
        if not interrupt or self.done():
            return self.cancelled()
        on_loop = host.on_loop(self)
        if not host.cancel(self, True):
            return self.cancelled()
        if not (on_loop or host.on_loop(self)):
            self._actor.lose(
                f"{self._what} was cancelled while running (cancel(interrupt=True)), "
                f"which {host.interrupted}"
            )
        return True

    def set_exception(self, exception: BaseException | None) -> None:
        if exception is not None:
            # A bug here must not lose the outcome itself.
            with contextlib.suppress(Exception):
                exception = self._actor.settled(self, exception)
        super().set_exception(exception)


class ActorMethod:
    """A method of an actor: ``actor.name(*args, **kwargs)`` returns the call's future,
    ``await actor.name.run(*args, **kwargs)`` its result, and
    ``actor.name.options(task_timeout=...)`` the same method with another time limit.
    Cheap to make; holds its actor alive, as a bound method does its instance."""

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    __slots__ = ("_actor", "_limit", "_name")

    def __init__(self, actor: Actor[Any], name: str, limit: float | None) -> None:
        self._actor = actor
        self._name = name
        self._limit = limit

    @property
    def name(self) -> str:
        return self._name

    def __call__(self, *args: Any, **kwargs: Any) -> PoolFuture[Any]:
        """Queue the call after the actor's earlier ones; return its future (a
        ``PoolFuture``; interrupting a running call with ``cancel()`` loses the
        actor, ``cancel(interrupt=False)`` leaves it to finish: see :class:`Actor`).
        Raises at once ``TypeError`` for an argument that cannot be sent,
        ``RuntimeError`` if the actor is closed, :class:`ActorLost` if it is known to
        be lost."""
        state = self._actor._state
        if state.closed:
            raise state.closed_error()
        if state.lost is not None:
            raise state.lost_error()
        name = self._name
        host = state.host
        future = _CallFuture(host, state, f"call {name!r}")
        try:
            host.call(future, name, args, kwargs, self._limit)
        except RuntimeError as exc:
            state.raise_refusal(exc)
        return future

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        """Make the call and await its result, under asyncio or trio (anyio on
        either); the event loop is never blocked.  Cancelling the awaiting task
        cancels the call as ``future.cancel(interrupt=False)`` does, so that the actor
        is never lost that way: dropped if it has not started; if it runs, it
        finishes (its effect on the instance stays) and its result is dropped."""
        future = self(*args, **kwargs)
        return await result_of(future, lambda: future.cancel(interrupt=False))

    def options(self, *, task_timeout: float | None = None) -> ActorMethod:
        """This method with a time limit of ``task_timeout`` seconds per call
        (``None``: none), instead of the pool's ``task_timeout``.  A call that runs
        past it fails with ``TimeoutError`` and is interrupted, which replaces the
        actor's interpreter: the actor is lost."""
        return ActorMethod(self._actor, self._name, check_seconds("task_timeout", task_timeout))

    def __repr__(self) -> str:
        return f"<ActorMethod {self._name!r} of {self._actor!r}>"


class Actor[T]:
    """A handle to one instance of a class living in a worker interpreter of its own;
    ``pool.actor(cls, *args, **kwargs)`` makes it.  ``T`` is the class.

    ``actor.method(*args, **kwargs)`` runs ``instance.method(*args, **kwargs)`` there
    and returns a ``concurrent.futures.Future`` (a ``PoolFuture``); ``await
    actor.method.run(*args, **kwargs)`` awaits it under asyncio or trio.  Methods
    only: the class (not the instance) tells what a method is, in the caller, so a
    name that is not a callable attribute of the class (an instance attribute, a
    property, a constant) raises ``AttributeError`` at once; add a method that
    returns it.  (A class with ``__getattr__``, or a factory function instead of a
    class, lets any name through: the worker then decides.)  The handle's own names
    (``close``, ``ready``, ``created``, ``closed``, ``method``) hide methods of the same
    name: reach those with ``actor.method("close")(...)``.

    * **Other backends.**  On a ``backend="processes"`` pool the instance lives in a
      process of its own, on a ``backend="threads"`` pool in this interpreter, served
      by a thread of its own; everything below holds there too, reading "process" or
      "thread" for "interpreter" (a time limit or ``cancel(interrupt=True)`` kills the
      process, or interrupts the thread, and loses the actor either way).
    * **One interpreter per actor.**  Each actor gets a worker of its own,
      inheriting the pool's ``sys.path``, ``initializer`` and ``task_timeout`` (not
      ``max_tasks_per_worker``, ``idle_timeout`` or ``fallback``, which would lose
      its state).  So a long call on one actor never delays another actor or the
      pool's tasks, actors run in parallel with each other, and their states are
      isolated.  The cost, per actor: a sub-interpreter (its start, and the import
      of the class's module, before the instance exists; ``pool.actor()`` itself
      returns at once), its memory, and two threads.
    * **Ordering and state.**  Calls run one at a time, in the order they were made
      (the order of ``submit`` across threads), on the same instance, whose state
      persists between them.  (A coroutine method, ``async def``, starts in order
      but runs on the worker's event loop, interleaved with other coroutine calls at
      their ``await`` s.)
    * **Creation** is asynchronous: ``pool.actor()`` returns at once (``TypeError``
      if the class or an argument cannot be sent; ``RuntimeError`` after the pool's
      shutdown).  If ``__init__`` raises, :attr:`created` and :meth:`ready` raise
      that error, and every call fails with :class:`ActorLost`, whose ``__cause__``
      it is.  Classes go by name if importable (modules, the ``__main__`` script),
      else by value with cloudpickle (classes defined in a function, in the REPL).
    * **Errors** of a method come back as task errors do: same type and message, the
      worker's traceback as ``__cause__``.  The actor goes on.
    * **Time limits**: the pool's ``task_timeout`` applies to each call (and to
      ``__init__``); ``actor.method.options(task_timeout=s)`` sets another one for
      calls made through it.  A call past its limit fails with ``TimeoutError`` and
      is interrupted, which replaces the interpreter: **the actor is lost**, and the
      calls after it fail with :class:`ActorLost` saying why, never run on a fresh
      instance.
    * **Cancelling** a call's future drops it if it has not started; a running call
      is interrupted, as any pool future's, which loses the actor, unless
      ``cancel(interrupt=False)``: then it is left to finish and False is returned,
      as in ``concurrent.futures``.  Cancelling ``await m.run(...)`` does what
      ``cancel(interrupt=False)`` does: a running call finishes, its result is
      dropped.
    * **Closing**: :meth:`close` (or leaving ``with pool.actor(...) as a:``) lets the
      queued calls finish (or cancels them, with ``cancel_pending``), then destroys
      the instance's interpreter; calls made afterwards raise ``RuntimeError``.
      ``pool.shutdown()`` closes the pool's actors first, and a handle that is
      garbage-collected closes its actor (its queued calls still run).  The actor
      does not keep its pool alive.

    A handle may be used from several threads.  It cannot be pickled or sent to a
    task.
    """

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    __slots__ = ("__weakref__", "_created", "_finalizer", "_limit", "_state")

    def __init__(
        self,
        host: Callable[[int], ActorHost],
        limit: float | None,
        cls: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """(Made by ``Pool.actor``: ``host`` makes the actor's host from its id, as
        ``Backend.actor_host`` does; ``limit`` is the calls' default time limit.)"""
        if not callable(cls):
            raise TypeError(
                f"interpool: an actor needs a class (or factory), got {type(cls).__name__}"
            )
        actor_id = next(_ids)
        self._limit = limit
        cls_name = getattr(cls, "__qualname__", None)
        if not isinstance(cls_name, str):
            cls_name = type(cls).__qualname__
        own = host(actor_id)
        state = _State(own, cls, cls_name, actor_id)
        created = _CallFuture(own, state, "its creation", creation=True)
        try:
            own.create(created, cls, tuple(args), dict(kwargs), limit)
        except BaseException:
            own.close(False, False, False)
            raise
        self._state = state
        self._created = created
        self._finalizer = weakref.finalize(self, _release, state)

    # -- calls --------------------------------------------------------------------

    def __getattr__(self, name: str) -> ActorMethod:
        """``actor.name``: the method ``name`` of the instance (see the class docstring)."""
        if name in _OWN or (name[:2] == "__" and name[-2:] == "__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        state = self._state
        if name not in state.methods:
            _check_method(state.cls, name)
            state.methods.add(name)
        return ActorMethod(self, name, self._limit)

    def method(self, name: str) -> ActorMethod:
        """The method ``name``, also when the handle has an attribute of that name
        (``actor.method("close")``)."""
        if not isinstance(name, str):
            raise TypeError(f"a method name must be a str, got {type(name).__name__}")
        state = self._state
        if name not in state.methods:
            _check_method(state.cls, name)
            state.methods.add(name)
        return ActorMethod(self, name, self._limit)

    # -- life cycle -----------------------------------------------------------------

    @property
    def created(self) -> Future[None]:
        """The future of the instance's creation: its result is ``None`` once
        ``__init__`` has returned; its exception is ``__init__`` 's error."""
        return self._created

    def ready(self, timeout: float | None = None) -> None:
        """Block until the instance exists (up to ``timeout`` seconds: then
        ``TimeoutError``); raise ``__init__`` 's error if it failed."""
        self._created.result(timeout)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (or the pool shut down)."""
        return self._state.closed

    def close(
        self, wait: bool = True, *, cancel_pending: bool = False, cancel_running: bool = False
    ) -> None:
        """Stop taking calls and release the instance and its interpreter once the
        queued calls have run.

        Args:
            wait: block until the interpreter is destroyed (with ``False``, that
                happens in the background).
            cancel_pending: cancel the calls that have not started.
            cancel_running: with ``cancel_pending``, also interrupt the running call
                (it fails with ``CancelledError``).

        Calls made afterwards raise ``RuntimeError``.  Calling it again is harmless.
        """
        self._state.closed = True
        self._finalizer.detach()
        self._state.host.close(wait, cancel_pending, cancel_pending and cancel_running)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Close and wait; leaving by ``KeyboardInterrupt`` cancels the queued calls
        and interrupts the running one first."""
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self.close(True, cancel_pending=interrupted, cancel_running=interrupted)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Close, and await the end of the interpreter without blocking the event loop
        (asyncio or trio).  Leaving by ``KeyboardInterrupt`` or by the task's
        cancellation cancels the queued calls and interrupts the running one."""
        interrupted = exc_type is not None and issubclass(exc_type, _cancellations())
        self.close(False, cancel_pending=interrupted, cancel_running=interrupted)
        done: Future[None] = Future()
        host = self._state.host

        def join() -> None:
            try:
                host.join()
            finally:
                done.set_result(None)

        threading.Thread(target=join, name="interpool-actor-close", daemon=True).start()
        await result_of(done, lambda: None)

    # -- odds and ends --------------------------------------------------------------

    def __dir__(self) -> list[str]:
        cls = self._state.cls
        names = set(object.__dir__(self))
        if isinstance(cls, type):
            for name in dir(cls):
                if not (name[:2] == "__" and name[-2:] == "__"):
                    try:
                        if callable(getattr(cls, name)):
                            names.add(name)
                    except Exception:  # noqa: BLE001 - a strange descriptor
                        continue
        return sorted(names)

    def __repr__(self) -> str:
        state = getattr(self, "_state", None)
        if state is None:
            return "<interpool.Actor (not created)>"
        status = "closed" if state.closed else "lost" if state.lost is not None else "open"
        return f"<interpool.Actor {state.name} {status}>"

    def __reduce__(self) -> Any:
        raise TypeError(
            "interpool: an Actor handle cannot be pickled or sent to a task; call its "
            "methods from the caller"
        )


#: The handle's own attributes, which ``__getattr__`` must never treat as methods.
_OWN = frozenset(Actor.__slots__)


def _release(state: _State) -> None:
    """The handle was garbage-collected: close the actor in the background (its
    queued calls still run)."""
    state.closed = True
    state.host.close(False, False, False)


def _cancellations() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [KeyboardInterrupt, asyncio.CancelledError]
    trio = sys.modules.get("trio")
    if trio is not None:
        kinds.append(trio.Cancelled)
    return tuple(kinds)


_MISSING = object()


def _check_method(cls: Callable[..., Any], name: str) -> None:
    """``AttributeError`` unless ``name`` may be a method of ``cls``'s instances."""
    if not isinstance(cls, type):
        return  # a factory: the worker decides
    try:
        attr = getattr(cls, name, _MISSING)
    except Exception:  # noqa: BLE001 - a descriptor that fails on the class: let the worker try
        return
    if attr is _MISSING:
        if hasattr(cls, "__getattr__"):
            return
        raise AttributeError(
            f"interpool: {cls.__qualname__} has no method {name!r} (an actor handle only "
            "calls methods of the class; to read an instance attribute, add a method that "
            "returns it)"
        )
    if not callable(attr):
        raise AttributeError(
            f"interpool: {cls.__qualname__}.{name} is not a method but a "
            f"{type(attr).__qualname__}; an actor handle only calls methods (add one "
            "that returns what you need)"
        )

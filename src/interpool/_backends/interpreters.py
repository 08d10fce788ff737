"""The ``"interpreters"`` backend: tasks on interpool's warm sub-interpreters.

A call is keyed (``_wire.functions.function_key``: by name, or pickled by value
once), its arguments encoded (``_wire.transport``), and handed to the
:class:`~interpool._engine.scheduler.Scheduler` with a
:class:`~interpool._engine.futures.PoolFuture`; the scheduler's workers
(``_engine.worker_thread``, ``_worker.loop``) run it and the collector completes the
future.  With ``fallback="processes"`` every task goes through a
:class:`~interpool._backends.fallback.Rerouter`, which runs it again on the workers of
a processes backend (:class:`~interpool._backends.processes.Processes`) if it hits an
extension module that cannot load in a sub-interpreter.  An actor's host is a
scheduler of one worker interpreter of its own (:class:`_ActorHost`).
"""

from __future__ import annotations

import functools
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from interpool._backends.base import Mapper, at_exit, end_interrupted, end_on_second_ctrl_c
from interpool._engine.futures import PoolFuture
from interpool._engine.interpreter_options import InterpreterOptions
from interpool._engine.scheduler import CTRL_C_GRACE_SECONDS, Scheduler
from interpool._wire.functions import (
    function_key,
    initializer_key,
    main_ref,
    names_script,
    script_problem,
)
from interpool._wire.protocol import CALL, CHUNK
from interpool._wire.transport import dump_chunk, encode_call
from interpool._worker import actor_host

if TYPE_CHECKING:
    from interpool._backends.base import ActorHost, BackendName, ChunkOutcome
    from interpool._backends.fallback import Rerouter
    from interpool._engine.stats import Recorder
    from interpool.stats import PoolStats

__all__ = ["Interpreters"]

#: Every scheduler still open, for the program's exit (:func:`_at_exit`).
_live: weakref.WeakSet[Scheduler] = weakref.WeakSet()

_CREATE_KEY = function_key(actor_host.create)
_CALL_KEY = function_key(actor_host.call)


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
        forward: int = 0,
    ) -> None:
        init = None
        #: What the workers' tasks print, log and warn that reaches the caller
        #: (``_wire.protocol``'s ``FORWARD_*`` flags; see ``_engine.forwarding``).
        self.forward = forward
        #: For the actors' own interpreters.
        self._initializer = initializer
        self._initargs = initargs
        if initializer is not None:
            init = (initializer_key(initializer), *encode_call(initargs, {}))
        self.max_workers = max_workers
        self.reroute: Rerouter | None = None
        if fallback:
            # Imported only here: multiprocessing slows the pool's start-up.
            from interpool._backends.fallback import Rerouter
            from interpool._backends.processes import Processes

            self.reroute = Rerouter(
                Processes(
                    max_workers,
                    path=path,
                    initializer=initializer,
                    initargs=initargs,
                    max_tasks_per_worker=max_tasks_per_worker,
                    forward=forward,
                )
            )
        self.scheduler = Scheduler(
            max_workers, path, main_ref(), init, max_tasks_per_worker or 0, idle_timeout or 0.0,
            options, forward,
        )  # fmt: skip
        _live.add(self.scheduler)
        self.recorder: Recorder | None = self.scheduler.recorder
        #: The thread that stops the processes of the fallback after a
        #: ``shutdown(wait=False)`` (it waits for the interpreters first).
        self._stopper: threading.Thread | None = None

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> PoolFuture[Any]:
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

    def stats(self, slowest: int) -> PoolStats:
        """The worker interpreters' (not the fallback's processes')."""
        return self.scheduler.stats(slowest)

    @property
    def options(self) -> InterpreterOptions:
        """How every worker interpreter is created."""
        return self.scheduler.options

    def mapper(self, fn: Callable[..., Any], limit: float | None) -> InterpreterMapper:
        return InterpreterMapper(self, fn, limit)

    def actor_host(self, actor_id: int) -> ActorHost:
        scheduler = self.scheduler
        if scheduler.closed:
            raise scheduler.broken or RuntimeError(
                "cannot create an actor after the pool's shutdown"
            )
        path = tuple(p for p in sys.path if isinstance(p, str))
        own = Interpreters(
            1, path, self._initializer, self._initargs, None, None, False, scheduler.options,
            self.forward,
        )  # fmt: skip
        if self.reroute is not None:
            return self.reroute.actor_host(_ActorHost(own, actor_id), actor_id)
        return _ActorHost(own, actor_id)

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


class InterpreterMapper(Mapper[Interpreters]):
    """``map`` chunks of one function: keyed once, each chunk encoded in the caller
    (so an item that cannot be sent raises before anything runs)."""

    __slots__ = ("_key",)

    def __init__(self, backend: Interpreters, fn: Callable[..., Any], limit: float | None) -> None:
        super().__init__(backend, fn, limit)
        self._key = function_key(fn)

    def encode(
        self, chunk: tuple[tuple[Any, ...], ...], start: int
    ) -> tuple[tuple[int, Any], tuple[tuple[Any, ...], ...]]:
        return dump_chunk(chunk, start), chunk

    def submit(
        self, encoded: tuple[tuple[int, Any], tuple[tuple[Any, ...], ...]]
    ) -> PoolFuture[ChunkOutcome]:
        (fmt, payload), chunk = encoded
        backend, key, limit = self._backend, self._key, self._limit
        if backend.reroute is not None:
            to_interpreter = functools.partial(backend.schedule, key, CHUNK, payload, fmt, limit)
            return backend.reroute.chunk(key, self._fn, chunk, to_interpreter, limit=limit)
        return backend.schedule(key, CHUNK, payload, fmt, limit)


class _ActorHost:
    """:meth:`Interpreters.actor_host`: a scheduler of one worker interpreter, which
    holds the instance; the creation and the calls are tasks of ``_worker.actor_host``
    submitted with the actor's own futures (``PoolFuture`` s whose owner is this
    host: their ``cancel`` and ``result`` go straight to the scheduler).

    Until the creation has ended, the scheduler hands its worker one task at a time
    (``Scheduler.one_at_a_time``): the creation may be sent again, by value (a class
    of a script that workers cannot load, see ``_wire.functions``), and must still run
    before the calls made meanwhile.  The same holds around a call whose arguments
    name the script's objects while it is not known whether workers can load the
    script; and for good once they cannot."""

    worker = "interpreter"
    interrupted = "replaced its interpreter"

    def __init__(self, backend: Interpreters, actor_id: int) -> None:
        scheduler = backend.scheduler
        self._scheduler = scheduler
        self._id = actor_id
        self._submit = scheduler.submit
        self.cancel = scheduler.cancel
        self.help_wait = scheduler.help_wait
        self.on_loop = scheduler.on_loop
        self.close = backend.shutdown
        self.join = backend.join

    def create(
        self,
        future: PoolFuture[Any],
        cls: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        try:
            a, b = encode_call((self._id, cls, tuple(args), dict(kwargs)), {})
        except TypeError as exc:
            try:
                encode_call((cls,), {})
            except TypeError as inner:
                raise TypeError(
                    f"interpool: the actor's class {cls!r} cannot be sent to its "
                    f"interpreter: {inner.__cause__ or inner}"
                ) from exc
            encode_call(tuple(args), dict(kwargs))  # names the argument
            raise
        # The calls wait behind the creation until it has ended (see the class).
        self._scheduler.one_at_a_time(True)
        self._submit(future, _CREATE_KEY, CALL, a, b, limit)
        future.add_done_callback(self._created)

    def _created(self, _: object) -> None:
        # One at a time for good if the script turned out not to load in workers:
        # calls encoded before that was known are sent again, by value, in order.
        self._scheduler.one_at_a_time(script_problem() is not None)

    def call(
        self,
        future: PoolFuture[Any],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        try:
            a, b = encode_call((self._id, name, *args), kwargs)
        except TypeError:
            encode_call(args, kwargs)  # the error again, naming the method's own argument
            raise
        if script_problem() is None and names_script(CALL, a, b):
            # Its arguments name the script's objects, and whether workers can load the
            # script is not known yet: if not, this call is sent again (by value), and
            # the calls after it must wait (see the class).
            self._scheduler.one_at_a_time(True)
            future.add_done_callback(self._created)
        self._submit(future, _CALL_KEY, CALL, a, b, limit)

    def owns(self, error: BaseException) -> bool:
        return error is self._scheduler.broken


def _at_exit() -> None:
    """Stop every pool of worker interpreters still open, letting queued tasks finish,
    so no sub-interpreter outlives the program (see ``base.EXIT_STEPS``).

    Ctrl-C is always heard.  If the program is ending because of one (an uncaught
    ``KeyboardInterrupt``), or one comes while this waits: the remaining tasks are
    cancelled and the running ones interrupted, a second Ctrl-C ends the program at
    once, and after :data:`~interpool._engine.scheduler.CTRL_C_GRACE_SECONDS` a task
    still running (stuck in a C call) is abandoned: the program says which and ends
    as Ctrl-C ends a program (killed by ``SIGINT``), without destroying the
    interpreter that runs it (which would crash the process)."""
    schedulers = list(_live)
    for scheduler in schedulers:
        scheduler.shutdown(wait=False, cancel_futures=False)
    if not isinstance(getattr(sys, "last_exc", None), KeyboardInterrupt):
        try:
            for scheduler in schedulers:
                # Every worker interpreter, retired ones included, must be gone before
                # the interpreter finalizes (destroying a running one crashes it).
                scheduler.join(everything=True)
            return
        except KeyboardInterrupt:
            pass
    end_on_second_ctrl_c()
    for scheduler in schedulers:
        scheduler.shutdown(False, True, True)
    end = time.monotonic() + CTRL_C_GRACE_SECONDS
    stuck = []
    for scheduler in schedulers:
        if not scheduler.join(everything=True, timeout=max(0.0, end - time.monotonic())):
            stuck += scheduler.stuck()
    if stuck:
        end_interrupted(
            f"interpool: Ctrl-C: the program ends without waiting for {len(stuck)} "
            f"task{'s' if len(stuck) > 1 else ''} still running in C "
            f"({', '.join(stuck)}); abandoned"
        )


at_exit("interpreters", _at_exit)

"""What a ``Pool`` runs its tasks on: the backend interface, and the choice of one.

``Pool`` itself only validates arguments, shapes calls (``submit``, ``map`` and its
chunks, ``imap``, ``amap``, ``await run``, progress bars) and forwards them to one
backend object:

* ``"interpreters"`` (``_backends.interpreters.Interpreters``): the warm pool of
  sub-interpreters, interpool's own engine (``_engine.scheduler``, ``_worker.loop``...);
* ``"processes"`` (``_backends.processes.Processes``): one process per worker, each
  task run in a process whose death (a crash, or a hard kill at a time limit) fails
  that task only;
* ``"threads"`` (``_backends.threads.Threads``): threads of the caller's interpreter,
  the natural choice on a free-threaded build;
* ``"dask"`` (``_backends.dask.Dask``): a Dask ``distributed`` cluster, embedded
  (a ``LocalCluster`` on loopback) or at an address.

Every backend honours the same contract (:class:`Backend`: calls, ``map`` chunks
through a :class:`Mapper`, actors through an :class:`ActorHost`, shutdown), checked
by one shared test suite (``tests/backends/test_backends.py``).  The program's exit stops them
all through one ordered hook (:func:`at_exit`).
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - its exit hook first: see _run_exit
import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol

from interpool._wire.functions import script_unguarded
from interpool._worker import actor_host

if TYPE_CHECKING:
    from interpool._engine.futures import PoolFuture
    from interpool._engine.stats import Recorder
    from interpool.stats import PoolStats

__all__ = [
    "BACKENDS",
    "EXIT_STEPS",
    "ActorHost",
    "Backend",
    "BackendName",
    "CallHost",
    "ChunkOutcome",
    "Mapper",
    "at_exit",
    "copy_outcome",
    "default_backend",
    "end_interrupted",
    "end_on_second_ctrl_c",
    "exiting",
    "main_file_hidden",
]

BackendName = Literal["interpreters", "processes", "threads", "dask"]
BACKENDS: tuple[BackendName, ...] = ("interpreters", "processes", "threads", "dask")

#: What a ``map`` chunk's future gives: the results of its calls up to the first that
#: raised, and that exception (``None`` if every call succeeded).
ChunkOutcome = tuple[list[Any], BaseException | None]


class Mapper[B]:
    """How one ``map`` call sends its chunks to a backend ``B``: made once per ``map``
    (by :meth:`Backend.mapper`), so per-function work, such as pickling a lambda, is
    done once.  It holds the backend, the function (as that backend sends it) and the
    time limit of each call; each backend's subclass says how a chunk is encoded and
    submitted."""

    __slots__ = ("_backend", "_fn", "_limit")

    def __init__(self, backend: B, fn: Any, limit: float | None) -> None:
        self._backend = backend
        self._fn = fn
        self._limit = limit

    def encode(self, chunk: tuple[tuple[Any, ...], ...], start: int) -> Any:
        """Prepare a chunk (argument tuples; ``start`` is the input position of its
        first call) for :meth:`submit`.  Raises ``TypeError`` if an item cannot be
        sent: ``map`` encodes every chunk it submits at once before submitting any,
        so that such an item makes it raise with nothing run."""
        raise NotImplementedError

    def submit(self, encoded: Any) -> PoolFuture[ChunkOutcome]:
        """Run an encoded chunk; its calls run in order, in one worker, and stop at
        the first that raises."""
        raise NotImplementedError


class ActorHost(Protocol):
    """A worker of its own for one actor's instance (``Pool.actor``, ``_api.actor``),
    made by :meth:`Backend.actor_host`.  :meth:`create` makes the instance there and
    :meth:`call` runs its methods, in order (tasks of ``_worker.actor_host``).

    The futures are the caller's (a ``PoolFuture`` whose owner is the host): the host
    completes each with its task's outcome, and the future's ``cancel`` and blocking
    ``result`` come back to :meth:`cancel` and :meth:`help_wait`."""

    @property
    def worker(self) -> str:
        """What the instance lives in, as messages name it: ``"interpreter"``,
        ``"process"`` or ``"thread"``."""
        ...

    @property
    def interrupted(self) -> str:
        """What interrupting a running call does to that worker, as messages say it
        (``"replaced its interpreter"``)."""
        ...

    def create(
        self,
        future: PoolFuture[Any],
        cls: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        """Make ``cls(*args, **kwargs)`` the instance, as the first task (time limit
        ``limit``); ``future`` gets ``None`` or ``__init__``'s error.  Raises
        ``TypeError`` at once if the class or an argument cannot be sent."""
        ...

    def call(
        self,
        future: PoolFuture[Any],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        """Queue ``instance.name(*args, **kwargs)`` after the earlier calls; ``future``
        gets its outcome (``actor_host.ActorGone`` if the worker holds no instance).
        Raises ``TypeError`` at once for an argument that cannot be sent,
        ``RuntimeError`` after :meth:`close`."""
        ...

    def cancel(self, future: Any, interrupt: bool) -> bool:
        """``future.cancel(interrupt=...)`` as the backend's futures do it."""
        ...

    def help_wait(self, future: Any, budget: float) -> None:
        """Called before blocking on ``future`` (see ``PoolFuture.result``)."""
        ...

    def on_loop(self, future: Any) -> bool:
        """Whether the call runs as a coroutine on its worker's event loop:
        interrupting it then cancels the coroutine only, and the instance survives."""
        ...

    def owns(self, error: BaseException) -> bool:
        """Whether ``error``, a ``BrokenPool`` a call failed with, is the host's own
        breakage (rather than one the method raised)."""
        ...

    def close(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        """Release the worker, and the instance with it, once the queued calls have
        run (as :meth:`Backend.shutdown`).  Calling it again is harmless."""
        ...

    def join(self) -> None:
        """Block until a :meth:`close` has completed."""
        ...


class Backend(Protocol):
    """The engine behind a ``Pool``.  Futures it returns are ``PoolFuture`` s (the
    backend, or its scheduler, is their ``Owner``), whose ``cancel`` takes a keyword
    ``interrupt`` (default ``True``): ``cancel(interrupt=False)`` behaves as the
    standard library's (a running task is left alone, and ``False`` returned);
    ``cancel(interrupt=True)`` also stops a running task as well as the backend can
    (interpreters and threads: an exception raised in the task's thread; processes:
    the worker process is killed and replaced; dask: the task is released and its
    result dropped, as Dask cannot stop a running task), and the future is
    cancelled at once."""

    #: The backend's name (one of :data:`BACKENDS`).
    name: BackendName
    #: How many tasks run at once.
    max_workers: int
    #: ``map``'s ``buffersize`` when the caller gives none: ``None`` to consume the
    #: input at once (the standard library's behaviour), or a bound on the chunks
    #: submitted ahead (Dask: a cluster should not get a million tasks at once).
    default_buffersize: int | None

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> PoolFuture[Any]:
        """Run ``fn(*args, **kwargs)`` with a time limit of ``limit`` seconds (from
        the moment it starts; ``None``: none).  A coroutine function, or a call that
        returns a coroutine, is run to completion in the worker.  At the limit the
        future fails with ``TimeoutError`` at once and the task is stopped as by
        ``cancel(interrupt=True)``.  Raises ``TypeError`` at once if ``fn`` or an
        argument cannot be sent, ``RuntimeError`` after :meth:`shutdown`."""
        ...

    def mapper(self, fn: Callable[..., Any], limit: float | None) -> Mapper[Any]:
        """How ``map`` sends chunks of ``fn`` calls, each call with ``limit``."""
        ...

    def actor_host(self, actor_id: int) -> ActorHost:
        """A worker of its own, of this backend's kind and with its initializer, for
        actor ``actor_id`` (one worker: an interpreter, a process, or a thread holding
        the instance in this interpreter).  Raises ``RuntimeError`` after
        :meth:`shutdown` (or the error that broke the backend), and
        ``NotImplementedError`` on a backend without actors (dask)."""
        ...

    def shutdown(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        """Stop accepting tasks (``RuntimeError`` from then on); let queued ones run
        unless ``cancel_futures`` (then cancel those not started, and with
        ``cancel_running`` stop the running ones too); release the workers.
        ``wait``: block until all of that is done.  Calling it again is harmless."""
        ...

    def join(self) -> None:
        """Block until a shutdown started by :meth:`shutdown` has completed."""
        ...

    @property
    def recorder(self) -> Recorder | None:
        """What ``stats()`` and traces read (``_engine.stats``); ``None`` on a backend
        without them (dask)."""
        ...

    def stats(self, slowest: int) -> PoolStats:
        """``Pool.stats()``: counts and times so far, with the ``slowest`` slowest
        tasks.  ``NotImplementedError`` on a backend without them (dask)."""
        ...


class CallHost:
    """The :class:`ActorHost` of a backend whose own futures the actor's follow
    (processes, threads): the creation and each call are ordinary
    :meth:`Backend.call` tasks of ``_worker.actor_host``, on a backend of one worker;
    the caller's future copies the task's outcome, and its ``cancel`` goes to the
    task's future."""

    __slots__ = ("_backend", "_id", "_tasks", "interrupted", "worker")

    def __init__(self, backend: Backend, actor_id: int, worker: str) -> None:
        self._backend = backend
        self._id = actor_id
        self.worker = worker
        self.interrupted = f"stopped its {worker}"
        #: The caller's future -> its task's future, until the task is done.
        self._tasks: dict[Future[Any], PoolFuture[Any]] = {}

    def create(
        self,
        future: PoolFuture[Any],
        cls: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        task_args = (self._id, cls, tuple(args), dict(kwargs))
        self._follow(future, self._backend.call(actor_host.create, task_args, {}, limit))

    def call(
        self,
        future: PoolFuture[Any],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> None:
        task = self._backend.call(actor_host.call, (self._id, name, *args), kwargs, limit)
        self._follow(future, task)

    def _follow(self, future: Future[Any], task: PoolFuture[Any]) -> None:
        self._tasks[future] = task
        task.add_done_callback(functools.partial(self._copy, future))

    def _copy(self, future: Future[Any], task: Future[Any]) -> None:
        self._tasks.pop(future, None)
        copy_outcome(future, task)

    def cancel(self, future: Any, interrupt: bool) -> bool:
        task = self._tasks.get(future)
        if task is not None and task.cancel(interrupt=interrupt):
            return True  # (the caller's future was cancelled with it)
        return bool(future.cancelled())

    def help_wait(self, future: Any, budget: float) -> None:
        pass

    def on_loop(self, future: Any) -> bool:
        return False

    def owns(self, error: BaseException) -> bool:
        # The threads backend raises a method's error as it is: a BrokenPool cannot
        # be told apart from the backend's own.
        return True

    def close(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        self._backend.shutdown(wait, cancel_futures, cancel_running)

    def join(self) -> None:
        self._backend.join()


def copy_outcome(target: Future[Any], source: Future[Any]) -> None:
    """Complete ``target`` as ``source``, a done future, was: with its result, its
    exception, or cancelled (by ``Future.cancel`` itself: a ``target`` whose own
    ``cancel`` would reach back to ``source`` is cancelled here all the same).  A
    ``target`` that is done already (cancelled meanwhile) is left as it is."""
    if source.cancelled():
        if Future.cancel(target):
            target.set_running_or_notify_cancel()
        return
    with contextlib.suppress(InvalidStateError):
        error = source.exception()
        if error is None:
            target.set_result(source.result())
        else:
            target.set_exception(error)


# -- the program's exit ------------------------------------------------------------------

#: A step of the program's exit: which backends it stops.
ExitStep = Literal["threads", "dask", "interpreters", "processes"]

#: The steps of the program's exit, in the order they run.  The first three run in
#: one of ``threading``'s exit hooks, before the interpreter joins its non-daemon
#: threads, and before ``concurrent.futures``' own hook (imported above, so that it is
#: registered first and runs last), which would make Dask's callback executor refuse
#: work:
#:
#: * ``"threads"``: let the queued tasks of every threads backend run (as
#:   ``ThreadPoolExecutor`` does), while the other pools still take their calls;
#: * ``"dask"``: let every Dask backend's tasks finish, then close its client and
#:   cluster, while Dask's threads still run;
#: * ``"interpreters"``: from here on ``Pool()`` raises (:func:`exiting`); stop every
#:   pool of worker interpreters, letting queued tasks finish, and wait for every
#:   worker interpreter: none may outlive the program.
#:
#: The last runs as an ``atexit`` hook, after the non-daemon threads were joined (a
#: task the interpreters or such a thread reroute to a process still runs), and
#: before ``multiprocessing``'s own hook, which would wait for the processes (it is
#: registered when the processes backend is first imported, after
#: ``multiprocessing``):
#:
#: * ``"processes"``: stop every processes backend, letting queued tasks finish.
EXIT_STEPS: tuple[ExitStep, ...] = ("threads", "dask", "interpreters", "processes")

_exit_callbacks: dict[ExitStep, Callable[[], None]] = {}
_exiting = False


def at_exit(step: ExitStep, callback: Callable[[], None]) -> None:
    """Run ``callback`` at the program's exit, at ``step``'s place in
    :data:`EXIT_STEPS` (each backend's module registers its step when imported)."""
    first_late = step == "processes" and step not in _exit_callbacks
    _exit_callbacks[step] = callback
    if first_late:
        atexit.register(_run_exit, ("processes",))


def exiting() -> bool:
    """True once the program's exit has begun stopping the worker interpreters: no
    ``Pool`` may start then."""
    return _exiting


def _run_exit(steps: tuple[ExitStep, ...]) -> None:
    global _exiting
    for step in steps:
        if step == "interpreters":
            _exiting = True
        callback = _exit_callbacks.get(step)
        if callback is not None:
            callback()


threading._register_atexit(_run_exit, ("threads", "dask", "interpreters"))  # type: ignore[attr-defined]


def end_on_second_ctrl_c() -> None:
    """From now on (the program is exiting after a Ctrl-C), another Ctrl-C ends the
    process at once, whatever it is doing."""
    with contextlib.suppress(ValueError):  # not the main thread: nothing to change
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def end_interrupted(message: str) -> NoReturn:
    """End the program now, as an uncaught Ctrl-C does (killed by ``SIGINT``), after
    printing ``message`` and flushing the standard streams: for an exit that cannot
    wait for a task stuck in a C call (finalizing the interpreter that runs it would
    crash the process)."""
    with contextlib.suppress(Exception):
        print(message, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the signal ends the process meanwhile
    os._exit(128 + signal.SIGINT)


def default_backend() -> BackendName:
    """``"threads"`` on a free-threaded build running without the GIL (threads of
    one interpreter then run Python in parallel, share objects and start in
    microseconds), else ``"interpreters"``."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    if is_gil_enabled is not None and not is_gil_enabled():
        return "threads"
    return "interpreters"


@contextlib.contextmanager
def main_file_hidden() -> Iterator[None]:
    """Hide ``__main__.__file__`` while a process starts, if it names no file, or if
    the script starts its pool outside the ``__main__`` guard
    (``functions.script_unguarded``): each process would start it again.

    ``multiprocessing`` makes each new process (and the forkserver) run the file that
    ``__main__.__file__`` names, and the process dies if there is none: a program
    read from stdin has ``__file__ == "<stdin>"``.  Such a ``__main__`` is not needed:
    what refers to it is sent by value (see ``_wire.pickled.dump``).  Another thread
    reading ``__main__.__file__`` meanwhile would miss it, a small price for such programs."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    unguarded = script_unguarded()
    if not unguarded and (spec is not None or not isinstance(path, str) or os.path.isfile(path)):
        yield
        return
    if not isinstance(path, str):
        yield
        return
    del main.__file__  # type: ignore[union-attr]
    try:
        yield
    finally:
        main.__file__ = path  # type: ignore[union-attr]

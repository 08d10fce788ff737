"""What a ``Pool`` runs its tasks on: the backend interface, and the choice of one.

``Pool`` itself only validates arguments, shapes calls (``submit``, ``map`` and its
chunks, ``imap``, ``amap``, ``await run``, progress bars) and forwards them to one
backend object:

* ``"interpreters"`` (``_backend_interpreters.Interpreters``): the warm pool of
  sub-interpreters, interpool's own engine (``_scheduler``, ``_worker``...);
* ``"processes"`` (``_backend_processes.Processes``): one process per worker, each
  task run in a process whose death (a crash, or a hard kill at a time limit) fails
  that task only;
* ``"threads"`` (``_backend_threads.Threads``): threads of the caller's interpreter,
  the natural choice on a free-threaded build;
* ``"dask"`` (``_backend_dask.Dask``): a Dask ``distributed`` cluster, embedded
  (a ``LocalCluster`` on loopback) or at an address.

Every backend honours the same contract (:class:`Backend`), checked by one shared
test suite (``tests/test_backends.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Literal, Protocol

__all__ = ["BACKENDS", "Backend", "BackendName", "ChunkOutcome", "Mapper", "default_backend"]

BackendName = Literal["interpreters", "processes", "threads", "dask"]
BACKENDS: tuple[BackendName, ...] = ("interpreters", "processes", "threads", "dask")

#: What a ``map`` chunk's future gives: the results of its calls up to the first that
#: raised, and that exception (``None`` if every call succeeded).
ChunkOutcome = tuple[list[Any], BaseException | None]


class Mapper(Protocol):
    """How one ``map`` call sends its chunks (made once per ``map``, so per-function
    work, such as pickling a lambda, is done once)."""

    def encode(self, chunk: tuple[tuple[Any, ...], ...], start: int) -> Any:
        """Prepare a chunk (argument tuples; ``start`` is the input position of its
        first call) for :meth:`submit`.  Raises ``TypeError`` if an item cannot be
        sent: ``map`` encodes every chunk it submits at once before submitting any,
        so that such an item makes it raise with nothing run."""
        ...

    def submit(self, encoded: Any) -> Future[ChunkOutcome]:
        """Run an encoded chunk; its calls run in order, in one worker, and stop at
        the first that raises.  The future supports ``cancel(interrupt=...)``."""
        ...


class Backend(Protocol):
    """The engine behind a ``Pool``.  Futures it returns are
    ``concurrent.futures.Future`` s whose ``cancel`` takes a keyword ``interrupt``
    (default ``True``): ``cancel(interrupt=False)`` behaves as the standard
    library's (a running task is left alone, and ``False`` returned);
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
    ) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` with a time limit of ``limit`` seconds (from
        the moment it starts; ``None``: none).  A coroutine function, or a call that
        returns a coroutine, is run to completion in the worker.  At the limit the
        future fails with ``TimeoutError`` at once and the task is stopped as by
        ``cancel(interrupt=True)``.  Raises ``TypeError`` at once if ``fn`` or an
        argument cannot be sent, ``RuntimeError`` after :meth:`shutdown`."""
        ...

    def mapper(self, fn: Callable[..., Any], limit: float | None) -> Mapper:
        """How ``map`` sends chunks of ``fn`` calls, each call with ``limit``."""
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


def default_backend() -> BackendName:
    """``"threads"`` on a free-threaded build running without the GIL (threads of
    one interpreter then run Python in parallel, share objects and start in
    microseconds), else ``"interpreters"``."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    if is_gil_enabled is not None and not is_gil_enabled():
        return "threads"
    return "interpreters"

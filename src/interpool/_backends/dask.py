"""The ``"dask"`` backend: tasks run on a Dask ``distributed`` cluster.

``Dask(max_workers, address=None)`` starts an embedded ``LocalCluster`` on 127.0.0.1
(``max_workers`` worker processes of one thread each, no dashboard) and a client to
it, both closed at :meth:`Dask.shutdown`; ``Dask(max_workers, address=
"tcp://host:8786")`` connects a client to a running scheduler (closed at shutdown,
the cluster left alone).

What this wrapper does that ``client.submit``/``client.map`` alone would not:

* every task is submitted with ``pure=False``, so two identical calls run twice
  (Dask otherwise gives them one key, and so one result);
* ``map`` is lazy: ``Pool.map`` submits chunks as results are consumed, at most
  :attr:`Dask.default_buffersize` ahead (Dask's own ``map`` submits everything at
  once and ignores ``chunksize``);
* a chunk of ``map`` calls runs as one Dask task;
* futures are ``interpool.PoolFuture`` s; cancelling one releases its Dask task
  (``client.cancel``), and ``shutdown(cancel_futures=True)`` releases every
  unfinished task;
* calls and results travel as interpool's process workers send them
  (``_wire.pickled``): pickled in the caller, by value with cloudpickle for lambdas and
  ``__main__``, so an argument that cannot be sent raises ``TypeError`` at submit;
  errors arrive with their type and message and the worker's traceback as an
  ``interpool.RemoteTraceback`` cause; ``async def`` functions run with
  ``asyncio.run`` in the worker's thread.  The workers import ``interpool`` to run
  them: install it on a remote cluster's workers, as any module the tasks import.

Costs: every task is a round trip through the Dask scheduler, far slower than a
call to a local worker; results are fetched in batches (one ``client.gather`` for
the tasks that finished meanwhile).  So give ``map`` a ``chunksize`` for short calls
(``docs/performance.md`` has the measured figures).

The embedded cluster's workers are started as ``multiprocessing`` starts processes
("spawn"): each loads the caller's ``__main__`` script again, so a script must create
the pool under ``if __name__ == "__main__":`` (without it the workers fail to start:
``RuntimeError: Nanny failed to start``).  A program read from stdin has no script to
load: its workers start without it (what they run from ``__main__`` is sent by
value), but a worker that Dask restarts later (after it died) cannot start.

What Dask cannot do, and so this backend does not: tell a queued task from a running
one, or stop a running one.  ``cancel()`` (with or without ``interrupt``) always
cancels the future at once and releases the task, dropping its result; a task that
had started runs on in its worker.  Time limits count from submission (Dask does not
report when a task starts), then fail the future with ``TimeoutError`` and release
the task likewise.  A worker that dies (killed, out of memory) loses nothing: Dask
runs its tasks again on the others (a task that kills three workers fails with
``distributed.KilledWorker``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable
from concurrent import futures as cf
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, NoReturn

from interpool._backends.base import Mapper, at_exit, main_file_hidden
from interpool._engine.futures import NoHelp, PoolFuture
from interpool._platform import deadlines
from interpool._wire.pickled import decode_chunk, decode_reply, dump_sent, run_call, run_chunk
from interpool._wire.protocol import FORWARD_LOGS
from interpool.exceptions import BrokenPool

if TYPE_CHECKING:
    from interpool._backends.base import BackendName, ChunkOutcome
    from interpool._engine.stats import Recorder
    from interpool.stats import PoolStats

__all__ = ["Dask"]

# ``distributed`` is imported on first use only, and its API is only partly typed: its
# objects are ``Any`` here, under these names.
#: ``distributed.Client``
DaskClient = Any
#: ``distributed.Future``
DaskFuture = Any
#: ``distributed.LocalCluster``
DaskCluster = Any

#: ``default_buffersize`` is this many chunks per worker.  A result takes a round
#: trip to come back from a Dask worker (submission, scheduling, completion, fetch):
#: with short tasks, fewer chunks in flight leave the workers waiting for the caller
#: (16 per worker reaches about what Dask itself runs; see ``docs/performance.md``).
#: The scheduler keeps what its workers have not taken, cheaply.
LOOK_AHEAD_PER_WORKER = 16


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"interpool: backend='dask' needs Dask's distributed package ({exc}); install "
            "it with: pip install 'interpool[dask]'"
        ) from exc
    return distributed


def loopback_cluster(n_workers: int, threads_per_worker: int) -> DaskCluster:
    """A quiet ``LocalCluster`` on 127.0.0.1: ``n_workers`` worker processes of
    ``threads_per_worker`` threads, no dashboard, and the scheduler's HTTP routes on a
    free port of loopback (by default they take 8787, or warn when it is taken).  The
    embedded cluster of ``Pool(backend="dask")``; the tests and the Dask benchmark
    use it too."""
    dd = _import_distributed()
    return dd.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    )


class Dask(NoHelp):
    """Run tasks on a Dask cluster (see the module docstring).

    Args:
        max_workers: without ``address``, the number of worker processes of the
            embedded cluster (one thread each); ``None``:
            ``os.process_cpu_count()``.  With ``address``, a bound on how many
            tasks ``map`` keeps in the cluster (``default_buffersize``), and the
            pool's ``max_workers``; ``None``: the cluster's total threads when the
            client connects (at least 1: a cluster that grows later is not seen).
        address: a scheduler address (``"tcp://host:8786"``), or ``None`` for an
            embedded ``LocalCluster`` on 127.0.0.1.
        initializer: called with ``*initargs`` once in every Dask worker, present
            and future (a ``WorkerPlugin``), before the first task.  If it raises in
            a worker present at construction, the backend is broken: every task
            fails with ``interpool.BrokenPool`` (its ``__cause__`` is the error).  A
            worker that joins later and whose initializer raises does not start
            (Dask logs it).
        forward: with ``_wire.protocol.FORWARD_LOGS``, the records that the workers'
            loggers handle are handled by the caller's loggers of the same name
            (Dask's ``Client.forward_logging()``; they carry Dask's ``worker``
            attribute, and the workers' levels are their own: WARNING unless
            configured).  Output and warnings stay in the workers.
    """

    name: BackendName = "dask"

    def __init__(
        self,
        max_workers: int | None,
        *,
        address: str | None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        forward: int = 0,
    ) -> None:
        if max_workers is not None and (
            not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1
        ):
            raise ValueError(f"max_workers must be a positive int or None, got {max_workers!r}")
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be a str or None, got {type(address).__name__}")
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be callable, got {type(initializer).__name__}")
        init_blob = None
        if initializer is not None:
            init_blob = dump_sent(
                (initializer, tuple(initargs)), "the initializer", "a Dask worker"
            )
        dd = _import_distributed()
        self._cluster: DaskCluster | None = None
        if address is None:
            n = max_workers or os.process_cpu_count() or 1
            # The workers start now; hiding a __main__.__file__ that names no file
            # (a program read from stdin) lets them start at all.
            with main_file_hidden():
                self._cluster = loopback_cluster(n, 1)
            try:
                self._client: DaskClient = dd.Client(self._cluster, set_as_default=False)
            except BaseException:
                self._cluster.close()
                raise
        else:
            self._client = dd.Client(address, set_as_default=False)
            n = max_workers or max(1, sum(self._client.nthreads().values()))
        if forward & FORWARD_LOGS:
            self._client.forward_logging()
        self.max_workers: int = n
        self.default_buffersize: int | None = LOOK_AHEAD_PER_WORKER * n
        self._broken: BrokenPool | None = None
        #: The initializer's plugin name, unregistered at shutdown (a cluster at an
        #: address outlives this client).
        self._plugin: str | None = None
        if init_blob is not None:
            self._register_initializer(init_blob)
        # Reentrant: a future's done callbacks run in the thread that cancels it.
        self._lock = threading.RLock()
        self._closed = False
        self._closer: threading.Thread | None = None
        self._pending: set[_DaskFuture[Any]] = set()
        # Done tasks, queued by Dask's callbacks for the collector thread, which
        # fetches the results of those that finished in one ``client.gather``: one
        # round trip per batch instead of per task.
        self._arrived: list[_Arrival] = []
        self._arrival = threading.Condition(threading.Lock())
        self._stopping = False
        self._collector = threading.Thread(
            target=self._collect, name="interpool-dask-results", daemon=True
        )
        self._collector.start()
        _live.add(self)

    def _register_initializer(self, blob: bytes) -> None:
        from interpool._backends.dask_initializer import RunInitializer

        name = f"interpool-initializer-{uuid.uuid4().hex}"
        try:
            self._client.register_plugin(RunInitializer(blob, name), name=name)
        except Exception as exc:  # noqa: BLE001 - any error of the initializer
            # Unregistered, so that workers that join later do not fail to start.
            self._unregister(name)
            broken = BrokenPool(
                f"interpool: the initializer raised in a Dask worker: {type(exc).__name__}: "
                f"{exc}; no task of this pool runs"
            )
            broken.__cause__ = exc
            self._broken = broken
        else:
            self._plugin = name

    def _unregister(self, name: str) -> None:
        # (It may fail: e.g. a worker already left.)
        with contextlib.suppress(Exception):
            self._client.unregister_worker_plugin(name)

    # -- submitting ------------------------------------------------------------------

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        limit: float | None,
    ) -> PoolFuture[Any]:
        """Run ``fn(*args, **kwargs)`` as one Dask task (see the module docstring for
        cancellation and ``limit``, which counts from now)."""
        blob = dump_sent((fn, tuple(args), dict(kwargs)), "the call", "a Dask worker")
        return self._submit(run_call, (blob,), decode_reply, _task_name(fn), limit)

    def mapper(self, fn: Callable[..., Any], limit: float | None) -> DaskMapper:
        """Chunks of ``fn`` calls, each chunk one Dask task whose time limit is
        ``limit`` per call (``len(chunk) * limit`` from its submission)."""
        return DaskMapper(self, fn, limit)

    #: No ``stats()`` nor traces: Dask has its own (see :meth:`stats`).
    recorder: Recorder | None = None

    def stats(self, slowest: int) -> PoolStats:
        """Dask keeps its own: ``NotImplementedError``."""
        raise NotImplementedError(
            "interpool: stats() and traces are kept by the interpreters, processes and "
            "threads backends, not by 'dask': Dask has its own (the dashboard's task "
            "stream and workers pages, distributed.performance_report())"
        )

    def actor_host(self, actor_id: int) -> NoReturn:
        """Dask has no actors of interpool's: ``NotImplementedError``."""
        raise NotImplementedError(
            "interpool: actors run on the interpreters, processes and threads "
            "backends, not on 'dask' (a Dask worker can be lost, and the instance "
            "with it); use Dask's own actors (client.submit(cls, actor=True)) or "
            "another backend"
        )

    def _submit(
        self,
        trampoline: Callable[..., Any],
        args: tuple[Any, ...],
        decode: Callable[[Any], tuple[bool, Any]],
        name: str,
        limit: float | None,
    ) -> _DaskFuture[Any]:
        future: _DaskFuture[Any] = _DaskFuture(self)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._broken is not None:
                raise self._broken  # as the other backends do once broken
            inner = self._client.submit(
                trampoline, *args, key=f"{name}-{uuid.uuid4().hex}", pure=False
            )
            future._inner = inner
            self._pending.add(future)
        if limit is not None:
            future._deadline = deadlines.at(limit, lambda: future._expire(limit))
        # Dask runs this on its callback thread, at once if the task is done already.
        inner.add_done_callback(lambda inner: self._arrive((future, inner, decode)))
        return future

    # -- collecting results ------------------------------------------------------------

    def _arrive(self, arrival: _Arrival) -> None:
        with self._arrival:
            self._arrived.append(arrival)
            self._arrival.notify()

    def _collect(self) -> None:
        """The collector thread: complete the futures of the tasks that are done,
        in batches, until :meth:`_close` stops it."""
        while True:
            with self._arrival:
                while not self._arrived and not self._stopping:
                    self._arrival.wait()
                batch, self._arrived = self._arrived, []
            if not batch:
                return
            self._deliver(batch)

    def _deliver(self, batch: list[_Arrival]) -> None:
        finished = [a for a in batch if a[1].status == "finished" and not a[0].done()]
        others = [a for a in batch if a[1].status != "finished"]
        if finished:
            try:
                replies = self._client.gather([inner for _, inner, _ in finished])
            except Exception:  # noqa: BLE001 - one by one: each gets its own error
                others += finished
            else:
                for (future, _, decode), reply in zip(finished, replies, strict=True):
                    future._complete(decode, reply)
        for future, inner, decode in others:
            future._settle(inner, decode)

    def cancel(self, future: _DaskFuture[Any], interrupt: bool) -> bool:
        """``future.cancel(interrupt=...)``: cancel the future at once and release
        its task in the cluster, whether or not it has started (Dask cannot tell, nor
        stop a running task: one that has started runs on in its worker, and its
        result is dropped); ``interrupt`` changes nothing.  ``False`` if the future
        is already done."""
        del interrupt
        if not Future.cancel(future):
            return False
        future._forget(release=True)
        return True

    def _release(self, inner: DaskFuture) -> None:
        """Cancel ``inner``'s task in the cluster, without waiting for the scheduler
        (from any thread; the timer's callbacks must be quick)."""
        client = self._client
        # (It fails once the client is closed: nothing is left to release then.)
        with contextlib.suppress(Exception):
            client.loop.add_callback(lambda: client.cancel([inner], asynchronous=True))

    # -- shutting down ---------------------------------------------------------------

    def shutdown(self, wait: bool, cancel_futures: bool, cancel_running: bool) -> None:
        """Stop accepting tasks; with ``cancel_futures``, cancel every unfinished
        task's future at once and release the tasks (Dask cannot tell queued tasks
        from running ones, so ``cancel_running`` changes nothing: running ones run on
        in their workers, their results dropped); else let them finish.  Then close
        the client, and the embedded cluster if there is one.  ``wait``: block until
        that is done (else it happens in a background thread)."""
        del cancel_running  # the same as cancel_futures, on Dask
        with self._lock:
            self._closed = True
            pending = list(self._pending) if cancel_futures else []
            if self._closer is None:
                self._closer = threading.Thread(
                    target=self._close, name="interpool-dask-shutdown", daemon=False
                )
                self._closer.start()
            closer = self._closer
        inners = [inner for f in pending if (inner := f._cancel_here()) is not None]
        if inners:
            # (It fails if the client is closing: everything is released then.)
            with contextlib.suppress(Exception):
                self._client.cancel(inners)
        # (Not from the collector thread, in a future's callback: the closer waits for
        # the futures the collector completes.)
        if wait and threading.current_thread() is not self._collector:
            closer.join()

    def _close(self) -> None:
        """Wait for the unfinished tasks, then close the client and the cluster."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                break
            cf.wait(pending, timeout=1.0)
            if self._client.status not in ("running", "connecting"):
                # Closed from elsewhere, or the scheduler is gone for good: what is
                # left will never arrive.
                for future in pending:
                    future._cancel_here()
        if self._plugin is not None and self._cluster is None:
            self._unregister(self._plugin)
        try:
            self._client.close()
        finally:
            try:
                if self._cluster is not None:
                    self._cluster.close()
            finally:
                with self._arrival:
                    self._stopping = True
                    self._arrival.notify()

    def join(self) -> None:
        """Block until a started shutdown has closed the client and the cluster."""
        closer = self._closer
        if closer is not None:
            closer.join()

    @property
    def client(self) -> DaskClient:
        """The Dask client (for what this backend does not offer: ``client.run``,
        the dashboard link, scaling...)."""
        return self._client


#: A done Dask task: our future, Dask's, and how to decode what the task returned.
_Arrival = tuple["_DaskFuture[Any]", DaskFuture, Callable[[Any], tuple[bool, Any]]]


class DaskMapper(Mapper[Dask]):
    """:class:`~interpool._backends.base.Mapper` of the Dask backend: ``fn`` is pickled
    once, each chunk's arguments at :meth:`encode`."""

    __slots__ = ("_name",)

    def __init__(self, backend: Dask, fn: Callable[..., Any], limit: float | None) -> None:
        super().__init__(backend, dump_sent(fn, "the function", "a Dask worker"), limit)
        self._name = _task_name(fn)

    def encode(self, chunk: tuple[tuple[Any, ...], ...], start: int) -> tuple[bytes, int]:
        del start
        return dump_sent(tuple(chunk), "an item of map", "a Dask worker"), len(chunk)

    def submit(self, encoded: tuple[bytes, int]) -> PoolFuture[ChunkOutcome]:
        blob, size = encoded
        limit = None if self._limit is None else self._limit * size
        return self._backend._submit(run_chunk, (self._fn, blob), decode_chunk, self._name, limit)


class _DaskFuture[T](PoolFuture[T]):
    """The caller's future of a Dask task (``_inner``): a ``PoolFuture`` owned by the
    backend, completed from the task by the backend's collector thread; it stays
    pending until then (Dask does not report when a task starts, so ``running()`` is
    ``False``)."""

    def __init__(self, backend: Dask) -> None:
        super().__init__(backend)
        self._backend = backend
        self._inner: DaskFuture | None = None
        self._deadline: deadlines.Deadline | None = None

    def _cancel_here(self) -> DaskFuture | None:
        """Cancel the future without releasing its task (the caller releases many at
        once); return the Dask future to release, if any."""
        inner = self._inner
        if not Future.cancel(self):
            return None
        self._forget(release=False)
        return inner

    def _expire(self, limit: float) -> None:
        """The timer's call: the time limit passed."""
        if not self._start_finishing():
            return
        self.set_exception(
            TimeoutError(
                f"interpool: the task exceeded its time limit of {limit:g} s, counted from "
                "its submission (Dask does not report when a task starts); it was "
                "released from the cluster, but if it had started it runs on in its worker"
            )
        )
        self._forget(release=True)

    def _settle(self, inner: DaskFuture, decode: Callable[[Any], tuple[bool, Any]]) -> None:
        """Complete the future from ``inner``, done (finished, failed or cancelled),
        on its own."""
        if inner.status == "cancelled":
            if Future.cancel(self):  # cancelled by someone else: the client closed...
                self._forget(release=False)
            return
        try:
            reply = inner.result()
        except BaseException as exc:  # noqa: BLE001 - KilledWorker, a closed client...
            if isinstance(exc, ModuleNotFoundError) and exc.name == "interpool":
                exc.add_note(
                    "interpool: the Dask workers run interpool's task wrapper: install "
                    "interpool on them"
                )
            self._finish(False, exc)
        else:
            self._complete(decode, reply)

    def _complete(self, decode: Callable[[Any], tuple[bool, Any]], reply: Any) -> None:
        """Complete the future from what its task returned."""
        try:
            ok, value = decode(reply)
        except BaseException as exc:  # noqa: BLE001 - a bug here must not hang the caller
            ok, value = False, exc
        self._finish(ok, value)

    def _finish(self, ok: bool, value: Any) -> None:
        if not self._start_finishing():
            return
        if ok:
            self.set_result(value)
        else:
            self.set_exception(value)
        self._forget(release=False)

    def _start_finishing(self) -> bool:
        """Claim the right to complete this future (``False``: it was cancelled, or
        another thread completes it)."""
        try:
            return self.set_running_or_notify_cancel()
        except RuntimeError:  # running or finished: the other thread was first
            return False

    def _forget(self, *, release: bool) -> None:
        """Drop the timer, the Dask future (and with it the result held in the
        cluster) and the backend's reference; ``release``: also cancel the task."""
        deadline, self._deadline = self._deadline, None
        if deadline is not None:
            deadline.cancel()
        inner, self._inner = self._inner, None
        if release and inner is not None:
            self._backend._release(inner)
        self._backend._pending.discard(self)


_live: weakref.WeakSet[Dask] = weakref.WeakSet()


def _at_exit() -> None:
    """At exit, before the threads are joined (``base.EXIT_STEPS``): let the tasks of
    every open backend finish, then close its client and cluster, while Dask's own
    threads still run (later, Dask's callback executor refuses work and the tasks'
    callbacks fail)."""
    for backend in list(_live):
        backend.shutdown(True, False, False)


at_exit("dask", _at_exit)


# -- both sides ------------------------------------------------------------------------


def _task_name(fn: Callable[..., Any]) -> str:
    """The key prefix of ``fn``'s tasks, as Dask names its own (shown on its dashboard)."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return name if name.isidentifier() else "task"

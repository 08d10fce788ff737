"""Sub-interpreters inside Dask workers: one worker process per machine, every core busy.

A Dask worker runs its tasks on threads that share one GIL, so pure-Python tasks on
a worker of N threads run one at a time; the usual way out is N worker processes of
one thread each.  :class:`SubinterpreterPlugin` is a third way: each worker (one
process, N threads) runs its tasks on an interpool of N sub-interpreters, each with
its own GIL::

    from distributed import Client
    from interpool.dask_worker import SubinterpreterPlugin

    client = Client("tcp://scheduler:8786")
    client.register_plugin(SubinterpreterPlugin())  # every worker, present and future

or, when starting the workers, ``dask worker tcp://scheduler:8786 --nthreads 8
--preload interpool.dask_worker`` (this module's :func:`dask_setup`).

How it works: Dask hands a task to ``worker.executors["default"]``; the plugin puts a
:class:`SubinterpreterExecutor` there (the worker's own executor stays, under the
name ``"interpool-threads"``).  For a task that is one plain function call (what
``client.submit``, ``client.map`` and most ``dask.delayed`` and collection tasks
are), a thread of the executor resolves the arguments as Dask does and sends the
call ``func(*args, **kwargs)`` to the pool, then waits for its result.  Everything
else (fused subgraphs, aliases, data) runs on those threads as before, and
``async def`` tasks run on the worker's event loop as Dask does.

What a task run in a sub-interpreter sees: its function and arguments arrive as
interpool sends them (by name when importable, else pickled by value; results and
exceptions pickled back), so it cannot share objects with the worker (no
``distributed.get_worker()``, no ``worker_client()``).  A task that cannot run
in a sub-interpreter (its arguments cannot be sent, or it imports an extension
module that refuses to load there: numpy, pandas...) runs on the worker's threads as
without the plugin (see :class:`SubinterpreterExecutor`), or in a process with
``SubinterpreterPlugin(fallback="processes")``.  The task's exception
reaches the client with its type and message, with the sub-interpreter's traceback
as ``__cause__``.

This module imports ``distributed``: install ``interpool[dask]``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

try:
    from dask._task_spec import Task
    from distributed import WorkerPlugin
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise ImportError(
        f"interpool.dask_worker needs Dask's distributed package ({exc}); install it "
        "with: pip install 'interpool[dask]'"
    ) from exc

from interpool.exceptions import IncompatibleModuleError

if TYPE_CHECKING:
    from distributed import Worker

    from interpool._api.pool import Pool

__all__ = ["SubinterpreterExecutor", "SubinterpreterPlugin", "dask_setup"]

#: Where the plugin keeps the worker's own executor while it is installed.
PREVIOUS_EXECUTOR = "interpool-threads"


class _InPool:
    """A Task's function, replaced: the call runs in the pool, this thread waits, or
    runs it itself if it cannot run in a sub-interpreter (see
    :class:`SubinterpreterExecutor`)."""

    __slots__ = ("executor", "func")

    def __init__(self, executor: SubinterpreterExecutor, func: Callable[..., Any]) -> None:
        self.executor = executor
        self.func = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        executor, func = self.executor, self.func
        key = _key(func)
        if key is not None and key in executor.on_threads:
            return func(*args, **kwargs)
        try:
            future = executor.pool.submit(func, *args, **kwargs)
        except TypeError:  # what cannot be sent to a sub-interpreter (a lock...)
            return func(*args, **kwargs)
        except RuntimeError:
            if not executor.closed:
                raise
            # The plugin was removed while this task waited for its thread.
            return func(*args, **kwargs)
        try:
            return future.result()
        except IncompatibleModuleError:
            # Before the task did anything but import: this thread runs it, and every
            # later call of that function.
            if key is not None:
                executor.on_threads.add(key)
            return func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<in a sub-interpreter: {self.func!r}>"


def _key(func: Callable[..., Any]) -> tuple[str, str] | None:
    """How :attr:`SubinterpreterExecutor.on_threads` knows a function (a Dask worker
    unpickles it afresh for each task)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        return module, qualname
    return None


class SubinterpreterExecutor(Executor):
    """The executor a Dask worker runs its tasks with, sending each plain function
    call to ``pool`` (see the module docstring).

    ``threads`` threads (the worker's ``nthreads``: the most tasks it runs at once)
    each take one task, resolve its arguments and wait for the pool's result.  Its
    class name must not contain ``ThreadPoolExecutor``: Dask then calls it as any
    ``concurrent.futures`` executor, ``submit(_run_task_simple, task, data, delay)``.

    A call that cannot run in a sub-interpreter runs on its thread instead, as
    without the plugin (sharing the worker's GIL): one whose arguments or function
    cannot be sent to a sub-interpreter (``TypeError`` at ``pool.submit``), and one
    that fails with ``interpool.IncompatibleModuleError`` (it, or unpickling its
    arguments, imports numpy, pandas... which refuse to load in a sub-interpreter);
    from then on, every call of that function (by module and qualified name: see
    :attr:`on_threads`) runs on the threads.  (Such a call runs again on its thread:
    harmless when the import comes first, as it usually does.)  With
    ``Pool(fallback="processes")`` such calls run in a process instead.  A task
    still waiting for its thread when the executor is shut down runs on that thread
    too.

    :meth:`shutdown` also shuts the pool down, with the same ``wait`` and
    ``cancel_futures`` (``cancel_futures`` also interrupts the calls running in the
    pool).
    """

    def __init__(self, pool: Pool, threads: int) -> None:
        self.pool = pool
        #: ``(module, qualname)`` of the functions that run on the threads: they
        #: failed with ``IncompatibleModuleError`` in a sub-interpreter.
        self.on_threads: set[tuple[str, str]] = set()
        #: Whether :meth:`shutdown` was called.
        self.closed = False
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="interpool-dask-task")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if args and type(args[0]) is Task and not args[0].has_subgraph():
            task = copy.copy(args[0])
            task.func = _InPool(self, task.func)
            args = (task, *args[1:])
        return self._threads.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.closed = True
        self.pool.shutdown(wait, cancel_futures=cancel_futures, cancel_running=cancel_futures)
        self._threads.shutdown(wait, cancel_futures=cancel_futures)


class SubinterpreterPlugin(WorkerPlugin):
    """Run each Dask worker's tasks on an interpool of sub-interpreters.

    Args:
        max_workers: sub-interpreters per worker; by default the worker's
            ``nthreads`` (``dask worker --nthreads``, or ``threads_per_worker`` of a
            ``LocalCluster``), which also bounds how many tasks the worker runs at
            once: give workers one thread per core.
        pool_kwargs: passed to ``interpool.Pool`` (``initializer``,
            ``task_timeout``, ``fallback="processes"``, ``interpreter``...).

    ``setup`` (on ``client.register_plugin``, and in every worker that starts
    later) creates the pool and installs a :class:`SubinterpreterExecutor` as the
    worker's ``"default"`` executor, keeping the worker's own under the name
    ``"interpool-threads"``.  ``teardown`` (``client.unregister_worker_plugin``, or
    the worker closing) puts the worker's own executor back and shuts the pool down
    without waiting: the calls it runs finish (or, when the worker closes, are
    dropped with the process), and no new ones start.  Registering it again
    replaces it (same :attr:`name`).
    """

    name = "interpool-subinterpreters"

    def __init__(self, max_workers: int | None = None, **pool_kwargs: Any) -> None:
        if max_workers is not None and (
            not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1
        ):
            raise ValueError(f"max_workers must be a positive int or None, got {max_workers!r}")
        self.max_workers = max_workers
        self.pool_kwargs = pool_kwargs
        self._executor: SubinterpreterExecutor | None = None

    def setup(self, worker: Worker) -> None:
        from interpool._api.pool import Pool

        nthreads = worker.state.nthreads
        # Sub-interpreters, also on a free-threaded build (where Pool's default
        # would be threads), unless the plugin was given another backend.
        options = {"backend": "interpreters", **self.pool_kwargs}
        pool = Pool(self.max_workers or nthreads, **options)
        executor = SubinterpreterExecutor(pool, nthreads)
        executors = worker.executors
        if not isinstance(executors["default"], SubinterpreterExecutor):
            executors[PREVIOUS_EXECUTOR] = executors["default"]
        executors["default"] = executor
        self._executor = executor

    def teardown(self, worker: Worker) -> None:
        executor, self._executor = self._executor, None
        executors = worker.executors
        if executor is not None and executors.get("default") is executor:
            executors["default"] = executors.pop(PREVIOUS_EXECUTOR)
        if executor is not None:
            executor.shutdown(wait=False)

    def __getstate__(self) -> dict[str, Any]:
        # Sent to the workers before setup: never a live pool.
        return {"max_workers": self.max_workers, "pool_kwargs": self.pool_kwargs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.max_workers = state["max_workers"]
        self.pool_kwargs = state["pool_kwargs"]
        self._executor = None


async def dask_setup(worker: Worker) -> None:
    """The ``dask worker --preload interpool.dask_worker`` hook: installs a
    :class:`SubinterpreterPlugin` with its defaults in that worker."""
    await worker.plugin_add(SubinterpreterPlugin(), catch_errors=False)

"""What is specific to the Dask backend (``interpool._backends.dask.Dask``) and to sub-interpreters
inside Dask workers (``interpool.dask_worker``); the shared behaviour of every backend
is ``test_backends``.  Every cluster is on 127.0.0.1."""

from __future__ import annotations

import itertools
import logging
import operator
import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("distributed")

import distributed

import interpool
from interpool._backends.dask import LOOK_AHEAD_PER_WORKER, Dask, loopback_cluster
from interpool.dask_worker import PREVIOUS_EXECUTOR, SubinterpreterPlugin

from ..support import run_python, wait_until
from ..tasks import on_dask as dask_tasks

pytestmark = [pytest.mark.dask, pytest.mark.timeout(120)]


@pytest.fixture
def dask(dask_address: str) -> Iterator[Dask]:
    """A backend connected to the shared cluster (its 2 worker threads)."""
    backend = Dask(None, address=dask_address)
    yield backend
    backend.shutdown(True, True, True)


@pytest.fixture
def client(dask_address: str) -> Iterator[distributed.Client]:
    """A client of the shared cluster, to look at it from outside the backend."""
    with distributed.Client(dask_address, set_as_default=False) as c:
        yield c


def scheduler_tasks(client: distributed.Client) -> int:
    """How many tasks the scheduler knows of (every client's)."""
    count: int = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
    return count


def test_embedded_cluster_runs_tasks_and_closes_with_shutdown(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    backend = Dask(2, address=None)
    cluster = backend._cluster
    assert cluster is not None
    try:
        assert backend.max_workers == 2
        assert backend.default_buffersize == 2 * LOOK_AHEAD_PER_WORKER
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert sorted(backend.client.nthreads().values()) == [1, 1]
        # By value (a lambda), a coroutine function, an error with its type,
        # message and the worker's traceback.
        assert backend.call(lambda x: x * 2, (21,), {}, None).result() == 42
        assert backend.call(dask_tasks.where, (3,), {}, None).result()[0] == 9

        async def plus_one(x: int) -> int:
            return x + 1

        assert backend.call(plus_one, (1,), {}, None).result() == 2
        error = backend.call(dask_tasks.fail, ("boom",), {}, None).exception()
        assert type(error) is ValueError
        assert str(error) == "boom"
        assert isinstance(error.__cause__, interpool.RemoteTraceback)
        assert "tasks/on_dask.py" in str(error.__cause__)
        mapper = backend.mapper(operator.truediv, None)
        chunk = mapper.submit(mapper.encode(((1, 2), (1, 0), (3, 1)), 0)).result()
        assert chunk[0] == [0.5]
        assert type(chunk[1]) is ZeroDivisionError
        capfd.readouterr()
        caplog.clear()
    finally:
        backend.shutdown(True, False, False)
    assert backend.client.status == "closed"
    assert cluster.status.name == "closed"
    # A clean close: nothing logged at WARNING or above, here or by the workers.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError, match="after shutdown"):
        backend.call(operator.add, (1, 2), {}, None)
    backend.shutdown(True, False, False)  # again: harmless
    backend.join()


def test_embedded_cluster_from_a_program_read_from_stdin() -> None:
    """Its workers start (spawn would run ``<stdin>`` again, and fail), functions of
    that ``__main__`` go by value, and a pool left open is closed at exit after its
    last task, without a word on stderr."""
    program = textwrap.dedent(
        """
        import interpool

        def triple(x):
            return 3 * x

        def last(delay):
            import time

            time.sleep(delay)
            print("last task done", flush=True)

        pool = interpool.Pool(1, backend="dask")
        print(pool.submit(triple, 14).result(), list(pool.map(triple, range(3))))
        pool.submit(last, 0.2)
        """
    )
    done = run_python("-", input=program, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == ["42 [0, 3, 6]", "last task done"]


def test_without_distributed_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # "import distributed" fails
    with pytest.raises(ImportError, match=r"pip install 'interpool\[dask\]'"):
        Dask(1, address=None)


def test_address_gives_the_clusters_threads_or_the_callers_bound(
    dask: Dask, dask_address: str
) -> None:
    assert dask.max_workers == 2
    assert dask._cluster is None
    capped = Dask(5, address=dask_address)
    try:
        assert capped.max_workers == 5
        assert capped.default_buffersize == 5 * LOOK_AHEAD_PER_WORKER
    finally:
        capped.shutdown(True, False, False)


def test_identical_calls_run_apart(dask: Dask) -> None:
    """``pure=False``: Dask would otherwise give both one key, and so one result."""
    first, second = (dask.call(dask_tasks.token, (), {}, None) for _ in range(2))
    assert first.result() != second.result()


def test_an_argument_that_cannot_be_sent_raises_at_call(dask: Dask) -> None:
    import threading

    with pytest.raises(TypeError, match="cannot send the call to a Dask worker"):
        dask.call(print, (threading.Lock(),), {}, None)


def test_cancel_releases_the_task(dask: Dask, client: distributed.Client) -> None:
    before = scheduler_tasks(client)
    future = dask.call(time.sleep, (0.5,), {}, None)
    assert wait_until(lambda: scheduler_tasks(client) > before)
    assert future.cancel(interrupt=False)
    assert future.cancelled()
    # Released: the scheduler forgets the task (it may run on in its worker).
    assert wait_until(lambda: scheduler_tasks(client) == before)
    assert not dask._pending


def test_time_limit_fails_the_future_and_releases_the_task(dask: Dask) -> None:
    future = dask.call(time.sleep, (0.5,), {}, 0.1)
    with pytest.raises(TimeoutError, match=r"time limit of 0\.1 s, counted from its submission"):
        future.result()
    assert wait_until(lambda: not dask._pending)


def test_shutdown_cancel_futures_releases_every_task(
    dask_address: str,
    client: distributed.Client,
) -> None:
    backend = Dask(None, address=dask_address)
    futures = [backend.call(time.sleep, (0.3,), {}, None) for _ in range(12)]
    backend.shutdown(True, True, True)
    assert all(f.cancelled() for f in futures)
    assert backend.client.status == "closed"
    assert wait_until(lambda: scheduler_tasks(client) == 0)


def test_shutdown_lets_unfinished_tasks_finish(dask_address: str) -> None:
    backend = Dask(None, address=dask_address)
    futures = [backend.call(dask_tasks.square_slowly, (i, 0.05), {}, None) for i in range(6)]
    backend.shutdown(False, False, False)
    with pytest.raises(RuntimeError, match="after shutdown"):
        backend.call(operator.add, (1, 2), {}, None)
    backend.join()
    assert [f.result() for f in futures] == [i * i for i in range(6)]
    assert backend.client.status == "closed"


def test_map_is_lazy_with_bounded_look_ahead(dask_address: str) -> None:
    try:
        pool = interpool.Pool(backend="dask", address=dask_address)  # type: ignore[call-arg]
    except TypeError:
        pytest.skip("Pool(backend='dask') is not wired in yet")
    consumed = 0

    def endless() -> Iterator[int]:
        nonlocal consumed
        for i in itertools.count():
            consumed = i + 1
            yield i

    with pool:
        results = pool.map(operator.neg, endless())
        assert list(itertools.islice(results, 10)) == [-i for i in range(10)]
        # Chunks of one, at most default_buffersize ahead.
        assert 10 <= consumed <= 10 + LOOK_AHEAD_PER_WORKER * pool.max_workers + 1
        results.close()  # type: ignore[attr-defined]


def test_initializer_runs_in_every_worker(dask_address: str) -> None:
    backend = Dask(None, address=dask_address, initializer=dask_tasks.set_marker, initargs=("x",))
    try:
        markers = {backend.call(dask_tasks.marker, (), {}, None).result() for _ in range(6)}
        assert markers == {"x"}
        # Shutdown unregisters it: the cluster outlives this client.
        plugin = backend._plugin
    finally:
        backend.shutdown(True, False, False)
    with distributed.Client(dask_address, set_as_default=False) as c:
        registered = c.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert plugin not in registered


def test_failing_initializer_breaks_the_pool(dask_address: str) -> None:
    # (The workers log the error: "Worker plugin ... failed to setup".)
    backend = Dask(None, address=dask_address, initializer=dask_tasks.broken_initializer)
    try:
        with pytest.raises(interpool.BrokenPool, match="initializer says no") as info:
            backend.call(operator.add, (1, 2), {}, None)
        assert type(info.value.__cause__) is RuntimeError
    finally:
        backend.shutdown(True, False, False)


def test_lost_worker_mid_map_loses_nothing(dask_address: str, client: distributed.Client) -> None:
    pids = client.run(os.getpid)
    with interpool.Pool(backend="dask", address=dask_address) as pool:
        # A lazy map (the Dask default), one call per task, so that many are queued
        # in the cluster when a worker dies.
        results = pool.map(dask_tasks.square_slowly, range(40), [0.05] * 40, chunksize=1)
        first = [next(results) for _ in range(4)]  # a few have run on each side
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)  # kill one worker process outright
        assert first + list(results) == [i * i for i in range(40)]
    # The nanny starts a new worker: leave the shared cluster as it was.
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()


# -- sub-interpreters inside Dask workers ------------------------------------------------


@pytest.fixture(scope="module")
def subinterpreter_client() -> Iterator[distributed.Client]:
    """One worker process of two threads, its tasks run by ``SubinterpreterPlugin``."""
    with (
        loopback_cluster(1, 2) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        c.register_plugin(SubinterpreterPlugin())
        yield c


def executor_names(client: distributed.Client) -> dict[str, str]:
    def names(dask_worker: Any) -> dict[str, str]:
        return {k: type(v).__name__ for k, v in dask_worker.executors.items()}

    (found,) = client.run(names).values()
    return found


def test_plugin_runs_tasks_in_subinterpreters(subinterpreter_client: distributed.Client) -> None:
    c = subinterpreter_client
    assert executor_names(c)["default"] == "SubinterpreterExecutor"
    assert executor_names(c)[PREVIOUS_EXECUTOR] == "ThreadPoolExecutor"
    results = c.gather(c.map(dask_tasks.where, range(8)))
    assert [r[0] for r in results] == [i * i for i in range(8)]
    assert all(interp != 0 for _, _, interp in results)
    # A lambda (by value) and an error: its type, message and traceback.
    assert c.submit(lambda x: x + dask_tasks.interpreter_id() * 0, 1).result() == 1
    error = c.submit(dask_tasks.fail, "boom").exception()
    assert type(error) is ValueError
    assert str(error) == "boom"
    assert isinstance(error.__cause__, interpool.RemoteTraceback)


def test_plugin_runs_what_subinterpreters_cannot_on_the_threads(
    subinterpreter_client: distributed.Client,
) -> None:
    numpy = pytest.importorskip("numpy")
    c = subinterpreter_client
    # A task that imports numpy, then one whose argument needs numpy: they run on the
    # worker's threads (interpreter 0), and so do later calls of these functions.
    assert c.submit(dask_tasks.numpy_total, 5, pure=False).result() == (10, 0)
    assert c.submit(dask_tasks.numpy_total, 4, pure=False).result() == (6, 0)
    assert c.submit(dask_tasks.size_and_interpreter, [1, 2]).result()[1] != 0
    assert c.submit(dask_tasks.size_and_interpreter, numpy.arange(3)).result() == (3, 0)
    assert c.submit(dask_tasks.size_and_interpreter, [1, 2, 3]).result() == (3, 0)
    assert c.submit(dask_tasks.interpreter_id, pure=False).result() != 0


def test_plugin_runs_tasks_in_parallel(subinterpreter_client: distributed.Client) -> None:
    """The worker's two threads keep its two sub-interpreters busy at once."""
    c = subinterpreter_client
    ran_in = c.gather(c.map(dask_tasks.interpreter_after, [0.1] * 8, pure=False))
    assert len(set(ran_in)) == 2
    assert 0 not in ran_in


def test_plugin_removed_restores_the_workers_executor() -> None:
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.CRITICAL,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        c.register_plugin(SubinterpreterPlugin(1))
        assert c.submit(dask_tasks.interpreter_id, pure=False).result() != 0
        c.unregister_worker_plugin(SubinterpreterPlugin.name)
        assert executor_names(c)["default"] == "ThreadPoolExecutor"
        assert PREVIOUS_EXECUTOR not in executor_names(c)
        assert c.submit(dask_tasks.interpreter_id, pure=False).result() == 0

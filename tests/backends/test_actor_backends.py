"""Actors on the processes and threads backends: the same handle and semantics as on
interpreters (``test_actor.py``), with the instance in a process of its own, or in this
interpreter served by a thread of its own.  Dask refuses actors."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

import interpool

from ..support import PATIENCE, wait_until
from ..tasks import actors as at
from ..tasks import backends as bt

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", params=["processes", "threads"])
def bpool(request: pytest.FixtureRequest) -> Iterator[interpool.Pool]:
    with interpool.Pool(2, backend=request.param) as pool:
        yield pool


def test_calls_run_in_order_on_one_instance(bpool: interpool.Pool) -> None:
    with bpool.actor(at.Counter, 10, step=2) as counter:
        futures = [counter.increment() for _ in range(20)]
        assert [f.result(timeout=PATIENCE) for f in futures] == list(range(12, 52, 2))
        assert counter.get().result(timeout=PATIENCE) == 50
    with pytest.raises(RuntimeError, match="closed"):
        counter.get()


def test_where_the_instance_lives(bpool: interpool.Pool) -> None:
    with bpool.actor(Where) as actor:
        pid, _thread = actor.where().result(timeout=PATIENCE)
    if bpool.backend == "processes":
        assert pid != os.getpid()
    else:
        assert pid == os.getpid()


class Where:
    def where(self) -> tuple[int, int]:
        return bt.where()


def test_an_error_comes_back_and_the_actor_goes_on(bpool: interpool.Pool) -> None:
    with bpool.actor(at.Counter) as counter:
        with pytest.raises(ValueError, match=r"^nope$"):
            counter.fail("nope").result(timeout=PATIENCE)
        assert counter.increment().result(timeout=PATIENCE) == 1


def test_a_failed_init_loses_the_actor(bpool: interpool.Pool) -> None:
    actor = bpool.actor(at.FailingCounter, "broken")
    with pytest.raises(ValueError, match="broken"):
        actor.ready(timeout=PATIENCE)
    with pytest.raises(interpool.ActorLost, match="creation failed"):
        actor.get().result(timeout=PATIENCE)
    actor.close()


def test_a_call_past_its_time_limit_loses_the_actor(bpool: interpool.Pool) -> None:
    counter = bpool.actor(at.Counter)
    assert counter.increment().result(timeout=PATIENCE) == 1
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="time limit"):
        counter.spin.options(task_timeout=0.3)(3.0).result(timeout=PATIENCE)
    assert time.monotonic() - started < 2.5
    with pytest.raises(interpool.ActorLost, match="time limit"):
        counter.get()
    counter.close()


def test_cancel_without_interrupt_leaves_a_running_call_alone(
    bpool: interpool.Pool, tmp_path: Path
) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"
    with bpool.actor(at.Counter) as counter:
        running = counter.blocked(str(started), str(gate), PATIENCE)
        queued = counter.increment()
        assert wait_until(started.exists)
        assert queued.cancel()
        assert not running.cancel(interrupt=False)
        gate.touch()
        assert running.result(timeout=PATIENCE) == 1
        assert counter.get().result(timeout=PATIENCE) == 1  # the cancelled call never ran


def test_dask_refuses_actors_and_says_what_to_use(dask_address: str) -> None:
    with (
        interpool.Pool(backend="dask", address=dask_address) as pool,
        pytest.raises(NotImplementedError, match="actor=True"),
    ):
        pool.actor(at.Counter)


@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_no_actor_after_the_pools_shutdown(backend: Literal["processes", "threads"]) -> None:
    pool = interpool.Pool(1, backend=backend)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="after the pool's shutdown"):
        pool.actor(at.Counter)

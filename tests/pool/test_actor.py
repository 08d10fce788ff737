"""Actors: ``pool.actor(cls, ...)``, one instance in an interpreter of its own, whose
methods run in order (``interpool.Actor``)."""

from __future__ import annotations

import asyncio
import gc
import pickle
import tempfile
import textwrap
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import pytest

import interpool

from ..support import PATIENCE, assert_clean_stderr, interpreter_ids, run_python, wait_until
from ..tasks import actors as actor_tasks
from ..tasks import basic as tasks
from ..tasks.actors import Counter

pytestmark = pytest.mark.timeout(90)


def wait_for_file(path: Path) -> None:
    assert wait_until(path.exists), f"{path} never appeared"


# -- calls, state, ordering ------------------------------------------------------------


def test_calls_return_futures_and_state_persists(pool: interpool.Pool) -> None:
    with pool.actor(Counter, 10, step=5) as counter:
        assert isinstance(counter, interpool.Actor)
        future = counter.increment()
        assert isinstance(future, interpool.PoolFuture)
        assert future.result(timeout=PATIENCE) == 15
        assert counter.increment(100).result(timeout=PATIENCE) == 115
        assert counter.get().result(timeout=PATIENCE) == 115
        assert isinstance(counter.increment, interpool.ActorMethod)
        assert counter.increment.name == "increment"
        assert counter.echo(1, "a", k=(2, None)).result(timeout=PATIENCE) == (
            (1, "a"),
            {"k": (2, None)},
        )
        # Values that need pickling, both ways.
        assert counter.push({"a": [1, 2]}).result(timeout=PATIENCE) == 1
        assert counter.get_history().result(timeout=PATIENCE) == [{"a": [1, 2]}]


def test_created_and_ready(pool: interpool.Pool) -> None:
    counter = pool.actor(Counter)
    counter.ready(timeout=PATIENCE)
    assert counter.created.result(timeout=0) is None
    counter.close()


def test_many_calls_without_waiting_apply_in_order(pool: interpool.Pool) -> None:
    n = 2000
    with pool.actor(Counter, 7) as counter:
        mix = counter.mix
        futures = [mix(i) for i in range(n)]
        expected, value = [], 7
        for i in range(n):
            value = (value * 31 + i) % 1_000_003
            expected.append(value)
        assert [f.result(timeout=PATIENCE) for f in futures] == expected


def test_calls_from_several_threads_keep_each_threads_order(pool: interpool.Pool) -> None:
    per_thread, threads = 300, 4
    with pool.actor(Counter) as counter:
        futures: list[list[Any]] = [[] for _ in range(threads)]
        barrier = threading.Barrier(threads)

        def fire(t: int) -> None:
            barrier.wait()
            for i in range(per_thread):
                futures[t].append(counter.push((t, i)))

        workers = [threading.Thread(target=fire, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(PATIENCE)
        lengths = [f.result(timeout=PATIENCE) for fs in futures for f in fs]
        assert sorted(lengths) == list(range(1, threads * per_thread + 1))
        history = counter.get_history().result(timeout=PATIENCE)
        assert len(history) == threads * per_thread
        for t in range(threads):
            assert [i for u, i in history if u == t] == list(range(per_thread))


def test_static_and_class_methods(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        assert counter.static_add(2, 3).result(timeout=PATIENCE) == 5
        assert counter.class_name().result(timeout=PATIENCE) == "Counter"


def test_method_keywords_may_use_any_name(pool: interpool.Pool) -> None:
    # _worker.actor_host.call's own parameters are positional-only.
    with pool.actor(Counter) as counter:
        assert counter.echo(actor_id=1, name=2).result(timeout=PATIENCE) == (
            (),
            {"actor_id": 1, "name": 2},
        )


# -- one interpreter per actor: isolation and parallelism ---------------------------------


def test_each_actor_has_its_own_interpreter_and_state(pool: interpool.Pool) -> None:
    with pool.actor(Counter, 0) as a, pool.actor(Counter, 100) as b:
        a.increment(1)
        b.increment(1)
        assert a.get().result(timeout=PATIENCE) == 1
        assert b.get().result(timeout=PATIENCE) == 101
        ids = {
            a.interp_id().result(timeout=PATIENCE),
            b.interp_id().result(timeout=PATIENCE),
            *(pool.submit(tasks.interp_id).result(timeout=PATIENCE) for _ in range(4)),
        }
        assert len(ids) >= 3  # the pool's workers are neither actor's


def test_two_actors_run_at_the_same_time(pool: interpool.Pool) -> None:
    # Each call waits until both have started: only works if they overlap.
    with (
        pool.actor(Counter) as a,
        pool.actor(Counter) as b,
        tempfile.TemporaryDirectory() as directory,
    ):
        fa = a.rendezvous(directory, "a", 2, PATIENCE)
        fb = b.rendezvous(directory, "b", 2, PATIENCE)
        assert fa.result(timeout=PATIENCE) != fb.result(timeout=PATIENCE)


def test_a_blocked_actor_blocks_neither_another_nor_the_pool(
    pool: interpool.Pool, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    with pool.actor(Counter) as a, pool.actor(Counter) as b:
        blocked = a.blocked(str(tmp_path / "started"), str(gate), PATIENCE)
        wait_for_file(tmp_path / "started")
        assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3
        assert b.increment().result(timeout=PATIENCE) == 1
        assert not blocked.done()
        b.touch(str(gate)).result(timeout=PATIENCE)  # b releases a
        assert blocked.result(timeout=PATIENCE) == 1


# -- errors -------------------------------------------------------------------------------


def test_method_errors_come_back_like_task_errors(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        counter.increment()
        with pytest.raises(ValueError, match=r"^broken$") as info:
            counter.fail("broken").result(timeout=PATIENCE)
        assert isinstance(info.value.__cause__, interpool.RemoteTraceback)
        assert "in fail" in str(info.value.__cause__)
        with pytest.raises(tasks.CustomError) as custom:
            counter.fail_custom("custom", 7).result(timeout=PATIENCE)
        assert custom.value.code == 7
        # The actor goes on, state intact.
        assert counter.increment().result(timeout=PATIENCE) == 2


def test_creation_error_surfaces_on_ready_and_created(pool: interpool.Pool) -> None:
    actor = pool.actor(actor_tasks.FailingInit, "no good")  # returns at once
    with pytest.raises(ValueError, match="no good") as info:
        actor.ready(timeout=PATIENCE)
    assert isinstance(info.value.__cause__, interpool.RemoteTraceback)
    assert isinstance(actor.created.exception(timeout=0), ValueError)
    with pytest.raises(interpool.ActorLost, match=r"creation failed: FailingInit\(\.\.\.\) raised"):
        actor.method("__init__")("again")
    actor.close()


def test_creation_failure_loses_the_actor(pool: interpool.Pool) -> None:
    with pool.actor(actor_tasks.FailingCounter, "bad start") as actor:
        queued = actor.increment(1)  # made before the creation failed
        with pytest.raises(interpool.ActorLost, match=r"creation failed.*bad start") as info:
            queued.result(timeout=PATIENCE)
        assert isinstance(info.value, RuntimeError)
        with pytest.raises(ValueError, match="bad start"):
            actor.ready(timeout=PATIENCE)
        # Once the failure is known, calls raise at once, with the error as the cause.
        with pytest.raises(interpool.ActorLost, match="bad start") as at_once:
            actor.increment(1)
        assert isinstance(at_once.value.__cause__, ValueError)
        with pytest.raises(interpool.ActorLost):
            asyncio.run(actor.increment.run(1))


def test_unsendable_argument_is_rejected_at_the_call(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        with pytest.raises(TypeError, match=r"argument 0 \(_thread.lock\)"):
            counter.push(threading.Lock())
        with pytest.raises(TypeError, match="argument 'item'"):
            counter.push(item=threading.Lock())
        assert counter.increment().result(timeout=PATIENCE) == 1


def test_unsendable_class_or_argument_is_rejected_at_creation(pool: interpool.Pool) -> None:
    lock = threading.Lock()

    class HoldsLock:
        held = lock

    before = len(pool._actors)
    with pytest.raises(TypeError, match="actor's class"):
        pool.actor(HoldsLock)
    with pytest.raises(TypeError, match=r"argument 0 \(_thread.lock\)"):
        pool.actor(Counter, lock)
    with pytest.raises(TypeError, match="needs a class"):
        pool.actor(42)  # type: ignore[arg-type]
    assert len(pool._actors) == before


# -- what is a method ----------------------------------------------------------------------


def test_only_methods_of_the_class_can_be_called(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        with pytest.raises(AttributeError, match="property"):
            _ = counter.doubled
        with pytest.raises(AttributeError, match="LIMIT is not a method"):
            _ = counter.LIMIT
        with pytest.raises(AttributeError, match="no method 'value'"):
            _ = counter.value  # an instance attribute
        with pytest.raises(AttributeError, match="no method 'nope'"):
            counter.method("nope")
        with pytest.raises(AttributeError):
            _ = counter.__array__
        assert not hasattr(counter, "_repr_html_")
        assert "increment" in dir(counter)
        assert "doubled" not in dir(counter)


def test_getattr_classes_and_factories_let_the_worker_decide(pool: interpool.Pool) -> None:
    with pool.actor(actor_tasks.Dynamic) as dynamic:
        assert dynamic.say_hello().result(timeout=PATIENCE) == "hello"
        with pytest.raises(AttributeError):
            dynamic.other().result(timeout=PATIENCE)
    with pool.actor(actor_tasks.make_counter, 41) as made:
        assert made.increment().result(timeout=PATIENCE) == 42
        with pytest.raises(AttributeError, match="nope"):
            made.nope().result(timeout=PATIENCE)


def test_methods_named_like_the_handles_own(pool: interpool.Pool) -> None:
    resource = pool.actor(actor_tasks.Resource)
    assert resource.method("close")().result(timeout=PATIENCE) == 1
    assert resource.method("ready")().result(timeout=PATIENCE) == "resource ready"
    resource.ready(timeout=PATIENCE)  # the handle's own
    resource.close()
    assert resource.closed


# -- classes that cannot be imported by name ----------------------------------------------


def test_local_class_goes_by_value(pool: interpool.Pool) -> None:
    base = 1000

    class Accumulator:
        def __init__(self, start: int) -> None:
            self.total = start + base

        def add(self, x: int) -> int:
            self.total += x
            return self.total

        def total_as_tuple(self) -> tuple[int]:
            return (self.total,)

    with pool.actor(Accumulator, 5) as acc:
        assert acc.add(1).result(timeout=PATIENCE) == 1006
        assert acc.add(2).result(timeout=PATIENCE) == 1008
        assert acc.total_as_tuple().result(timeout=PATIENCE) == (1008,)
        with pytest.raises(AttributeError, match="no method 'sub'"):
            acc.sub(1)


ACTOR_PROGRAM = textwrap.dedent(
    """\
    import interpool

    class Tally:
        def __init__(self):
            self.items = []

        def add(self, x):
            self.items.append(x)
            return len(self.items)

        def items_(self):
            return self.items

    if __name__ == "__main__":
        with interpool.Pool(1) as pool:
            with pool.actor(Tally) as tally:
                for i in range(5):
                    tally.add(i)
                print("ITEMS", tally.items_().result(timeout=30))
    """
)


@pytest.mark.parametrize("how", ["script", "stdin"])
def test_class_of_main(tmp_path: Path, how: str) -> None:
    # A script's class goes by name (the worker loads the script); a class of a
    # script-less __main__ (stdin, like the REPL) by value.
    if how == "script":
        script = tmp_path / "tally.py"
        script.write_text(ACTOR_PROGRAM)
        proc = run_python(script, cwd=tmp_path)
    else:
        proc = run_python("-", input=ACTOR_PROGRAM.replace('if __name__ == "__main__":', "if 1:"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["ITEMS [0, 1, 2, 3, 4]"]
    assert_clean_stderr(proc.stderr)


# -- async --------------------------------------------------------------------------------


def test_await_run_under_asyncio(pool: interpool.Pool) -> None:
    async def main() -> tuple[int, list[int]]:
        async with pool.actor(Counter) as counter:
            first = await counter.increment.run(5)
            with pytest.raises(ValueError, match="async failure"):
                await counter.fail.run("async failure")
            many = await asyncio.gather(*(counter.increment.run(1) for _ in range(50)))
            return first, many

    first, many = asyncio.run(main())
    assert first == 5
    assert many == list(range(6, 56))


def test_await_run_under_trio(pool: interpool.Pool) -> None:
    trio = pytest.importorskip("trio")

    async def main() -> tuple[int, int, bool]:
        async with pool.actor(Counter, 1) as counter:
            value = await counter.increment.run(2)
            with pytest.raises(ValueError, match="trio failure"):
                await counter.fail.run("trio failure")
            results: list[int] = []

            async def one() -> None:
                results.append(await counter.increment.run(1))

            async with trio.open_nursery() as nursery:
                for _ in range(20):
                    nursery.start_soon(one)
            last = await counter.get.run()
        return value, last, sorted(results) == list(range(4, 24))

    assert trio.run(main) == (3, 23, True)


def test_cancelling_an_await_does_not_interrupt_the_running_call(
    pool: interpool.Pool, tmp_path: Path
) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"

    async def main() -> int:
        counter = pool.actor(Counter)
        call = asyncio.ensure_future(counter.blocked.run(str(started), str(gate), PATIENCE))
        queued = asyncio.ensure_future(counter.increment.run(100))
        while not started.exists():
            await asyncio.sleep(0.005)
        queued.cancel()
        call.cancel()
        for task in (call, queued):
            with pytest.raises(asyncio.CancelledError):
                await task
        gate.touch()
        value = await counter.get.run()  # the running call finished; the queued one never ran
        counter.close()
        return int(value)

    assert asyncio.run(main()) == 1


# -- cancellation ------------------------------------------------------------------------


def test_cancelling_a_queued_call_drops_it(pool: interpool.Pool, tmp_path: Path) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"
    with pool.actor(Counter) as counter:
        blocked = counter.blocked(str(started), str(gate), PATIENCE)
        dropped = counter.increment(1)
        kept = counter.increment(10)
        wait_for_file(started)
        assert dropped.cancel()
        assert dropped.cancelled()
        assert not blocked.cancel(interrupt=False)  # running: left alone
        gate.touch()
        assert blocked.result(timeout=PATIENCE) == 1
        assert kept.result(timeout=PATIENCE) == 11
        assert not blocked.cancelled()


def test_cancel_with_interrupt_loses_the_actor(pool: interpool.Pool, tmp_path: Path) -> None:
    started = tmp_path / "started"
    with pool.actor(Counter) as counter:
        counter.increment(5).result(timeout=PATIENCE)
        running = counter.blocked(str(started), str(tmp_path / "never"), PATIENCE)
        queued = counter.increment(1)
        wait_for_file(started)
        assert running.cancel(interrupt=True)
        with pytest.raises(CancelledError):
            running.result(timeout=0)
        with pytest.raises(interpool.ActorLost, match="is lost"):
            queued.result(timeout=PATIENCE)
        with pytest.raises(interpool.ActorLost, match="'blocked' was cancelled while running"):
            counter.get()


def test_time_limit_loses_the_actor(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        assert counter.increment(3).result(timeout=PATIENCE) == 3
        too_long = counter.spin.options(task_timeout=0.2)(60)
        after = counter.get()
        with pytest.raises(TimeoutError, match="time limit") as info:
            too_long.result(timeout=PATIENCE)
        assert any("is lost" in note for note in info.value.__notes__)
        with pytest.raises(interpool.ActorLost, match="is lost"):
            after.result(timeout=PATIENCE)
        with pytest.raises(interpool.ActorLost, match="'spin' ran past its time limit") as lost:
            counter.get()
        assert lost.value.__cause__ is info.value
        assert "lost" in repr(counter)


def test_pool_time_limit_applies_to_actor_calls_and_options_override_it() -> None:
    with interpool.Pool(1, task_timeout=1.0) as pool:
        counter = pool.actor(Counter)
        counter.ready(timeout=PATIENCE)
        assert counter.spin.options(task_timeout=None)(1.2).result(timeout=PATIENCE) == 1.2
        with pytest.raises(TimeoutError, match="time limit of 1 s"):
            counter.spin(60).result(timeout=PATIENCE)
        with pytest.raises(interpool.ActorLost):
            counter.get().result(timeout=PATIENCE)
        with pytest.raises(ValueError, match="task_timeout"):
            counter.spin.options(task_timeout=-1)


def test_a_methods_own_timeout_error_does_not_lose_the_actor() -> None:
    with interpool.Pool(1) as pool, pool.actor(Counter) as counter:
        with pytest.raises(TimeoutError, match="never appeared"):
            counter.wait_for("/nonexistent/interpool-test", 0.05).result(timeout=PATIENCE)
        assert counter.increment().result(timeout=PATIENCE) == 1


def test_coroutine_methods_survive_their_time_limit_and_cancellation() -> None:
    # Their time limit and cancel(interrupt=True) cancel the coroutine on the
    # worker's event loop: nothing is interrupted, the instance stays.
    pytest.importorskip("interpool._worker.coroutines")
    with interpool.Pool(1) as pool, pool.actor(actor_tasks.AsyncCounter) as counter:
        results = [counter.add(1, 0).result(timeout=PATIENCE) for _ in range(3)]
        assert results == [1, 2, 3]
        with pytest.raises(TimeoutError, match="coroutine"):
            counter.add.options(task_timeout=0.05)(100, 60).result(timeout=PATIENCE)
        long = counter.add(1000, 60)
        assert long.cancel(interrupt=True)
        assert counter.get().result(timeout=PATIENCE) == 3
        assert "open" in repr(counter)


# -- closing -------------------------------------------------------------------------------


def test_close_runs_queued_calls_then_releases_the_interpreter(pool: interpool.Pool) -> None:
    counter = pool.actor(Counter)
    interp = counter.interp_id().result(timeout=PATIENCE)
    assert interp in interpreter_ids()
    futures = [counter.increment(1) for _ in range(50)]
    counter.close()
    assert [f.result(timeout=0) for f in futures] == list(range(1, 51))
    assert interp not in interpreter_ids()
    assert counter.closed
    with pytest.raises(RuntimeError, match="closed"):
        counter.increment(1)
    with pytest.raises(RuntimeError, match="closed"):
        counter.method("increment")()
    counter.close()  # idempotent
    counter.close(wait=False, cancel_pending=True)
    assert "closed" in repr(counter)


def test_close_cancel_pending(pool: interpool.Pool, tmp_path: Path) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"
    counter = pool.actor(Counter)
    running = counter.blocked(str(started), str(gate), PATIENCE)
    queued = [counter.increment(1) for _ in range(5)]
    wait_for_file(started)
    counter.close(wait=False, cancel_pending=True)
    assert all(f.cancelled() for f in queued)
    gate.touch()
    assert running.result(timeout=PATIENCE) == 1  # the running call finished


def test_close_cancel_running(pool: interpool.Pool, tmp_path: Path) -> None:
    started = tmp_path / "started"
    counter = pool.actor(Counter)
    running = counter.blocked(str(started), str(tmp_path / "never"), PATIENCE)
    wait_for_file(started)
    begin = time.monotonic()
    counter.close(cancel_pending=True, cancel_running=True)
    assert time.monotonic() - begin < PATIENCE / 2
    assert running.cancelled()


def test_context_manager_closes(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        interp = counter.interp_id().result(timeout=PATIENCE)
    assert counter.closed
    assert interp not in interpreter_ids()


def test_pool_shutdown_closes_its_actors() -> None:
    pool = interpool.Pool(1)
    a, b = pool.actor(Counter), pool.actor(Counter)
    ids = {a.interp_id().result(timeout=PATIENCE), b.interp_id().result(timeout=PATIENCE)}
    queued = a.increment(1)
    pool.shutdown()
    assert queued.result(timeout=0) == 1
    assert a.closed and b.closed
    assert not ids & interpreter_ids()
    with pytest.raises(RuntimeError, match="closed"):
        a.increment(1)
    with pytest.raises(RuntimeError, match="shutdown"):
        pool.actor(Counter)


def test_pool_exit_closes_actors_in_async_with() -> None:
    async def main() -> tuple[interpool.Actor[Counter], int]:
        async with interpool.Pool(1) as pool:
            counter = pool.actor(Counter)
            interp = await counter.interp_id.run()
        return counter, interp

    counter, interp = asyncio.run(main())
    assert counter.closed
    assert wait_until(lambda: interp not in interpreter_ids())


def test_garbage_collected_handle_closes_the_actor(pool: interpool.Pool) -> None:
    counter = pool.actor(Counter)
    interp = counter.interp_id().result(timeout=PATIENCE)
    future = counter.increment(2)  # a future does not keep the handle alive
    del counter
    gc.collect()
    assert future.result(timeout=PATIENCE) == 2
    assert wait_until(lambda: interp not in interpreter_ids())
    # A call made on a handle that is dropped at once still runs.
    assert pool.actor(Counter, 1).increment(1).result(timeout=PATIENCE) == 2


EXIT_PROGRAM = textwrap.dedent(
    """\
    import interpool

    class Log:
        def __init__(self, path):
            self.path = path

        def write(self, line):
            with open(self.path, "a") as f:
                f.write(line + "\\n")

    if __name__ == "__main__":
        pool = interpool.Pool(1)
        log = pool.actor(Log, "out.txt")
        for i in range(20):
            log.write(str(i))
        # No close(), no shutdown(): the program just ends.
    """
)


def test_program_exit_runs_queued_calls_and_ends_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "log.py"
    script.write_text(EXIT_PROGRAM)
    proc = run_python(script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_clean_stderr(proc.stderr)
    assert (tmp_path / "out.txt").read_text().split() == [str(i) for i in range(20)]


# -- odds and ends ---------------------------------------------------------------------------


def test_pool_initializer_runs_in_the_actors_interpreter() -> None:
    with interpool.Pool(1, initializer=tasks.init_set, initargs=("hello", [1, 2])) as pool:
        with pool.actor(Counter) as counter:
            assert counter.init_value().result(timeout=PATIENCE) == ("hello", [1, 2])
        offset = 5
        with (
            interpool.Pool(1, initializer=lambda: tasks.init_set(offset)) as other,
            other.actor(Counter) as counter,
        ):
            assert counter.init_value().result(timeout=PATIENCE) == (5, None)


def test_failing_initializer_breaks_only_the_actor(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    with interpool.Pool(1, initializer=actor_tasks.init_unless, initargs=(str(flag),)) as pool:
        assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2
        flag.touch()  # from now on, new interpreters fail to initialize
        actor = pool.actor(Counter)
        queued = actor.increment()
        with pytest.raises(interpool.BrokenPool) as info:
            actor.ready(timeout=PATIENCE)
        assert isinstance(info.value.__cause__, ValueError)
        with pytest.raises(interpool.BrokenPool):
            queued.result(timeout=PATIENCE)
        with pytest.raises(interpool.ActorLost, match="could not run its creation"):
            actor.increment()
        assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3


def test_handle_cannot_be_pickled(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(counter)
        with pytest.raises(TypeError, match="argument 0"):
            pool.submit(tasks.identity, counter)


def test_repr(pool: interpool.Pool) -> None:
    with pool.actor(Counter) as counter:
        assert "Counter" in repr(counter) and "open" in repr(counter)
        assert "increment" in repr(counter.increment)

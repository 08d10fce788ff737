"""Channels between interpreters: ``send, recv = interpool.channel(maxsize)``."""

from __future__ import annotations

import array
import asyncio
import collections
import gc
import pickle
import queue
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import interpool
from interpool import ChannelClosed, Receiver, Sender, channel
from interpool._api import channel as channel_module

from ..support import (
    HAVE_PROC_FD,
    PATIENCE,
    interpreter_ids,
    join_all,
    open_fds,
    run_python,
    wait_until,
    write,
)
from ..tasks import channels as ct

pytestmark = pytest.mark.timeout(90)

BIG = 200_000  # above the pool's out-of-band threshold (64 KiB)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, memoryview) or isinstance(b, memoryview):
        return type(a) is type(b) and bytes(a) == bytes(b)
    return type(a) is type(b) and a == b


# -- in one interpreter ------------------------------------------------------------------


def test_put_get_fifo_and_len() -> None:
    send, recv = channel(8)
    assert (send.maxsize, recv.maxsize, len(recv), send.qsize()) == (8, 8, 0, 0)
    for i in range(5):
        send.put(i)
    assert len(recv) == 5
    assert [recv.get() for _ in range(5)] == list(range(5))
    assert "Sender of channel" in repr(send)
    assert "Receiver of channel" in repr(recv)


def test_unbounded_and_default_maxsize() -> None:
    assert channel()[0].maxsize == channel_module.DEFAULT_MAXSIZE == 64
    for size in (0, None):
        send, recv = channel(size)
        assert send.maxsize == 0
        for i in range(1000):
            send.put_nowait(i)
        assert len(recv) == 1000


def test_nowait_variants() -> None:
    send, recv = channel(1)
    with pytest.raises(interpool.QueueEmpty) as empty:
        recv.get_nowait()
    assert isinstance(empty.value, queue.Empty)  # what code written for queue expects
    assert isinstance(empty.value, interpool.InterpoolError)
    send.put_nowait("a")
    with pytest.raises(interpool.QueueFull) as full:
        send.put_nowait("b")
    assert isinstance(full.value, queue.Full)
    assert isinstance(full.value, interpool.InterpoolError)
    assert recv.get_nowait() == "a"
    send.close()
    with pytest.raises(interpool.EndOfChannel):
        recv.get_nowait()
    with pytest.raises(ChannelClosed) as closed:
        send.put_nowait("c")
    assert type(closed.value) is ChannelClosed  # closed, not the end of a stream


def test_close_drains_then_raises() -> None:
    send, recv = channel()
    send.put(1)
    send.put(2)
    send.close()
    send.close()  # idempotent
    assert send.closed and recv.closed
    with pytest.raises(ChannelClosed, match="closed channel"):
        send.put(3)
    assert list(recv) == [1, 2]
    # Receiving: the end of the stream, a ChannelClosed too.
    with pytest.raises(interpool.EndOfChannel, match="end of the channel"):
        recv.get()
    with pytest.raises(ChannelClosed):
        recv.get(timeout=0)
    assert issubclass(ChannelClosed, EOFError)
    assert issubclass(interpool.EndOfChannel, ChannelClosed)


def test_with_block_closes() -> None:
    send, recv = channel()
    with send:
        send.put("x")
    assert recv.closed
    assert list(recv) == ["x"]


def test_receiver_close_fails_puts() -> None:
    send, recv = channel(1)
    send.put(0)
    errors: list[BaseException] = []

    def blocked_put() -> None:
        try:
            send.put(1)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=blocked_put)
    t.start()
    assert wait_until(lambda: channel_module._count(send._senders) == 1)
    recv.close()
    join_all([t])
    assert len(errors) == 1 and isinstance(errors[0], ChannelClosed)
    with pytest.raises(ChannelClosed):
        send.put(2)
    assert recv.get() == 0  # what was already in the channel is still received


def test_timeouts() -> None:
    send, recv = channel(1)
    with pytest.raises(TimeoutError, match=r"get\(\) timed out"):
        recv.get(timeout=0.05)
    with pytest.raises(TimeoutError):
        recv.get(timeout=0)
    send.put("a")
    with pytest.raises(TimeoutError, match=r"put\(\) timed out"):
        send.put("b", timeout=0.05)
    assert len(recv) == 1  # the value that timed out was not sent
    assert recv.get(timeout=1) == "a"
    send.put("c", timeout=1)
    assert recv.get() == "c"


def test_threads_many_producers_and_consumers() -> None:
    send, recv = channel(4)
    n, producers, consumers = 3000, 4, 4
    received: list[list[int]] = [[] for _ in range(consumers)]

    def produce(k: int) -> None:
        for i in range(k, n, producers):
            send.put(i)

    def consume(out: list[int]) -> None:
        out.extend(recv)

    threads = [threading.Thread(target=consume, args=(r,)) for r in received]
    threads += [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    for t in threads:
        t.start()
    join_all(threads[consumers:])
    send.close()
    join_all(threads[:consumers])
    everything = [i for r in received for i in r]
    assert sorted(everything) == list(range(n))
    for r in received:  # FIFO per producer
        for k in range(producers):
            mine = [i for i in r if i % producers == k]
            assert mine == sorted(mine)


def test_values_of_every_kind_in_process() -> None:
    send, recv = channel(0)
    for value in ct.kinds(BIG):
        send.put(value)
    for expected in ct.kinds(BIG):
        assert same(recv.get(), expected)


def test_pickling_and_copying_ends() -> None:
    import copy

    send, recv = channel()
    for protocol in (2, 4, 5):
        clone = pickle.loads(pickle.dumps(send, protocol=protocol))
        assert type(clone) is Sender
        clone.put(protocol)
    copy.deepcopy(send).put("deep")
    assert [recv.get() for _ in range(4)] == [2, 4, 5, "deep"]
    # An end sent through a channel (here: the receiving end through itself).
    send.put(recv)
    other = recv.get()
    assert type(other) is Receiver
    send.put("via the received end")
    assert other.get() == "via the received end"


def test_ends_are_generic_at_run_time() -> None:
    assert Sender[int] is not None and Receiver[str] is not None


def test_an_empty_channel_end_is_still_true() -> None:
    send, recv = channel()
    assert len(recv) == 0 and bool(recv) and bool(send)


def test_high_numbered_descriptors() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2500:
        pytest.skip("needs a descriptor limit above 2500")
    many = [channel(1) for _ in range(700)]  # 1400 descriptors: past select()'s 1024
    send, recv = many[-1]
    assert send._core.fds[0] > 1024
    with pytest.raises(TimeoutError):
        recv.get(timeout=0.01)
    send.put(1)
    with pytest.raises(TimeoutError):
        send.put(2, timeout=0.01)
    assert recv.get(timeout=1) == 1


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maxsize", "error", "match"),
    [
        (-1, ValueError, "maxsize must be >= 1, or 0"),
        (1.5, TypeError, "takes an int .* not float"),
        ("3", TypeError, "not str"),
        (True, TypeError, "not bool"),
        (2**70, ValueError, "too large"),
    ],
)
def test_bad_maxsize(maxsize: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        channel(maxsize)


def test_bad_timeouts() -> None:
    send, recv = channel(1)
    send.put(0)
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        send.put(1, timeout=-1)
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        send.put(1, timeout=float("nan"))
    with pytest.raises(TypeError, match="use put_nowait"):
        send.put(1, True)  # queue.Queue's block flag
    recv.get()
    with pytest.raises(TypeError, match="number of seconds or None, not str"):
        recv.get(timeout="1")  # type: ignore[arg-type]
    send.put(1)
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        recv.get(timeout=-1)  # checked even when an item is there


def test_unsendable_value() -> None:
    send, recv = channel()
    with pytest.raises(TypeError, match=r"_thread\.lock cannot be sent through a channel"):
        send.put(threading.Lock())
    assert len(recv) == 0


def test_ends_are_made_by_channel() -> None:
    with pytest.raises(TypeError, match=r"made by interpool.channel"):
        Sender(5)  # type: ignore[arg-type]


def test_end_in_another_process_is_refused() -> None:
    send, _ = channel()
    state = send._core.state
    foreign = (state[0] + 1, *state[1:])
    with pytest.raises(RuntimeError, match="another process"):
        channel_module._rebuild(Sender, foreign, None)


def test_aget_outside_an_event_loop() -> None:
    _, recv = channel()
    coro = recv.aget()
    with pytest.raises(RuntimeError, match="asyncio or trio"):
        coro.send(None)
    assert channel_module._count(recv._readers) == 0  # the sleeper token was taken back


# -- with workers ------------------------------------------------------------------------


def test_worker_to_caller(pool: interpool.Pool) -> None:
    send, recv = channel(4)
    future = pool.submit(ct.produce, send, list(range(500)))
    assert list(recv) == list(range(500))  # the worker's close ends the iteration
    assert future.result(timeout=PATIENCE) == 500


def test_caller_to_worker(pool: interpool.Pool) -> None:
    send, recv = channel(4)
    future = pool.submit(ct.consume, recv)
    for i in range(500):
        send.put(i)
    send.close()  # ends the worker's iteration
    assert future.result(timeout=PATIENCE) == list(range(500))


def test_worker_to_worker(pool: interpool.Pool) -> None:
    send, recv = channel(2)
    consumer = pool.submit(ct.consume, recv)
    producer = pool.submit(ct.produce, send, [("item", i) for i in range(1000)])
    assert consumer.result(timeout=PATIENCE) == [("item", i) for i in range(1000)]
    assert producer.result(timeout=PATIENCE) == 1000


def test_round_trip_through_a_worker(pool: interpool.Pool) -> None:
    to_worker, inbox = channel(2)
    outbox, from_worker = channel(2)
    future = pool.submit(ct.echo, inbox, outbox)
    for i in range(200):
        to_worker.put(i)
        assert from_worker.get(timeout=PATIENCE) == i
    to_worker.close()
    assert list(from_worker) == []  # the worker closed its side on the way out
    assert future.result(timeout=PATIENCE) == 200


def test_values_of_every_kind_both_ways(pool: interpool.Pool) -> None:
    send, recv = channel()
    future = pool.submit(ct.values_and_types, recv)
    with send:
        for value in ct.kinds(BIG):
            send.put(value)
    got = future.result(timeout=PATIENCE)
    expected = ct.kinds(BIG)
    assert [name for name, _ in got] == [type(v).__qualname__ for v in expected]
    for (_, value), want in zip(got, expected, strict=True):
        assert same(value, want)

    send, recv = channel()
    sender = pool.submit(ct.send_kinds, send, BIG)
    received = list(recv)
    sender.result(timeout=PATIENCE)
    for value, want in zip(received, ct.kinds(BIG), strict=True):
        assert same(value, want)
    # Buffers from a worker are copies the caller owns.
    assert isinstance(received[14], bytearray)
    received[14][0] = 0
    assert isinstance(received[15], array.array)


def test_lambda_from_a_worker(pool: interpool.Pool) -> None:
    send, recv = channel()
    pool.submit(ct.lambda_value, send).result(timeout=PATIENCE)
    assert recv.get()(5) == 15


def test_ends_through_channels(pool: interpool.Pool) -> None:
    # A worker makes a channel and sends its receiving end to the caller.
    send, recv = channel()
    future = pool.submit(ct.send_end_back, send)
    inner = recv.get(timeout=PATIENCE)
    assert isinstance(inner, Receiver)
    assert list(inner) == [f"from worker {i}" for i in range(3)]
    assert future.result(timeout=PATIENCE) == "sent"
    # The caller sends a sending end to a worker, through a channel.
    send, recv = channel()
    results, into = channel()
    user = pool.submit(ct.receive_end_and_use, recv)
    send.put(results)
    del results
    assert list(into) == [0, 10, 20]
    assert user.result(timeout=PATIENCE) == ["done"]


def test_ends_made_in_a_worker_returned_as_a_result(pool: interpool.Pool) -> None:
    send, recv = pool.submit(ct.make_channel_and_return, ["a", ("b", 1)]).result(timeout=PATIENCE)
    gc.collect()  # the worker's own ends are gone: ours keep the channel
    send.put(["c"])
    send.close()
    assert list(recv) == ["a", ("b", 1), ["c"]]


def test_script_classes_cross_both_ways(tmp_path: Path) -> None:
    script = write(
        tmp_path / "script.py",
        """
        from interpool import Pool, channel
        from tests.tasks import channels as channel_tasks

        class Local:
            def __init__(self, n):
                self.n = n

        def double(recv, send):
            with send:
                for item in recv:
                    send.put(Local(item.n * 2))

        if __name__ == "__main__":
            a_send, a_recv = channel()
            b_send, b_recv = channel()
            with Pool(1) as pool:
                future = pool.submit(double, a_recv, b_send)
                with a_send:
                    for i in range(3):
                        a_send.put(Local(i))
                out = list(b_recv)
                future.result()
            print([(type(x).__name__, type(x) is Local, x.n) for x in out])
            # A worker that has run no task of the script loads it to rebuild a Local.
            c_send, c_recv = channel()
            with Pool(1) as pool:
                future = pool.submit(channel_tasks.type_names, c_recv)
                with c_send:
                    c_send.put(Local(7))
                print(future.result())
        """,
    )
    done = run_python(script, env={"PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        str([("Local", True, n) for n in (0, 2, 4)]),
        str(["__interpool_main__.Local"]),
    ]


def test_worker_close_stops_caller_iteration_and_vice_versa(pool: interpool.Pool) -> None:
    send, recv = channel()
    assert pool.submit(ct.produce, send, [], True).result(timeout=PATIENCE) == 0
    assert list(recv) == []
    send, recv = channel()
    future = pool.submit(ct.consume, recv)
    send.close()
    assert future.result(timeout=PATIENCE) == []


def test_receiver_close_stops_a_blocked_worker_producer(pool: interpool.Pool) -> None:
    send, recv = channel(1)
    progress_send, progress = channel(0)
    future = pool.submit(ct.put_counting, send, 10, progress_send)
    assert progress.get(timeout=PATIENCE) == 1  # the second put blocks
    recv.close()
    with pytest.raises(ChannelClosed):
        future.result(timeout=PATIENCE)


def test_backpressure(pool: interpool.Pool) -> None:
    send, recv = channel(2)
    progress_send, progress = channel(0)
    future = pool.submit(ct.put_counting, send, 6, progress_send)
    assert [progress.get(timeout=PATIENCE) for _ in range(2)] == [1, 2]
    # The channel is full: the producer blocks in its third put until we take one.
    # (A slow machine only makes this wait pass more surely.)
    with pytest.raises(TimeoutError):
        progress.get(timeout=0.3)
    assert len(recv) == 2
    assert recv.get() == 0
    assert progress.get(timeout=PATIENCE) == 3
    assert [recv.get(timeout=PATIENCE) for _ in range(5)] == [1, 2, 3, 4, 5]
    assert future.result(timeout=PATIENCE) == 6
    assert sorted(progress.get_nowait() for _ in range(3)) == [4, 5, 6]


def test_get_timeout_in_a_worker(pool: interpool.Pool) -> None:
    _, recv = channel()
    result = pool.submit(ct.get_with_timeout, recv, 0.05).result(timeout=PATIENCE)
    assert result.startswith("TimeoutError: interpool: get() timed out")


def test_many_producers_and_consumers_across_interpreters(pool: interpool.Pool) -> None:
    send, recv = channel(8)
    sink_send, sink = channel(0)
    n = 4000
    # Two workers: one produces, one consumes; the caller's threads do both too.
    worker_consumer = pool.submit(ct.consume_until_closed, recv, sink_send)
    worker_producer = pool.submit(ct.produce_range, send, 0, n // 2)
    received: list[int] = []

    def produce_rest() -> None:
        for i in range(n // 2, n):
            send.put(i)

    def consume_here() -> None:
        for value in recv:
            received.append(value)

    threads = [threading.Thread(target=produce_rest), threading.Thread(target=consume_here)]
    for t in threads:
        t.start()
    assert worker_producer.result(timeout=PATIENCE) == n // 2
    join_all(threads[:1])
    send.close()
    join_all(threads[1:])
    from_worker = worker_consumer.result(timeout=PATIENCE)
    sink_send.close()
    forwarded = list(sink)
    assert len(forwarded) == from_worker
    everything = received + forwarded
    counts = collections.Counter(everything)
    assert sorted(counts) == list(range(n)) and set(counts.values()) == {1}
    for part in (received, forwarded):  # FIFO per producer
        low = [i for i in part if i < n // 2]
        high = [i for i in part if i >= n // 2]
        assert low == sorted(low) and high == sorted(high)


def test_close_wakes_every_blocked_receiver(pool: interpool.Pool) -> None:
    send, recv = channel()
    workers = [pool.submit(ct.drain_closed, recv) for _ in range(2)]
    outcomes: list[str] = []

    def blocked() -> None:
        try:
            recv.get()
            outcomes.append("got a value")
        except ChannelClosed:
            outcomes.append("closed")

    threads = [threading.Thread(target=blocked) for _ in range(3)]
    for t in threads:
        t.start()
    # Wait until all five sleep (each has its token in the readers queue).
    assert wait_until(lambda: channel_module._count(recv._readers) == 5)
    send.close()
    join_all(threads)
    assert outcomes == ["closed"] * 3
    for future in workers:
        assert future.result(timeout=PATIENCE).startswith("ChannelClosed")


def test_close_wakes_every_blocked_sender(pool: interpool.Pool) -> None:
    send, recv = channel(1)
    send.put("full")
    progress_send, progress = channel(0)
    workers = [pool.submit(ct.put_counting, send, 1, progress_send) for _ in range(2)]
    errors: list[BaseException] = []

    def blocked() -> None:
        try:
            send.put("more")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=blocked) for _ in range(2)]
    for t in threads:
        t.start()
    assert wait_until(lambda: channel_module._count(send._senders) == 4)
    recv.close()
    join_all(threads)
    assert [type(e) for e in errors] == [ChannelClosed] * 2
    for future in workers:
        with pytest.raises(ChannelClosed):
            future.result(timeout=PATIENCE)
    assert len(progress) == 0


def test_blocked_worker_uses_no_cpu(pool: interpool.Pool) -> None:
    send, recv = channel()
    started_send, started = channel()
    future = pool.submit(ct.blocked_get_cpu, recv, started_send)
    assert started.get(timeout=PATIENCE) == "waiting"
    time.sleep(1.0)
    send.put("wake up")
    value, cpu, wall = future.result(timeout=PATIENCE)
    assert value == "wake up"
    assert wall >= 0.9
    assert cpu < 0.1 * wall, f"{cpu:.3f} s of CPU while blocked for {wall:.3f} s"


def test_blocked_caller_thread_uses_no_cpu() -> None:
    send, recv = channel()
    out: list[float] = []

    def blocked() -> None:
        start = time.thread_time()
        recv.get()
        out.append(time.thread_time() - start)

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(1.0)
    send.put(None)
    join_all([t])
    assert out[0] < 0.1, f"{out[0]:.3f} s of CPU while blocked for a second"


def test_ping_pong_between_workers(pool: interpool.Pool) -> None:
    a_send, a_recv = channel(1)
    b_send, b_recv = channel(1)
    first = pool.submit(ct.ping_pong, a_recv, b_send, 2000, True)
    second = pool.submit(ct.ping_pong, b_recv, a_send, 2000, False)
    assert first.result(timeout=PATIENCE) == 4000
    assert second.result(timeout=PATIENCE) == 3999


def test_channel_lives_while_a_pickled_end_is_in_flight(pool1: interpool.Pool) -> None:
    busy = pool1.submit(time.sleep, 0.3)
    send, recv = channel()
    for i in range(3):
        send.put(i)
    send.close()
    future = pool1.submit(ct.consume, recv)  # queued behind the sleep
    del send, recv
    gc.collect()
    busy.result(timeout=PATIENCE)
    assert future.result(timeout=PATIENCE) == [0, 1, 2]


def test_blocked_task_can_be_cancelled(pool1: interpool.Pool) -> None:
    send, recv = channel()
    started_send, started = channel()
    future = pool1.submit(ct.blocked_forever, recv, started_send)
    worker = started.get(timeout=PATIENCE)
    assert future.cancel()
    # The pool interrupts the task between two bytecodes: a get() blocked in the
    # kernel must wake up for that (in slices), or the old worker would never end.
    assert wait_until(lambda: worker not in interpreter_ids())
    assert pool1.submit(ct.interp_id).result(timeout=PATIENCE) != worker
    send.put("still usable")
    assert recv.get(timeout=PATIENCE) == "still usable"


def test_items_of_a_destroyed_worker_are_reported_lost() -> None:
    send, recv = channel()
    with interpool.Pool(1) as pool:
        pool.submit(ct.produce, send, ["a", "b"], False).result(timeout=PATIENCE)
    send.put("c")  # from the caller: it outlives everything
    for _ in range(2):
        with pytest.raises(interpool.ItemLost, match="interpreter that sent it"):
            recv.get(timeout=PATIENCE)
    assert recv.get(timeout=PATIENCE) == "c"


@pytest.mark.skipif(not HAVE_PROC_FD, reason="needs /proc/self/fd")
def test_2000_channels_do_not_leak_fds(pool: interpool.Pool) -> None:
    gc.collect()
    before = open_fds()
    for i in range(2000):
        send, recv = channel(4 if i % 2 else 0)
        send.put(i)
        assert recv.get() == i
        if i % 100 == 0:  # some cross into a worker and back
            assert pool.submit(ct.produce, send, [i]).result(timeout=PATIENCE) == 1
            assert list(recv) == [i]
    del send, recv
    gc.collect()
    channel()  # sweeps the channels whose last worker-side end went after ours
    gc.collect()
    assert open_fds() <= before + 2


# -- asyncio -----------------------------------------------------------------------------


def test_asyncio_aget_aput_and_async_for(pool: interpool.Pool) -> None:
    async def main() -> tuple[list[int], list[int]]:
        send, recv = channel(2)
        future = pool.submit(ct.produce, send, list(range(300)))
        got = [await recv.aget() for _ in range(10)]
        got += [x async for x in recv]
        assert await asyncio.wrap_future(future) == 300
        # aput with backpressure: a worker consumes.
        send, recv = channel(2)
        consumer = pool.submit(ct.consume, recv)
        for i in range(300):
            await send.aput(i)
        send.close()
        return got, await asyncio.wrap_future(consumer)

    got, consumed = asyncio.run(main())
    assert got == list(range(300))
    assert consumed == list(range(300))


def test_asyncio_waiters_do_not_block_the_loop() -> None:
    async def main() -> list[str]:
        send, recv = channel(1)
        events: list[str] = []

        async def getter(name: str) -> None:
            events.append(f"{name}:{await recv.aget()}")

        tasks = [asyncio.create_task(getter(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0.01)
        events.append("loop ran")
        for i in range(3):
            await send.aput(i)
        await asyncio.gather(*tasks)
        return events

    events = asyncio.run(main())
    assert events[0] == "loop ran"
    assert sorted(e.split(":")[1] for e in events[1:]) == ["0", "1", "2"]


def test_asyncio_cancelled_aget_leaves_the_item() -> None:
    async def main() -> None:
        send, recv = channel()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(recv.aget(), 0.05)
        send.put("kept")
        assert recv.get_nowait() == "kept"
        assert channel_module._count(recv._readers) == 0

    asyncio.run(main())


def test_asyncio_cancelled_aput_sends_nothing() -> None:
    async def main() -> None:
        send, recv = channel(1)
        await send.aput("first")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(send.aput("second"), 0.05)
        assert recv.get_nowait() == "first"
        with pytest.raises(queue.Empty):
            recv.get_nowait()

    asyncio.run(main())


def test_asyncio_cancellation_storm_loses_and_duplicates_nothing() -> None:
    n = 2000
    send, recv = channel(4)

    def produce() -> None:
        for i in range(n):
            send.put(i)
        send.close()

    async def main() -> list[int]:
        got: list[int] = []
        rng = random.Random(7)
        while True:
            try:
                got.append(await asyncio.wait_for(recv.aget(), rng.choice([1e-5, 1e-4, 1e-3])))
            except TimeoutError:
                continue
            except ChannelClosed:
                return got

    producer = threading.Thread(target=produce)
    producer.start()
    got = asyncio.run(main())
    join_all([producer])
    assert got == list(range(n))


def test_asyncio_close_wakes_aget() -> None:
    async def main() -> None:
        send, recv = channel()
        task = asyncio.create_task(recv.aget())
        await asyncio.sleep(0.01)
        threading.Thread(target=send.close).start()
        with pytest.raises(ChannelClosed):
            await task

    asyncio.run(main())


# -- trio --------------------------------------------------------------------------------


def test_trio_aget_aput_and_cancellation(pool: interpool.Pool) -> None:
    trio = pytest.importorskip("trio")

    async def main() -> None:
        send, recv = channel(2)
        consumer = pool.submit(ct.consume, recv)
        for i in range(100):
            await send.aput(i)
        send.close()
        assert consumer.result(timeout=PATIENCE) == list(range(100))

        send, recv = channel(2)
        producer = pool.submit(ct.produce, send, list(range(100)))
        got = [await recv.aget()]
        got += [x async for x in recv]
        assert got == list(range(100))
        assert producer.result(timeout=PATIENCE) == 100

        # Cancelled while waiting: the item stays for the next get.
        send, recv = channel(1)
        with trio.move_on_after(0.05) as scope:
            await recv.aget()
        assert scope.cancelled_caught
        send.put("kept")
        assert recv.get_nowait() == "kept"
        # Cancelled aput: nothing sent.
        await send.aput("first")
        with trio.move_on_after(0.05):
            await send.aput("second")
        assert recv.get_nowait() == "first"
        assert len(recv) == 0

        # Several tasks wait on one channel at once.
        results: list[int] = []

        async def getter() -> None:
            results.append(await recv.aget())

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(getter)
            await trio.sleep(0.01)
            for i in range(3):
                await send.aput(i)
        assert sorted(results) == [0, 1, 2]

    trio.run(main)

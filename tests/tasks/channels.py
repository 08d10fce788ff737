"""Module-level tasks for the channel tests (workers import this module by name)."""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from interpool import ChannelClosed, Receiver, Sender
from interpool._platform import interpreters


def produce(send: Sender[Any], values: list[Any], close: bool = True) -> int:
    """Send ``values`` in order; close the channel at the end if ``close``."""
    for value in values:
        send.put(value)
    if close:
        send.close()
    return len(values)


def produce_range(send: Sender[int], start: int, stop: int) -> int:
    """Send ``start .. stop - 1``, without closing (for several producers)."""
    for i in range(start, stop):
        send.put(i)
    return stop - start


def consume(recv: Receiver[Any]) -> list[Any]:
    """Everything received until the channel is closed and drained."""
    return list(recv)


def consume_n(recv: Receiver[Any], n: int) -> list[Any]:
    return [recv.get() for _ in range(n)]


def consume_until_closed(recv: Receiver[Any], sink: Sender[Any]) -> int:
    """Forward everything from ``recv`` to ``sink`` (without closing it); how many."""
    n = 0
    for value in recv:
        sink.put(value)
        n += 1
    return n


def echo(recv: Receiver[Any], send: Sender[Any]) -> int:
    """Send back each value received, until ``recv`` is closed; then close ``send``."""
    n = 0
    with send:
        for value in recv:
            send.put(value)
            n += 1
    return n


def type_names(recv: Receiver[Any]) -> list[str]:
    """The worker-side type of each value received, until the channel is closed."""
    return [f"{type(v).__module__}.{type(v).__qualname__}" for v in recv]


def values_and_types(recv: Receiver[Any]) -> list[tuple[str, Any]]:
    return [(type(v).__qualname__, v) for v in recv]


def send_kinds(send: Sender[Any], big: int) -> None:
    """Values of every kind, from a worker."""
    with send:
        for value in kinds(big):
            send.put(value)


def kinds(big: int) -> list[Any]:
    """One value of each kind the tests send (``big`` bytes for the large ones)."""
    import array
    import decimal
    import fractions

    return [
        None,
        True,
        -(2**70),
        1.5,
        "é" * 3,
        b"\x00\xff",
        (1, ("nested", b"x"), None),
        tuple(range(100)),
        [1, [2, {"three": 3}]],
        {"a": {1, 2}},
        decimal.Decimal("1.1"),
        fractions.Fraction(1, 3),
        Point(1, 2),
        b"b" * big,
        bytearray(b"y" * big),
        array.array("i", range(big // 4)),
        memoryview(b"m" * big),
        "s" * big,
    ]


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __repr__(self) -> str:
        return f"Point({self.x}, {self.y})"


def put_counting(send: Sender[int], n: int, progress: Sender[int]) -> int:
    """Put ``0 .. n-1`` into ``send``, reporting after each put how many went in."""
    for i in range(n):
        send.put(i)
        progress.put(i + 1)
    return n


def ping_pong(inbox: Receiver[Any], outbox: Sender[Any], rounds: int, first: bool) -> int:
    """Exchange ``rounds`` values with a peer running the same function."""
    value = 0
    for _ in range(rounds):
        if first:
            outbox.put(value)
            value = inbox.get() + 1
        else:
            value = inbox.get() + 1
            outbox.put(value)
    return value


def get_with_timeout(recv: Receiver[Any], timeout: float) -> str:
    try:
        recv.get(timeout=timeout)
    except TimeoutError as exc:
        return f"TimeoutError: {exc}"
    return "got a value"


def blocked_get_cpu(recv: Receiver[Any], started: Sender[str]) -> tuple[Any, float, float]:
    """Block in ``get`` until a value arrives; return it with the thread CPU time and
    the wall time spent blocked."""
    cpu0, wall0 = time.thread_time(), time.monotonic()
    started.put("waiting")
    value = recv.get()
    return value, time.thread_time() - cpu0, time.monotonic() - wall0


def blocked_forever(recv: Receiver[Any], started: Sender[int]) -> Any:
    """Tell ``started`` this interpreter's id, then block in ``recv.get()``."""
    started.put(interpreters.get_current().id)
    return recv.get()


def send_end_back(send_into: Sender[Any]) -> str:
    """Make a channel in the worker, send its receiving end out, then send values."""
    from interpool import channel

    s, r = channel()
    send_into.put(r)
    with s:
        for i in range(3):
            s.put(f"from worker {i}")
    return "sent"


def receive_end_and_use(recv: Receiver[Any]) -> list[Any]:
    """Receive a Sender through ``recv`` and send into it."""
    send = recv.get()
    with send:
        for i in range(3):
            send.put(i * 10)
    return ["done"]


def use_end_in_process(send: Sender[Any]) -> str:  # pragma: no cover - not reached
    return "unreachable"


def interp_id() -> int:
    return interpreters.get_current().id


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def drain_closed(recv: Receiver[Any]) -> str:
    try:
        recv.get()
    except ChannelClosed as exc:
        return f"ChannelClosed: {exc}"
    return "got a value"


def lambda_value(send: Sender[Any]) -> None:
    factor = 3
    send.put(lambda x: x * factor)


def make_channel_and_return(values: list[Any]) -> tuple[Sender[Any], Receiver[Any]]:
    """Make a channel here, put ``values`` in it, and return both ends (as a result)."""
    from interpool import channel

    send, recv = channel(0)
    for value in values:
        send.put(value)
    return send, recv

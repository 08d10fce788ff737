"""Arguments and results crossing between interpreters: values, types, failures."""

from __future__ import annotations

import collections
import datetime
import decimal
import math
import threading
from fractions import Fraction
from typing import Any

import pytest

import interpool

from ..support import PATIENCE
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)


def shape(value: Any) -> Any:
    """The exact types of ``value`` and, recursively, of what it contains."""
    t = type(value)
    if isinstance(value, (tuple, list)):
        return (t, tuple(shape(v) for v in value))
    if isinstance(value, dict):
        return (t, tuple((shape(k), shape(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return (t, frozenset(shape(v) for v in value))
    if dataclass_fields := getattr(value, "__dataclass_fields__", None):
        return (t, tuple(shape(getattr(value, f)) for f in dataclass_fields))
    return t


NATIVE = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**63,
    2**64 + 1,
    -(2**100),
    10**400,
    0.0,
    -1.5,
    1e308,
    float("inf"),
    "",
    "hello",
    "héllo wörld ✓ \U0001f600",
    "\x00",
    "\ud800",
    b"",
    b"\x00\xff" * 100,
    (),
    (1,),
    (1, "a", b"b", None, 2.5, True),
    (1, (2, (3, (4, ((), b"x")))), "end"),
    ((True, False), (None,)),
]

NON_NATIVE = [
    [],
    [1, [2, [3]]],
    {"a": 1, "b": [2, 3], 4: (5,)},
    {1, 2, 3},
    frozenset({"x"}),
    tasks.Point(1, 2),
    tasks.Point(x=(1, 2), y=[3]),
    tasks.Color.RED,
    tasks.Record("r", [1, 2], {"k": tasks.Color.GREEN}),
    bytearray(b"abc"),
    (1, [2], 3),
    ([1], {"a": {2}}),
    complex(1, 2),
    Fraction(2, 3),
    decimal.Decimal("1.10"),
    datetime.date(2024, 2, 29),
    datetime.datetime(2024, 1, 1, 12, 30, tzinfo=datetime.UTC),
    range(3, 10, 2),
    collections.OrderedDict(a=1),
    collections.Counter("hello"),
    TypeError("an exception as a value"),
]


@pytest.mark.parametrize("value", NATIVE + NON_NATIVE, ids=lambda v: type(v).__name__)
def test_round_trip(pool: interpool.Pool, value: Any) -> None:
    result = pool.submit(tasks.identity, value).result(timeout=PATIENCE)
    if isinstance(value, BaseException):
        assert type(result) is type(value)
        assert result.args == value.args
        return
    assert result == value
    assert shape(result) == shape(value)


@pytest.mark.parametrize("value", NATIVE + NON_NATIVE, ids=lambda v: type(v).__name__)
def test_worker_sees_exact_type(pool: interpool.Pool, value: Any) -> None:
    type_name, _ = pool.submit(tasks.type_and_value, value).result(timeout=PATIENCE)
    t = type(value)
    assert type_name == f"{t.__module__}.{t.__qualname__}"


def test_nan_round_trip(pool: interpool.Pool) -> None:
    result = pool.submit(tasks.identity, float("nan")).result(timeout=PATIENCE)
    assert type(result) is float
    assert math.isnan(result)


def test_bool_stays_bool(pool: interpool.Pool) -> None:
    assert pool.submit(tasks.identity, True).result(timeout=PATIENCE) is True
    assert pool.submit(tasks.identity, (False, 1)).result(timeout=PATIENCE) == (False, 1)
    assert type(pool.submit(tasks.identity, (False, 1)).result(timeout=PATIENCE)[0]) is bool


def test_int_enum_keeps_its_type(pool: interpool.Pool) -> None:
    result = pool.submit(tasks.identity, tasks.Color.GREEN).result(timeout=PATIENCE)
    assert result is tasks.Color.GREEN


def test_kwargs_round_trip(pool: interpool.Pool) -> None:
    kwargs = {"native": (1, "a"), "listed": [1, 2], "point": tasks.Point(3, 4), "big": 2**80}
    args, got = pool.submit(tasks.echo, 2**70, [1], **kwargs).result(timeout=PATIENCE)
    assert args == (2**70, [1])
    assert got == kwargs
    assert type(got["point"]) is tasks.Point


def test_map_items_round_trip(pool: interpool.Pool) -> None:
    values = NATIVE + NON_NATIVE[:-1]
    assert list(pool.map(tasks.identity, values, chunksize=5)) == values


def test_large_payloads(pool: interpool.Pool) -> None:
    blob = bytes(range(256)) * 40_000  # 10 MB
    assert pool.submit(tasks.identity, blob).result(timeout=PATIENCE) == blob
    numbers = list(range(100_000))
    assert pool.submit(tasks.identity, numbers).result(timeout=PATIENCE) == numbers
    assert pool.submit(len, "x" * 5_000_000).result(timeout=PATIENCE) == 5_000_000


def test_results_are_copies(pool: interpool.Pool) -> None:
    value = {"list": [1, 2]}
    result = pool.submit(tasks.identity, value).result(timeout=PATIENCE)
    assert result == value
    assert result is not value
    assert result["list"] is not value["list"]


# -- arguments that cannot be sent ----------------------------------------------------


def test_unsendable_positional_argument(pool: interpool.Pool) -> None:
    with pytest.raises(TypeError) as info:
        pool.submit(tasks.echo, 1, threading.Lock())
    message = str(info.value)
    assert "argument 1" in message
    assert "lock" in message
    with pytest.raises(TypeError, match="argument 0") as info:
        pool.submit(tasks.identity, threading.Lock())
    assert "lock" in str(info.value)
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3


def test_unsendable_keyword_argument(pool: interpool.Pool) -> None:
    with pytest.raises(TypeError) as info:
        pool.submit(tasks.echo, 1, fine=2, guard=threading.Lock())
    message = str(info.value)
    assert "guard" in message
    assert "lock" in message
    assert pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3


def test_unsendable_nested_argument(pool: interpool.Pool) -> None:
    with pytest.raises(TypeError, match="argument 0"):
        pool.submit(tasks.identity, [1, {"lock": threading.Lock()}])
    with pytest.raises(TypeError, match="argument 0"):
        pool.submit(tasks.identity, (1, (2, threading.Lock())))


def test_unsendable_argument_is_not_submitted(pool1: interpool.Pool) -> None:
    with pytest.raises(TypeError):
        pool1.submit(tasks.count_call, "unsent", threading.Lock())
    assert pool1.submit(tasks.count_call, "unsent").result(timeout=PATIENCE) == 1


# -- the protocol's messages and codes -------------------------------------------------


def test_protocol_codes_do_not_collide() -> None:
    from interpool._wire import protocol as p

    formats = {p.NATIVE, p.PICKLE, p.BUFFERS}
    statuses = {p.ERROR, p.INIT_FAILED, p.SKIPPED, p.CRASHED, p.ACCEPTED, p.LEAVING}
    assert len(formats) == 3 and len(statuses) == 6
    assert max(formats) < min(statuses)  # the scheduler tests ``status >= ACCEPTED``
    assert max(statuses - {p.LEAVING}) == p.ACCEPTED
    assert p.LEAVING > p.ACCEPTED
    # A coroutine's status plus FROM_LOOP never reads as another status.
    assert min(formats | statuses) + p.FROM_LOOP > max(formats | statuses)
    assert p.CALL != p.CHUNK
    assert len({p.IDLE, p.BOOTING}) == 2 and min(p.IDLE, p.BOOTING) < 0  # never a task id
    assert len({p.RUN, p.RETIRE, p.LEFT_IDLE, p.LEFT_RECYCLED}) == 4 and p.RUN == 0
    task_fields = (p.TASK_ID, p.FUNCTION, p.KIND, p.ARGS, p.ARGS_FORMAT, p.LIMIT)
    assert task_fields == tuple(range(6))
    assert tuple(range(4)) == (p.R_TASK_ID, p.R_STATUS, p.R_VALUE, p.R_HANDED)


def test_protocol_messages_cross_natively() -> None:
    """Messages are plain tuples, which the cross-interpreter queues share without
    pickle (a named tuple would not be)."""
    from interpool._wire import protocol as p
    from interpool._wire.errors import encode_error
    from interpool._wire.transport import encode_call

    is_shareable = pytest.importorskip("_interpreters").is_shareable
    task = (7, "tests.tasks:add", p.CALL, *encode_call((1, 2), {"c": 3}), 1.5)
    assert len(task) == 6 and task[p.KIND] == p.CALL and task[p.LIMIT] == 1.5
    assert is_shareable(task)
    assert is_shareable((7, p.NATIVE, 3, ()))
    assert is_shareable((7, p.ERROR, encode_error(ValueError("x")), ()))
    assert is_shareable((p.NO_TASK, p.LEAVING, 2, ()))

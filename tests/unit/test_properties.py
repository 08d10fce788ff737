"""Property tests: any value built from the picklable standard types crosses to a
worker and back unchanged: equal, of the same exact types all the way down, and with
the same sharing of mutable parts (one list placed twice comes back as one list placed
twice; two equal lists stay two lists).

``tasks.describe`` gives a canonical description of a value (exact types, values with
NaN equal to NaN and ``-0.0`` distinct from ``0.0``, and the identity structure of its
mutable parts).  Computed in the worker, it tells what the worker received.
"""

from __future__ import annotations

import array
import collections
import copy
import datetime
import decimal
import fractions
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import interpool

from ..support import PATIENCE
from ..tasks import basic as tasks

pytestmark = [pytest.mark.version_independent, pytest.mark.timeout(120)]

# The pool fixture is module-scoped: one pool serves every example.  No example
# database: it would leave a .hypothesis directory in the working tree.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

UTC = datetime.UTC

# -- strategies ---------------------------------------------------------------------

#: Full unicode, lone surrogates included.  (``st.text()`` leaves them out by default,
#: and even given an alphabet that has them, it almost never draws one: join lists.)
TEXT = st.lists(
    st.characters(codec=None, exclude_categories=())
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
    max_size=8,
).map("".join)

TZ = st.none() | st.just(UTC)


def _with_fold(value: Any, fold: int) -> Any:
    return value.replace(fold=fold)


HASHABLE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**300),  # around and beyond 64 bits
    st.integers(min_value=-(2**300), max_value=-(2**63) + 2),
    st.floats(),  # NaN, infinities, -0.0 included
    st.complex_numbers(),
    TEXT,
    st.binary(max_size=16),
    # A signalling NaN cannot be hashed (nor compared): lists only, see LEAVES.
    st.decimals(allow_nan=True).filter(lambda d: not d.is_snan()),
    st.fractions(),
    st.dates(),
    st.builds(_with_fold, st.datetimes(timezones=TZ), st.integers(0, 1)),
    st.builds(_with_fold, st.times(timezones=TZ), st.integers(0, 1)),
    st.timedeltas(),
    st.uuids(),
    st.sampled_from(tasks.Shade),
    st.sampled_from(tasks.Color),
    st.builds(range, st.integers(-5, 5), st.integers(-5, 50), st.integers(1, 4)),
    st.builds(range, st.integers(-5, 5), st.integers(-50, 5), st.integers(-4, -1)),
)

#: Hashable values: what sets, frozensets and dict keys can hold.
HASHABLE = st.recursive(
    HASHABLE_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(tuple),
        st.frozensets(children, max_size=3),
        st.builds(tasks.Point, children, children),
    ),
    max_leaves=6,
)

#: Around and above the size from which buffers cross out of band (64 KiB today).
BIG_SIZES = st.sampled_from([64 * 1024 - 1, 64 * 1024, 200 * 1024])
_BIG = bytes(range(256)) * 800


def _array(typecode: str, data: bytes) -> array.array[int]:
    a = array.array(typecode)
    a.frombytes(data[: len(data) - len(data) % a.itemsize])
    return a


ARRAYS = st.builds(_array, st.sampled_from("bBhHiIlLqQ"), st.binary(max_size=16))

LEAVES = st.one_of(
    HASHABLE_SCALARS,
    st.binary(max_size=16).map(bytearray),
    ARRAYS,
    # Rare, large: bytes, bytearray and array buffers.
    st.builds(lambda n: _BIG[:n], BIG_SIZES),
    st.builds(lambda n: bytearray(_BIG[:n]), BIG_SIZES),
    st.builds(lambda n: _array("q", _BIG[:n]), BIG_SIZES),
    st.sampled_from([decimal.Decimal("sNaN"), decimal.Decimal("-sNaN123")]),
)


def mutables(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The mutable containers whose identity a round trip must keep."""
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(HASHABLE, children, max_size=3),
        st.sets(HASHABLE, max_size=3),
        st.binary(max_size=8).map(bytearray),
        ARRAYS,
        st.builds(lambda n: bytearray(_BIG[:n]), BIG_SIZES),
        st.builds(collections.deque, st.lists(children, max_size=3), st.none() | st.integers(0, 4)),
        st.builds(collections.OrderedDict, st.dictionaries(HASHABLE, children, max_size=3)),
        st.builds(collections.Counter, st.dictionaries(HASHABLE, st.integers(), max_size=3)),
        st.dictionaries(HASHABLE, st.lists(children, max_size=2), max_size=3).map(
            lambda d: collections.defaultdict(list, d)
        ),
        st.builds(tasks.Record, TEXT, children, st.dictionaries(TEXT, children, max_size=2)),
    )


@st.composite
def shared(draw: st.DrawFn, children: st.SearchStrategy[Any]) -> Any:
    """A container in which one mutable object appears several times, directly or
    wrapped in a list, tuple or dict, among other values; maybe beside an equal but
    distinct copy of it (which must stay distinct)."""
    obj = draw(mutables(children))
    items = draw(st.lists(children, max_size=3))
    for _ in range(draw(st.integers(2, 4))):
        wrap = draw(st.sampled_from(["bare", "list", "tuple", "dict"]))
        item = {"bare": obj, "list": [obj], "tuple": (obj,), "dict": {"k": obj}}[wrap]
        items.insert(draw(st.integers(0, len(items))), item)
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), copy.copy(obj))
    outer = draw(st.sampled_from(["list", "tuple", "dict"]))
    if outer == "tuple":
        return tuple(items)
    if outer == "dict":
        return {i: x for i, x in enumerate(items)}
    return items


VALUES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        mutables(children),
        st.lists(children, max_size=3).map(tuple),
        st.frozensets(HASHABLE, max_size=3),
        st.builds(tasks.Point, children, children),
        shared(children),
    ),
    max_leaves=12,
)

# -- explicit examples --------------------------------------------------------------

_shared_list = [1, "one"]
_shared_bytearray = bytearray(b"shared")
_shared_big = bytearray(_BIG)
_cycle: list[Any] = [1]
_cycle.append(_cycle)

EXAMPLES: list[Any] = [
    2**64,
    -(2**200) + 1,
    10**400,
    -0.0,
    float("nan"),
    complex(float("nan"), -0.0),
    decimal.Decimal("-0"),
    decimal.Decimal("NaN"),
    [decimal.Decimal("sNaN")],
    fractions.Fraction(-7, 3),
    "\ud800 lone surrogates \udfff",
    [],
    {},
    set(),
    frozenset(),
    (),
    "",
    b"",
    bytearray(),
    collections.deque(maxlen=0),
    collections.defaultdict(list),
    ([1], [2], [[3]]),
    ([], []),  # two equal lists that must stay two
    [_shared_list, (_shared_list,), {"again": _shared_list}],
    (_shared_bytearray, [_shared_bytearray]),
    _cycle,
    _BIG,  # 200 KiB: large buffers take a zero-copy path
    bytearray(_BIG),
    _array("q", _BIG),
    (_shared_big, [_shared_big], bytearray(_shared_big)),  # shared, and an equal copy
    [_BIG, _BIG[: 64 * 1024], bytearray(_BIG[: 64 * 1024 - 1])],
    {"big": [bytearray(_BIG)], "small": bytearray(b"x")},
    datetime.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=UTC),
    datetime.time(23, 59, 59, 999_999, tzinfo=UTC),
    tasks.Record("r", [tasks.Shade.MIXED], {"c": tasks.Color.RED}),
    tasks.Point(x=[1], y=frozenset({(2, 3)})),
]


def with_examples(fn: Any) -> Any:
    for value in reversed(EXAMPLES):
        fn = example(value=value)(fn)
    return fn


def has_nan(description: Any) -> bool:
    """True if the described value holds a NaN (float, complex or Decimal), which is not
    equal to itself."""
    if not isinstance(description, tuple) or not description:
        return False
    head = description[0]
    if head == "builtins.float" and description[1] is None:
        return True
    if head == "builtins.complex" and None in description[1:]:
        return True
    if head == "decimal.Decimal" and description[3] in ("n", "N"):
        return True
    return any(has_nan(part) for part in description)


def assert_same(result: Any, value: Any) -> None:
    """``result`` is an unchanged copy of ``value``."""
    assert tasks.describe(result) == tasks.describe(value)
    if not has_nan(tasks.describe(value)) and value is not _cycle:
        assert result == value


# -- the three paths ------------------------------------------------------------------


@PROPERTY
@given(value=VALUES)
@with_examples
def test_worker_receives_the_value(pool: interpool.Pool, value: Any) -> None:
    """As an argument: the worker sees the same value, types and sharing."""
    described = pool.submit(tasks.describe, value).result(timeout=PATIENCE)
    assert described == tasks.describe(value)


@PROPERTY
@given(value=VALUES)
@example(value=[1])
@example(value=(1, "native"))
def test_sharing_across_arguments(pool: interpool.Pool, value: Any) -> None:
    """One object passed as two positional arguments and a keyword argument is still one
    object in the worker (when it is mutable)."""
    described = pool.submit(tasks.describe_call, value, value, key=value).result(timeout=PATIENCE)
    assert described == tasks.describe(((value, value), {"key": value}))


@PROPERTY
@given(value=VALUES)
@with_examples
def test_result_built_in_the_worker(pool: interpool.Pool, value: Any) -> None:
    """As a result: a value the worker builds (from a pickle sent as bytes) comes back
    unchanged."""
    blob = pickle.dumps(value, protocol=5)
    result = pool.submit(tasks.from_pickle, blob).result(timeout=PATIENCE)
    assert_same(result, value)


@PROPERTY
@given(value=VALUES)
@with_examples
def test_round_trip(pool: interpool.Pool, value: Any) -> None:
    """There and back: an unchanged copy (a new object when mutable)."""
    result = pool.submit(tasks.identity, value).result(timeout=PATIENCE)
    assert_same(result, value)
    if isinstance(value, (list, dict, set, bytearray, array.array, collections.deque)):
        assert result is not value


@PROPERTY
@given(values=st.lists(VALUES, max_size=6), chunksize=st.none() | st.integers(1, 4))
@example(values=EXAMPLES, chunksize=None)
@example(values=EXAMPLES, chunksize=1)
@example(values=EXAMPLES, chunksize=len(EXAMPLES))
def test_map(pool: interpool.Pool, values: list[Any], chunksize: int | None) -> None:
    """Through ``map``, both ways: what each call received, and each result."""
    expected = [tasks.describe(v) for v in values]
    described = list(pool.map(tasks.describe, values, chunksize=chunksize))
    assert described == expected
    results = list(pool.map(tasks.identity, values, chunksize=chunksize))
    assert len(results) == len(values)
    for result, value in zip(results, values, strict=True):
        assert_same(result, value)


# -- the comparison itself -------------------------------------------------------------


def test_describe_tells_apart_what_equality_does_not() -> None:
    """``describe`` is strict where ``==`` is not: exact types, signed zeros, NaN
    payloads aside, sharing, fold."""
    d = tasks.describe
    shared_list: list[int] = []
    pairs = [
        (1, True),
        (1, 1.0),
        (0.0, -0.0),
        (tasks.Color.RED, 1),
        (tasks.Point(1, 2), (1, 2)),
        (collections.OrderedDict(a=1), {"a": 1}),
        (collections.Counter(a=1), {"a": 1}),
        (collections.defaultdict(list), collections.defaultdict(set)),
        (collections.deque([1], maxlen=2), collections.deque([1])),
        (frozenset({1}), {1}),
        ([shared_list, shared_list], [[], []]),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        (decimal.Decimal("1.10"), decimal.Decimal("1.1")),
        (
            datetime.datetime(2024, 1, 1, fold=1),
            datetime.datetime(2024, 1, 1, fold=0),
        ),
        (datetime.datetime(2024, 1, 1, tzinfo=UTC), datetime.datetime(2024, 1, 1)),
        (bytearray(b"x"), b"x"),
    ]
    for left, right in pairs:
        assert d(left) != d(right), (left, right)
    assert d(float("nan")) == d(float("-nan"))
    assert d([float("nan")]) == d([float("nan")])
    assert d({3, 1, 2}) == d({2, 3, 1})
    assert d(_cycle) == d(pickle.loads(pickle.dumps(_cycle)))

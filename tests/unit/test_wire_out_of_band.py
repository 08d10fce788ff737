"""Out-of-band detection in ``interpool._wire.buffers``: exact both ways (data that
looks like an opcode stays in band and is pickled once; real nested bytes-likes leave
the pickle), at any depth, in both directions."""

from __future__ import annotations

import array
import hashlib
import pickle
from typing import Any

import pytest

import interpool
from interpool._wire import buffers

from ..tasks import wire as wt

MIB = 1024 * 1024
KIB = 1024


def _no_second_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any pickling beyond the plain fast path fail the test."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickled a second time")

    monkeypatch.setattr(buffers, "_fresh", fail)
    monkeypatch.setattr(buffers, "by_value", fail)


def _roundtrip(value: Any) -> Any:
    packed = buffers.dumps(value)
    if type(packed) is bytes:
        return pickle.loads(packed)
    return buffers.loads(packed, foreign=True)


@pytest.mark.parametrize(
    "value",
    [
        # Ints and floats whose encodings hold 0x96 (BYTEARRAY8) and 0x8e (BINBYTES8).
        list(range(100_000)),
        [i * 1.1 for i in range(100_000)],
        # Data that spells a BYTEARRAY8 or BINBYTES header with a plausible length.
        [b"\x96" + (70_000).to_bytes(8, "little")] * 20_000,
        ["B" + (70_000).to_bytes(4, "little").decode("latin-1")] * 20_000,
        # Large data that stays in band: a str.
        "\x96" * (2 * MIB),
    ],
    ids=["ints", "floats", "bytearray-headers", "bytes-headers", "large-str"],
)
def test_opcode_bytes_in_data_stay_in_band_in_one_pass(
    value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_second_pass(monkeypatch)
    packed = buffers.dumps(value)
    assert type(packed) is bytes
    assert pickle.loads(packed) == value


def test_a_nested_bytearray_leaves_the_pickle_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_second_pass(monkeypatch)
    data = bytearray(b"\x96" * MIB)  # its own bytes look like the opcode too
    value = {"k": [1, (2, data)], "again": data, "n": list(range(1000))}
    packed = buffers.dumps(value)
    assert type(packed) is tuple
    pickled, views, kinds = packed
    assert kinds == (buffers.BYTEARRAY,)
    assert len(pickled) < 64 * KIB  # the data is beside the pickle, not in it
    assert views[0].obj is data  # a view of the caller's object itself: no copy
    back = buffers.loads(packed, foreign=True)
    assert type(back["k"][1][1]) is bytearray
    assert back["k"][1][1] == data
    assert back["k"][1][1] is back["again"]  # one object, as in the value


@pytest.mark.parametrize("size", [64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 3 * MIB])
def test_nested_bytes_of_every_size_round_trip(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"\x96" * (size % 256)
    value = [{"a": (payload, "x")}, wt.Record("r", payload)]
    packed = buffers.dumps(value)
    in_band = size < buffers.OUT_OF_BAND_MIN
    assert (type(packed) is bytes) is in_band
    if not in_band:
        assert type(packed) is tuple
        assert packed[2] == (buffers.BYTES,)  # memoized: one buffer for both places
    back = _roundtrip(value)
    assert back == value
    assert type(back[0]["a"][0]) is bytes
    assert back[0]["a"][0] is back[1].payload


def test_bytes_subclasses_arrays_and_views_keep_their_types() -> None:
    value = {
        "tagged": wt.Tagged(b"t" * MIB),
        "array": [array.array("d", range(200_000))],
        "view": [memoryview(bytearray(b"v" * MIB))],
        "small": [array.array("b", [1, 2]), memoryview(b"ab")],
    }
    back = _roundtrip(value)
    assert type(back["tagged"]) is wt.Tagged
    assert back["tagged"] == value["tagged"]
    assert type(back["array"][0]) is array.array
    assert back["array"][0] == value["array"][0]
    assert type(back["view"][0]) is memoryview
    assert back["view"][0] == value["view"][0]
    assert back["small"][0] == value["small"][0]
    assert bytes(back["small"][1]) == b"ab"


def test_an_array_crosses_as_its_own_buffer() -> None:
    """A large array is reduced by the hooked pickler (its memory is the buffer), not
    by its own ``__reduce__`` (which would copy it to bytes first)."""
    data = array.array("d", range(200_000))
    packed = buffers.dumps([data])
    assert type(packed) is tuple
    assert packed[2] == (buffers.OURS,)
    assert packed[1][0].obj is data


def _digests(value: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return wt.types_and_digests(value)


def test_nested_bytes_likes_at_depth_cross_to_a_worker(pool: interpool.Pool) -> None:
    value = wt.deep(MIB)
    assert pool.submit(wt.types_and_digests, value).result() == _digests(value)


def test_nested_bytes_likes_at_depth_come_back_from_a_worker(pool: interpool.Pool) -> None:
    back = pool.submit(wt.deep, MIB).result()
    assert back == wt.deep(MIB)
    assert type(back["tagged"]) is wt.Tagged


def test_nested_bytes_echoed_keep_identity_and_content(pool: interpool.Pool) -> None:
    payload = hashlib.sha256(b"seed").digest() * (MIB // 32)
    assert pool.submit(wt.same_twice, [payload, payload]).result() is True
    back = pool.submit(wt.echo, {"a": [payload], "b": (payload,)}).result()
    assert back["a"][0] == payload
    assert back["a"][0] is back["b"][0]
    got = list(pool.map(wt.echo, [[payload, i] for i in range(6)]))
    assert got == [[payload, i] for i in range(6)]

"""Large binary data: what crosses without copies, and memory ownership.

See ``interpool._wire.buffers`` and ``interpool._wire.handoff`` for the rules these
tests pin down."""

from __future__ import annotations

import array
import gc
import hashlib
import mmap
import textwrap

import pytest

import interpool
from interpool._wire import handoff as _handoff

from ..support import assert_clean_stderr, run_python, wait_until
from ..tasks import buffers as bt

MIB = 1024 * 1024


def sha(data: object) -> str:
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()  # type: ignore[arg-type]


def resizable(data: bytearray) -> bool:
    """Whether ``data`` can grow, i.e. no view of it is exported any more."""
    try:
        data.extend(b"x")
    except BufferError:
        return False
    del data[-1:]
    return True


# -- arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"\x01" * MIB,
        bytearray(b"\x02" * MIB),
        bytearray(b"\x03" * 100),
        array.array("d", range(100_000)),
        array.array("b", [1, 2, 3]),
    ],
    ids=["bytes", "bytearray", "small-bytearray", "array-d", "small-array"],
)
def test_buffer_arguments_arrive_intact(pool: interpool.Pool, value: object) -> None:
    kind, digest, length = pool.submit(bt.digest, value).result()
    assert (kind, digest, length) == (type(value).__name__, sha(value), len(value))  # type: ignore[arg-type]


def test_buffer_arguments_round_trip_with_their_type(pool: interpool.Pool) -> None:
    for value in [bytearray(b"\x07" * MIB), array.array("q", range(50_000)), b"\x08" * MIB]:
        back = pool.submit(bt.echo, value).result()
        assert type(back) is type(value)
        assert back == value


def test_memoryview_argument_is_shared_with_the_caller(pool: interpool.Pool) -> None:
    """Zero-copy: the worker writes into the caller's own memory."""
    data = bytearray(MIB)
    assert pool.submit(bt.fill_view, memoryview(data), 0x5A).result() == MIB
    assert data == b"\x5a" * MIB
    # In a container too, and by keyword.
    other = bytearray(2 * MIB)
    assert pool.submit(bt.fill_view, view=memoryview(other), value=7).result() == 2 * MIB
    assert other.count(7) == 2 * MIB


def test_memoryview_argument_keeps_format_shape_and_readonly(pool: interpool.Pool) -> None:
    data = array.array("d", range(40_000))
    view = memoryview(data).cast("B").cast("d", (10_000, 4))
    assert pool.submit(bt.describe_view, view).result() == ("d", (10_000, 4), False, True, 320_000)
    ro = memoryview(b"r" * MIB)
    assert pool.submit(bt.describe_view, ro).result() == ("B", (MIB,), True, True, MIB)
    small = memoryview(bytearray(b"s" * 10))
    assert pool.submit(bt.describe_view, small).result() == ("B", (10,), False, True, 10)


def test_non_contiguous_memoryview_argument_is_copied(pool: interpool.Pool) -> None:
    data = bytearray(range(256)) * 1024
    strided = memoryview(data)[::2]
    kind, digest, length = pool.submit(bt.digest, strided).result()
    assert (kind, length) == ("memoryview", len(data) // 2)
    assert digest == hashlib.sha256(bytes(strided)).hexdigest()


def test_mmap_slices_cross(pool: interpool.Pool, tmp_path: object) -> None:
    with mmap.mmap(-1, 4 * MIB) as mm:
        mm[:] = b"m" * (4 * MIB)
        window = memoryview(mm)[MIB : 3 * MIB]
        assert pool.submit(bt.fill_view, window, 0x21).result() == 2 * MIB
        assert mm[:MIB] == b"m" * MIB
        assert mm[MIB : 3 * MIB] == b"\x21" * (2 * MIB)
        assert mm[3 * MIB :] == b"m" * MIB
        window.release()


def test_shared_buffers_keep_their_identity(pool: interpool.Pool) -> None:
    shared = bytearray(MIB)
    assert pool.submit(bt.same_object_twice, [shared, shared]).result() is True
    assert pool.submit(bt.same_object_twice, [shared, bytearray(MIB)]).result() is False


def test_user_pickle_buffers_cross(pool: interpool.Pool) -> None:
    blob = bt.Blob(bytearray(b"u" * MIB))
    assert pool.submit(bt.blob_size, blob).result() == MIB
    assert pool.submit(bt.echo, blob).result() == blob
    assert pool.submit(bt.make_blob, MIB).result() == bt.Blob(bytearray(b"q" * MIB))


def test_buffers_in_map_items(pool: interpool.Pool) -> None:
    items = [bytearray([i]) * (MIB // 4) for i in range(8)]
    assert list(pool.map(bt.digest, items)) == [("bytearray", sha(x), len(x)) for x in items]


# -- results ----------------------------------------------------------------------------


@pytest.mark.skipif(not _handoff.enabled, reason="handoff is off in this environment")
def test_large_bytes_result_is_handed_over_not_copied(pool1: interpool.Pool) -> None:
    """The caller receives the very object the worker made (same address)."""
    data = pool1.submit(bt.make_bytes, 8 * MIB).result()
    made_at = pool1.submit(bt.last_id).result()
    assert id(data) == made_at
    assert type(data) is bytes
    assert data == b"\xaa" * (8 * MIB)


def test_small_bytes_results_are_copied(pool1: interpool.Pool) -> None:
    data = pool1.submit(bt.make_bytes, 1000).result()
    assert data == b"\xaa" * 1000
    assert id(data) != pool1.submit(bt.last_id).result()


def test_bytes_the_worker_keeps_are_copied(pool1: interpool.Pool) -> None:
    """A result the task still refers to is not handed over: both sides stay intact."""
    first = pool1.submit(bt.kept_bytes, 4 * MIB).result()
    second = pool1.submit(bt.kept_bytes, 4 * MIB).result()
    expected = bytes(range(256)) * (4 * MIB // 256)
    assert first == second == expected
    assert first is not second
    del first, second
    gc.collect()
    assert pool1.submit(bt.kept_digest).result() == hashlib.sha256(expected).hexdigest()


def test_buffer_results_keep_their_type(pool: interpool.Pool) -> None:
    ba = pool.submit(bt.make_bytearray, MIB).result()
    assert type(ba) is bytearray
    assert ba == b"\x55" * MIB
    ba[0] = 1  # ours, writable
    arr = pool.submit(bt.make_array, "i", 100_000).result()
    assert type(arr) is array.array
    assert arr.typecode == "i"
    assert arr == array.array("i", range(100_000))
    view = pool.submit(bt.make_view, 50_000).result()
    assert type(view) is memoryview
    assert (view.format, view.shape, view.readonly) == ("d", (50_000, 4), False)
    assert view[49_999, 3] == float(50_000 * 4 - 1)
    view[0, 0] = 1.5


def test_nested_buffer_results(pool: interpool.Pool) -> None:
    out = pool.submit(bt.nested, MIB).result()
    assert out["ba"] == bytearray(b"x" * MIB)
    assert type(out["views"][0]) is memoryview
    assert out["views"][0] == b"y" * MIB
    assert out["arr"] == array.array("i", range(MIB // 4))
    assert out["small"] == bytearray(b"z" * 10)


def test_map_results_are_handed_over(pool: interpool.Pool) -> None:
    sizes = [MIB, 2 * MIB, 100, MIB]
    results = list(pool.map(bt.make_bytes, sizes, [1, 2, 3, 4]))
    assert results == [bytes([f]) * n for n, f in zip(sizes, [1, 2, 3, 4], strict=True)]
    results = list(pool.map(bt.make_bytes, [MIB] * 20, range(20), chunksize=5))
    assert results == [bytes([f]) * MIB for f in range(20)]


def test_results_outlive_the_pool() -> None:
    """Every kind of buffer result stays valid after its worker interpreter is gone."""
    with interpool.Pool(2) as pool:
        data = pool.submit(bt.make_bytes, 16 * MIB).result()
        many = list(pool.map(bt.make_bytes, [MIB] * 6, range(6)))
        ba = pool.submit(bt.make_bytearray, MIB).result()
        view = pool.submit(bt.make_view, 10_000).result()
        blob = pool.submit(bt.make_blob, MIB).result()
        nested = pool.submit(bt.nested, MIB).result()
    gc.collect()
    junk = [bytes([7]) * MIB for _ in range(64)]  # reuse any freed memory
    assert data == b"\xaa" * (16 * MIB)
    assert many == [bytes([i]) * MIB for i in range(6)]
    assert ba == b"\x55" * MIB
    assert view[9_999, 3] == float(10_000 * 4 - 1)
    assert blob == bt.Blob(bytearray(b"q" * MIB))
    assert nested["views"][0] == b"y" * MIB
    del junk, data, many, ba, view, blob, nested
    gc.collect()


def test_handoff_survives_churn_in_a_subprocess() -> None:
    """Many handovers while pools come and go, results dropped in every order: the
    process must exit cleanly (a wrong free would crash it)."""
    code = textwrap.dedent(
        """
        import gc, random
        import interpool
        from tests.tasks import buffers as bt
        keep = []
        for round in range(6):
            with interpool.Pool(2) as pool:
                futures = [pool.submit(bt.make_bytes, 256 * 1024 + i, i % 256) for i in range(40)]
                got = [f.result() for f in futures]
                got += list(pool.map(bt.make_bytes, [300_000] * 10, range(10)))
            random.shuffle(got)
            keep += got[:10]
            del got, futures
            gc.collect()
        for data in keep:
            assert data == data[:1] * len(data)
        print("ok", len(keep))
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 60"
    assert_clean_stderr(result.stderr)


def test_everything_is_copied_when_handoff_is_off() -> None:
    code = textwrap.dedent(
        """
        import interpool
        from interpool._wire import handoff as _handoff
        from tests.tasks import buffers as bt
        assert not _handoff.enabled
        with interpool.Pool(1) as pool:
            data = pool.submit(bt.make_bytes, 1 << 20).result()
            made_at = pool.submit(bt.last_id).result()
        assert data == b"\\xaa" * (1 << 20) and id(data) != made_at
        print("ok")
        """
    )
    result = run_python("-c", code, env={"INTERPOOL_HANDOFF": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_arguments_are_released_when_the_task_completes(pool: interpool.Pool) -> None:
    """After result(), the caller may resize what it passed (no export is left)."""
    for _ in range(20):
        data = bytearray(MIB)
        assert pool.submit(bt.digest, data).result()[2] == MIB
        data.extend(b"more")  # BufferError if a worker's view were still alive
        view_of = bytearray(MIB)
        assert pool.submit(bt.fill_view, memoryview(view_of), 1).result() == MIB
        view_of.extend(b"more")
    items = [bytearray(MIB) for _ in range(4)]
    assert len(list(pool.map(bt.digest, items))) == 4
    for item in items:
        item.extend(b"more")


def test_a_view_kept_by_the_task_keeps_the_buffer_exported(pool1: interpool.Pool) -> None:
    data = bytearray(MIB)
    assert pool1.submit(bt.stash, memoryview(data)).result() == MIB  # does not hang
    with pytest.raises(BufferError):
        data.extend(b"x")
    assert pool1.submit(bt.drop_stash).result() == 1
    # The worker dropped its view; the release reaches this interpreter as a pending
    # call, run at a bytecode boundary of any of its threads.
    assert wait_until(lambda: resizable(data))


def test_a_kept_view_is_released_when_the_pool_shuts_down() -> None:
    """The worker's interpreter goes away with a view of our memory: no crash, and
    the buffer is ours again."""
    data = bytearray(b"k" * MIB)
    with interpool.Pool(1) as pool:
        assert pool.submit(bt.stash, memoryview(data)).result() == MIB

    assert wait_until(lambda: resizable(data))
    assert data == b"k" * MIB


def test_what_goes_out_of_band() -> None:
    """Large buffers leave the pickle (a Packed triple), wherever they are, bytes
    included; small ones stay in it."""
    from interpool._wire import buffers as _buffers

    big = bytearray(MIB)
    for value in [
        big,
        (big, 1),
        ([big], big),
        [big],
        {"k": [big]},
        array.array("d", range(100_000)),
        memoryview(big),
        [memoryview(big)],
        bt.Blob(bytearray(10)),
        [b"x" * MIB],
        {"k": (1, [b"x" * MIB])},
    ]:
        assert type(_buffers.dumps(value)) is tuple, value
    for value in [bytearray(100), [bytearray(100)] * 3, ["x" * MIB], list(range(50_000))]:
        assert type(_buffers.dumps(value)) is bytes


def test_bytearrays_nested_in_containers_keep_their_identity(pool: interpool.Pool) -> None:
    shared = bytearray(MIB)
    assert pool.submit(bt.same_object_twice, [shared, shared]).result() is True
    value = {"a": [shared], "b": (shared,)}
    back = pool.submit(bt.echo, value).result()
    assert back["a"][0] is back["b"][0]
    assert back["a"][0] == shared


def test_an_echoed_view_is_released_too(pool: interpool.Pool) -> None:
    """A task that returns (part of) a view of our memory: the result is a copy, and
    our buffer is free again once result() returns."""
    data = bytearray(b"e" * MIB)
    for _ in range(5):
        back = pool.submit(bt.echo, memoryview(data)).result()
        assert back == data
        data.extend(b"x")  # BufferError if still exported
        del data[-1:]


def test_a_failing_handover_falls_back_to_a_copy(pool1: interpool.Pool) -> None:
    """If a worker cannot load what the handover needs, results are copied instead:
    the task never fails for the sake of an optimisation."""
    pool1.submit(bt.break_handoff).result()
    data = pool1.submit(bt.make_bytes, 2 * MIB).result()
    assert data == b"\xaa" * (2 * MIB)
    assert id(data) != pool1.submit(bt.last_id).result()

"""``Pool.map``: order, zip semantics, chunks, lazy input, errors, timeouts."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

import interpool

from ..support import PATIENCE
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)


class CountingIterable:
    """An iterator over ``source`` that records how many items were pulled from it."""

    def __init__(self, source: Iterator[int] | range) -> None:
        self._it = iter(source)
        self.pulled = 0
        self._lock = threading.Lock()

    def __iter__(self) -> CountingIterable:
        return self

    def __next__(self) -> int:
        value = next(self._it)
        with self._lock:
            self.pulled += 1
        return value


def runs(tags: list[tuple[int, int, object]]) -> int:
    """How many maximal runs of consecutive calls in one worker ``tags`` (from
    ``tasks.tag``) consists of."""
    count = 0
    previous: tuple[int, int] | None = None
    for worker, calls, _ in tags:
        if previous is None or previous != (worker, calls - 1):
            count += 1
        previous = (worker, calls)
    return count


# -- results --------------------------------------------------------------------------


def test_results_in_input_order(pool: interpool.Pool) -> None:
    # Earlier items sleep longer, so they finish later than the ones after them.
    delays = [0.05, 0.0, 0.03, 0.0, 0.01, 0.0]
    assert list(pool.map(tasks.sleep_return, delays, range(6), chunksize=1)) == list(range(6))
    assert list(pool.map(tasks.square, range(500))) == [i * i for i in range(500)]


def test_map_returns_an_iterator(pool: interpool.Pool) -> None:
    it = pool.map(tasks.square, [1, 2, 3])
    assert iter(it) is it
    assert next(it) == 1
    assert list(it) == [4, 9]
    with pytest.raises(StopIteration):
        next(it)


def test_multiple_iterables_zip_shortest(pool: interpool.Pool) -> None:
    assert list(pool.map(tasks.add, range(10), range(100, 105))) == [100, 102, 104, 106, 108]
    assert list(pool.map(tasks.add, "abc", "xyzw")) == ["ax", "by", "cz"]
    assert list(pool.map(tasks.echo, [1, 2], [3, 4], [5, 6])) == [((1, 3, 5), {}), ((2, 4, 6), {})]


def test_empty_input(pool: interpool.Pool) -> None:
    assert list(pool.map(tasks.square, [])) == []
    assert list(pool.map(tasks.square, [], buffersize=2)) == []
    assert list(pool.map(tasks.add, [1, 2], [])) == []


def test_generator_input(pool: interpool.Pool) -> None:
    assert list(pool.map(tasks.square, (i for i in range(50)))) == [i * i for i in range(50)]


def test_non_native_items(pool: interpool.Pool) -> None:
    items = [[i] for i in range(20)] + [{"k": 1}, tasks.Point(1, 2)]
    assert list(pool.map(tasks.identity, items, chunksize=4)) == items


# -- chunksize -------------------------------------------------------------------------


@pytest.mark.parametrize("chunksize", [1, 2, 3, 7, 64, 1000, None])
@pytest.mark.parametrize("n", [0, 1, 5, 64, 301])
def test_chunksize_results(pool: interpool.Pool, chunksize: int | None, n: int) -> None:
    assert list(pool.map(tasks.square, range(n), chunksize=chunksize)) == [i * i for i in range(n)]


def test_chunk_items_run_together_in_one_worker(pool: interpool.Pool) -> None:
    # Each call sleeps a little, so separately queued calls would spread over both
    # workers; the calls of one chunk run one after another in a single worker.
    tags = list(pool.map(tasks.tag, range(12), [0.01] * 12, chunksize=3))
    assert [x for _, _, x in tags] == list(range(12))
    for start in range(0, 12, 3):
        chunk = tags[start : start + 3]
        assert len({worker for worker, _, _ in chunk}) == 1, tags
        calls = [c for _, c, _ in chunk]
        assert calls == list(range(calls[0], calls[0] + 3)), tags


def test_chunksize_larger_than_input_is_one_task(pool: interpool.Pool) -> None:
    tags = list(pool.map(tasks.tag, range(10), [0.005] * 10, chunksize=1000))
    assert [x for _, _, x in tags] == list(range(10))
    assert runs(tags) == 1


def test_chunksize_one_spreads_calls(pool: interpool.Pool) -> None:
    tags = list(pool.map(tasks.tag, range(10), [0.02] * 10, chunksize=1))
    assert len({worker for worker, _, _ in tags}) == 2


def test_automatic_chunksize_batches(pool: interpool.Pool) -> None:
    # About 8 chunks per worker are documented: 1600 tiny calls must not be 1600 tasks.
    tags = list(pool.map(tasks.tag, range(1600)))
    assert [x for _, _, x in tags] == list(range(1600))
    assert runs(tags) <= 64


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)],
)
def test_invalid_chunksize(pool: interpool.Pool, bad: object, error: type[Exception]) -> None:
    # As concurrent.futures: TypeError for a wrong type, ValueError for a wrong value.
    with pytest.raises(error, match="chunksize") as info:
        pool.map(tasks.square, [1, 2], chunksize=bad)  # type: ignore[arg-type]
    assert type(info.value) is error


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)],
)
def test_invalid_buffersize(pool: interpool.Pool, bad: object, error: type[Exception]) -> None:
    # As concurrent.futures: TypeError for a wrong type, ValueError for a wrong value.
    with pytest.raises(error, match="buffersize") as info:
        pool.map(tasks.square, [1, 2], buffersize=bad)  # type: ignore[arg-type]
    assert type(info.value) is error


# -- lazy input ------------------------------------------------------------------------


def test_without_buffersize_input_is_consumed_at_once(pool: interpool.Pool) -> None:
    source = CountingIterable(range(100))
    it = pool.map(tasks.square, source)
    assert source.pulled == 100
    assert list(it) == [i * i for i in range(100)]


@pytest.mark.parametrize("buffersize", [1, 2, 5])
def test_buffersize_bounds_input_consumption(pool: interpool.Pool, buffersize: int) -> None:
    source = CountingIterable(range(1000))
    it = pool.map(tasks.square, source, buffersize=buffersize, chunksize=1)
    time.sleep(0.02)
    assert source.pulled <= buffersize
    for consumed in range(1, 21):
        assert next(it) == (consumed - 1) ** 2
        time.sleep(0.002)  # a slow-ish consumer: the pool must not read ahead meanwhile
        assert source.pulled <= consumed + buffersize
    assert source.pulled < 1000
    it.close()  # type: ignore[attr-defined]
    assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2


def test_buffersize_with_chunks(pool: interpool.Pool) -> None:
    source = CountingIterable(range(10_000))
    it = pool.map(tasks.square, source, buffersize=2, chunksize=4)
    for consumed in range(1, 30):
        assert next(it) == (consumed - 1) ** 2
        # Whole chunks: at most the current one plus ``buffersize`` more.
        assert source.pulled <= 4 * (consumed // 4 + 1 + 2)
    it.close()  # type: ignore[attr-defined]


def test_buffersize_with_infinite_input(pool: interpool.Pool) -> None:
    it = pool.map(tasks.square, itertools.count(), buffersize=2)
    assert list(itertools.islice(it, 25)) == [i * i for i in range(25)]
    it.close()  # type: ignore[attr-defined]
    it = pool.map(tasks.add, itertools.count(), itertools.count(1000), buffersize=3)
    assert list(itertools.islice(it, 10)) == [1000 + 2 * i for i in range(10)]
    it.close()  # type: ignore[attr-defined]


def test_buffersize_runs_all_of_a_finite_input(pool: interpool.Pool) -> None:
    assert list(pool.map(tasks.square, range(100), buffersize=3)) == [i * i for i in range(100)]
    assert list(pool.map(tasks.square, range(100), buffersize=3, chunksize=7)) == [
        i * i for i in range(100)
    ]


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunksize", [1, 3, 4, None])
@pytest.mark.parametrize("buffersize", [None, 2])
def test_error_raised_at_its_item(
    pool: interpool.Pool, chunksize: int | None, buffersize: int | None
) -> None:
    it = pool.map(tasks.fail_at, range(10), [6] * 10, chunksize=chunksize, buffersize=buffersize)
    got = []
    with pytest.raises(ValueError, match="bad item 6") as info:
        for value in it:
            got.append(value)
    assert got == [0, 10, 20, 30, 40, 50]
    assert isinstance(info.value.__cause__, interpool.RemoteTraceback)
    assert "fail_at" in info.value.__cause__.tb


def test_error_in_first_item(pool: interpool.Pool) -> None:
    it = pool.map(tasks.fail_at, range(5), [0] * 5, chunksize=5)
    with pytest.raises(ValueError, match="bad item 0"):
        next(it)


def test_unsendable_item(pool: interpool.Pool) -> None:
    with pytest.raises(TypeError, match="lock") as info:
        list(pool.map(tasks.identity, [1, threading.Lock(), 3]))
    assert "argument" in str(info.value)
    assert list(pool.map(tasks.square, [3])) == [9]


def test_timeout(pool1: interpool.Pool) -> None:
    it = pool1.map(tasks.sleep_return, [0.5, 0.5, 0.5], range(3), timeout=0.05, chunksize=1)
    with pytest.raises(TimeoutError):
        next(it)


def test_timeout_not_reached(pool: interpool.Pool) -> None:
    assert list(pool.map(tasks.square, range(20), timeout=PATIENCE)) == [i * i for i in range(20)]


def test_closing_the_iterator_cancels_the_rest(pool1: interpool.Pool) -> None:
    it = pool1.map(tasks.count_call, ["close"] * 30, [0.02] * 30, chunksize=1)
    assert next(it) == 1
    it.close()  # type: ignore[attr-defined]
    # The call queued after map's runs after whatever was not cancelled.
    ran = pool1.submit(tasks.count_call, "close").result(timeout=PATIENCE) - 1
    assert 1 <= ran < 30

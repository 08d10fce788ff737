"""``progress=`` on ``map``, ``imap``, ``imap_unordered`` and ``amap``: a tqdm bar in the
caller, with a total when the inputs have a length, closed at the end."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

import interpool

from ..tasks import basic as tasks

tqdm = pytest.importorskip("tqdm")

pytestmark = pytest.mark.timeout(60)


class RecordingTqdm(tqdm.tqdm):  # type: ignore[misc,name-defined]
    """A tqdm bar that remembers every instance made (the bars interpool makes)."""

    made: ClassVar[list[RecordingTqdm]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = False
        RecordingTqdm.made.append(self)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[RecordingTqdm]:
    """The bars interpool makes during the test (``tqdm.tqdm`` replaced by a recorder)."""
    RecordingTqdm.made = []
    monkeypatch.setattr(tqdm, "tqdm", RecordingTqdm)
    return RecordingTqdm.made


def last_line(buffer: io.StringIO) -> str:
    """The bar's last rendering (tqdm redraws with carriage returns)."""
    return buffer.getvalue().replace("\n", "\r").rstrip("\r").rsplit("\r", 1)[-1]


Streams = Callable[..., Iterator[Any]]

SYNC_FORMS: dict[str, Callable[[interpool.Pool], Streams]] = {
    "map": lambda p: p.map,
    "map-chunks": lambda p: lambda *a, **k: p.map(*a, chunksize=4, **k),
    "map-buffered": lambda p: lambda *a, **k: p.map(*a, buffersize=2, **k),
    "imap": lambda p: p.imap,
    "imap_unordered": lambda p: p.imap_unordered,
    "options.map": lambda p: p.options(task_timeout=30).map,
    "options.imap": lambda p: p.options(task_timeout=30).imap,
    "options.imap_unordered": lambda p: p.options(task_timeout=30).imap_unordered,
}


@pytest.mark.parametrize("form", SYNC_FORMS)
def test_bar_counts_every_result_up_to_the_total(
    pool: interpool.Pool, bars: list[RecordingTqdm], form: str
) -> None:
    buffer = io.StringIO()
    call = SYNC_FORMS[form](pool)
    results = list(call(tasks.square, range(30), progress={"file": buffer, "desc": "sq"}))
    assert sorted(results) == [x * x for x in range(30)]
    assert len(bars) == 1
    bar = bars[0]
    assert (bar.n, bar.total, bar.closed) == (30, 30, True)
    assert last_line(buffer).startswith("sq: 100%")
    assert "30/30" in last_line(buffer)


def test_true_makes_a_default_bar(pool: interpool.Pool, bars: list[RecordingTqdm]) -> None:
    assert list(pool.map(tasks.square, [1, 2, 3], progress=True)) == [1, 4, 9]
    assert [(b.n, b.total, b.closed) for b in bars] == [(3, 3, True)]


def test_several_inputs_total_is_the_shortest(
    pool: interpool.Pool, bars: list[RecordingTqdm]
) -> None:
    buffer = io.StringIO()
    assert list(pool.map(tasks.add, range(10), range(7), progress={"file": buffer})) == [
        2 * x for x in range(7)
    ]
    assert (bars[0].n, bars[0].total) == (7, 7)


def test_input_without_length_has_no_total(pool: interpool.Pool, bars: list[RecordingTqdm]) -> None:
    buffer = io.StringIO()
    squares = pool.imap(tasks.square, (x for x in range(12)), progress={"file": buffer})
    assert list(squares) == [x * x for x in range(12)]
    assert (bars[0].n, bars[0].total, bars[0].closed) == (12, None, True)
    assert "12it" in last_line(buffer)


def test_a_given_total_is_kept(pool: interpool.Pool, bars: list[RecordingTqdm]) -> None:
    buffer = io.StringIO()
    list(pool.map(tasks.square, range(5), progress={"file": buffer, "total": 99}))
    assert (bars[0].n, bars[0].total) == (5, 99)


@pytest.mark.parametrize("form", ["map", "imap", "imap_unordered"])
def test_closing_early_closes_the_bar(
    pool: interpool.Pool, bars: list[RecordingTqdm], form: str
) -> None:
    buffer = io.StringIO()
    results = SYNC_FORMS[form](pool)(tasks.square, range(100), progress={"file": buffer})
    next(results)
    assert not bars[0].closed
    results.close()  # type: ignore[attr-defined]
    assert (bars[0].n, bars[0].total, bars[0].closed) == (1, 100, True)


def test_closing_before_the_first_result_closes_the_bar(
    pool: interpool.Pool, bars: list[RecordingTqdm]
) -> None:
    results = pool.imap(tasks.square, range(10), progress={"file": io.StringIO()})
    results.close()  # type: ignore[attr-defined]
    assert (bars[0].n, bars[0].closed) == (0, True)


def test_an_error_closes_the_bar(pool: interpool.Pool, bars: list[RecordingTqdm]) -> None:
    results = pool.map(tasks.fail_at, range(10), [4] * 10, chunksize=1, progress=True)
    with pytest.raises(ValueError):
        list(results)
    assert (bars[0].n, bars[0].closed) == (4, True)


def test_a_bar_object_is_advanced_and_left_open(pool: interpool.Pool) -> None:
    buffer = io.StringIO()
    with tqdm.tqdm(total=8, file=buffer) as bar:
        assert list(pool.map(tasks.square, range(5), progress=bar)) == [0, 1, 4, 9, 16]
        assert list(pool.imap_unordered(tasks.square, range(3), progress=bar))
        assert bar.n == 8
        assert not bar.disable  # not closed: tqdm disables a bar when it closes
    assert "8/8" in last_line(buffer)


def test_false_and_none_return_the_plain_iterator(pool: interpool.Pool) -> None:
    plain = type(pool.map(tasks.square, [1]))
    assert type(pool.map(tasks.square, [1], progress=False)) is plain
    assert type(pool.map(tasks.square, [1], progress=None)) is plain


@pytest.mark.parametrize("bad", [3, "yes", object(), {1: 2}])
def test_a_bad_progress_value_is_refused(pool: interpool.Pool, bad: object) -> None:
    with pytest.raises(TypeError, match="progress"):
        pool.map(tasks.square, [1], progress=bad)  # type: ignore[arg-type]


class Pulled:
    """An input that counts the items taken from it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0

    def __iter__(self) -> Iterator[int]:
        for x in range(self.n):
            self.pulled += 1
            yield x


@pytest.mark.parametrize("form", ["map", "imap", "imap_unordered", "options.map"])
def test_missing_tqdm_raises_at_the_call_before_anything_runs(
    pool: interpool.Pool, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    source = Pulled(5)
    with pytest.raises(ImportError, match=r"interpool\[progress\]"):
        SYNC_FORMS[form](pool)(tasks.square, source, progress=True)
    assert source.pulled == 0
    # A bar object needs no tqdm.
    assert list(pool.map(tasks.square, [2], progress=FakeBar())) == [4]


def test_missing_tqdm_raises_at_amap_call(
    pool: interpool.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ImportError, match=r"interpool\[progress\]"):
        pool.amap(tasks.square, range(3), progress={"desc": "x"})


class FakeBar:
    """A bar with just ``update`` and ``close``."""

    def __init__(self) -> None:
        self.n = 0
        self.closed = False

    def update(self, n: float = 1) -> None:
        self.n += int(n)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("options", [False, True])
@pytest.mark.parametrize("ordered", [True, False])
def test_amap_bar(
    pool: interpool.Pool, bars: list[RecordingTqdm], ordered: bool, options: bool
) -> None:
    source = pool.options(task_timeout=30) if options else pool

    async def main() -> list[int]:
        buffer = io.StringIO()
        return [
            r
            async for r in source.amap(
                tasks.square, range(20), ordered=ordered, progress={"file": buffer}
            )
        ]

    assert sorted(asyncio.run(main())) == [x * x for x in range(20)]
    assert (bars[0].n, bars[0].total, bars[0].closed) == (20, 20, True)


def test_amap_async_input_and_early_aclose(pool: interpool.Pool, bars: list[RecordingTqdm]) -> None:
    async def numbers() -> Any:
        for x in range(50):
            yield x

    async def main() -> int:
        results = pool.amap(tasks.square, numbers(), progress={"file": io.StringIO()})
        first = await anext(results)
        await results.aclose()  # type: ignore[attr-defined]
        return first

    assert asyncio.run(main()) == 0
    assert (bars[0].n, bars[0].total, bars[0].closed) == (1, None, True)


def test_amap_fake_bar_is_left_open(pool: interpool.Pool) -> None:
    bar = FakeBar()

    async def main() -> list[int]:
        return [r async for r in pool.amap(tasks.square, range(6), progress=bar)]

    assert asyncio.run(main()) == [x * x for x in range(6)]
    assert (bar.n, bar.closed) == (6, False)

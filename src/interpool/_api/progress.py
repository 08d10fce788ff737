"""Progress bars for ``map``, ``imap``, ``imap_unordered`` and ``amap``: ``progress=``.

The bar is a `tqdm <https://tqdm.github.io>`_ bar that lives in the caller's
interpreter: it advances by one for each result the iterator yields, whatever worker
computed it, so workers never import tqdm.  tqdm is an optional dependency
(``pip install 'interpool[progress]'``).

What ``progress=`` accepts:

* ``None`` or ``False`` (the default): no bar, and the iterator is returned as is.
* ``True``: a new ``tqdm.tqdm`` bar, with ``total`` the number of calls when it is
  known (the length of the input, or the shortest of several inputs, when each has
  ``len()``; else no total).
* a mapping of keyword arguments for ``tqdm.tqdm`` (``{"desc": "pages", "file":
  sys.stdout}``): a new bar made with them; ``total`` is filled in as for ``True``
  unless given.
* a bar object (a ``tqdm.tqdm`` instance, or anything with ``update(n)`` and
  ``close()``): used as is, not closed at the end, so that one bar may follow several
  calls; tqdm is then not imported.

A bar made here is closed when the iterator is exhausted, raises, or is closed early
(``close()``, ``aclose()``), and at the latest when it is garbage-collected.  A missing
tqdm raises ``ImportError`` when ``map`` (or the others) is called, before any task is
submitted.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Protocol

__all__ = ["Bar", "Progress", "make_bar", "tracked", "tracked_async"]


class Bar(Protocol):
    """What interpool needs of a progress bar (``tqdm.tqdm`` has it)."""

    def update(self, n: float = 1, /) -> object: ...
    def close(self) -> object: ...


#: The type of the ``progress=`` parameter (see the module docstring).
Progress = bool | Mapping[str, Any] | Bar | None

_MISSING_TQDM = (
    "progress=... needs tqdm, which is not installed: pip install 'interpool[progress]' "
    "(or pip install tqdm), or drop the progress argument"
)


def total_of(iterables: tuple[Any, ...]) -> int | None:
    """The number of calls over the zipped ``iterables``: the shortest length if every
    input has ``len()``, else ``None``."""
    lengths = []
    for iterable in iterables:
        try:
            lengths.append(len(iterable))
        except TypeError:
            return None
    return min(lengths) if lengths else None


def make_bar(progress: Progress, iterables: tuple[Any, ...]) -> tuple[Bar | None, bool]:
    """The bar ``progress`` asks for, and whether interpool owns it (closes it).

    ``(None, False)`` for no bar.  Raises ``ImportError`` if a new bar is asked for and
    tqdm is missing, ``TypeError`` for a value ``progress`` cannot be.
    """
    if progress is None or progress is False:
        return None, False
    if progress is True or isinstance(progress, Mapping):
        try:
            tqdm = importlib.import_module("tqdm").tqdm
        except ImportError as exc:
            raise ImportError(_MISSING_TQDM, name="tqdm") from exc
        options: dict[str, Any] = dict(progress) if isinstance(progress, Mapping) else {}
        for key in options:
            if not isinstance(key, str):
                raise TypeError(f"progress= mapping keys must be str (tqdm arguments), got {key!r}")
        options.setdefault("total", total_of(iterables))
        bar: Bar = tqdm(**options)
        return bar, True
    if callable(getattr(progress, "update", None)) and callable(getattr(progress, "close", None)):
        return progress, False
    raise TypeError(
        "progress must be None, a bool, a mapping of tqdm keyword arguments, or a bar "
        f"with update() and close() (a tqdm instance), got {type(progress).__name__}"
    )


class _WithBar:
    """What both tracked iterators share: the source, the bar, and whether the bar is
    ours to close (once: at the end, on error, on early close, or when collected)."""

    __slots__ = ("_bar", "_owned", "_source")

    def __init__(self, source: Any, bar: Bar, owned: bool) -> None:
        self._source = source
        self._bar = bar
        self._owned = owned

    def _finish(self) -> None:
        if self._owned:
            self._owned = False
            self._bar.close()

    def __del__(self) -> None:
        self._finish()


class _Tracked[T](_WithBar):
    """An iterator that advances ``bar`` by one per item of ``source``."""

    __slots__ = ()
    _source: Iterator[T]

    def __iter__(self) -> _Tracked[T]:
        return self

    def __next__(self) -> T:
        try:
            item = next(self._source)
        except BaseException:
            self._finish()
            raise
        self._bar.update(1)
        return item

    def close(self) -> None:
        """Close the underlying iterator (cancelling what it cancels) and the bar."""
        try:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


class _TrackedAsync[T](_WithBar):
    """An async iterator that advances ``bar`` by one per item of ``source``."""

    __slots__ = ()
    _source: AsyncIterator[T]

    def __aiter__(self) -> _TrackedAsync[T]:
        return self

    async def __anext__(self) -> T:
        try:
            item = await anext(self._source)
        except BaseException:
            self._finish()
            raise
        self._bar.update(1)
        return item

    async def aclose(self) -> None:
        """Close the underlying async iterator (cancelling what it cancels) and the bar."""
        try:
            aclose = getattr(self._source, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._finish()


def tracked[T](
    progress: Progress, iterables: tuple[Any, ...], start: Callable[[], Iterator[T]]
) -> Iterator[T]:
    """``start()`` (which submits the calls and returns their results' iterator),
    with the bar ``progress`` asks for.  The bar is made first, so that a missing
    tqdm raises before any task is submitted; it is closed if ``start()`` raises.
    Without a bar, ``start()``'s iterator itself is returned."""
    bar, owned = make_bar(progress, iterables)
    if bar is None:
        return start()
    return _Tracked(_start(start, bar, owned), bar, owned)


def tracked_async[T](
    progress: Progress, iterables: tuple[Any, ...], start: Callable[[], AsyncIterator[T]]
) -> AsyncIterator[T]:
    """:func:`tracked` for an async iterator (``amap``)."""
    bar, owned = make_bar(progress, iterables)
    if bar is None:
        return start()
    return _TrackedAsync(_start(start, bar, owned), bar, owned)


def _start[S](start: Callable[[], S], bar: Bar, owned: bool) -> S:
    """``start()``, closing the bar (if it is ours) when it raises."""
    try:
        return start()
    except BaseException:
        if owned:
            bar.close()
        raise

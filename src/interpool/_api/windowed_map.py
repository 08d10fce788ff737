"""Streaming results: ``map``'s ordered results (:func:`map_results`), and, with
bounded look-ahead, ``imap_unordered`` for threads and ``amap`` for event loops (asyncio
or trio).

None of them keeps a reference to a result it has yielded (as ``concurrent.futures``
promises): a chunk's results are handed out one by one, each forgotten as it goes.

Both take the calls' argument tuples from a lazy input, keep at most ``window`` calls
submitted and not yet yielded, and top the window up as results are yielded, so an
endless input is fine and memory stays bounded.  Leaving early (``break``, ``close()``,
an error, or the cancellation of the consuming task) cancels the calls no worker has
started; with ``interrupt``, running ones are interrupted too, else they finish and
their results are dropped.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from interpool._api.aio import ThreadsafeLoopEvent
from interpool._engine.futures import PoolFuture, deferred_interrupts

__all__ = ["amap", "imap_unordered", "map_results", "zip_inputs"]

#: Submits one call (its argument tuple) and returns its future.
Submit = Callable[[tuple[Any, ...]], PoolFuture[Any]]


def map_results[N](
    futures: deque[Any],
    end: float | None,
    chunks: Iterator[N] | None,
    submit_chunk: Callable[[N], Any],
) -> Iterator[Any]:
    """``map``'s results, in input order, from the futures of its chunks (a
    ``PoolFuture``, or another backend's future with the same
    ``cancel(interrupt=...)``, whose result is ``(values, error or None)``); with
    ``chunks``, one more chunk is submitted (``submit_chunk``) each time one is taken,
    so that ``buffersize`` chunks stay ahead.  A chunk's error
    is raised after its results before it; ``end``: the ``time.monotonic()`` after
    which waiting raises ``TimeoutError``.  Leaving early cancels the chunks no worker
    has started.

    No reference to a yielded result is kept: the chunk's future is dropped before its
    first result is yielded, and each result leaves the list as it is yielded."""
    try:
        while futures:
            if chunks is not None:
                chunk = next(chunks, None)
                if chunk is not None:
                    futures.append(submit_chunk(chunk))
            future = futures.popleft()
            try:
                if end is None:
                    values, error = future.result()
                else:
                    values, error = future.result(end - time.monotonic())
            except BaseException:
                future.cancel(interrupt=False)
                raise
            del future  # it holds the chunk's results too
            items = values if type(values) is list else list(values)
            del values
            items.reverse()
            while items:
                yield items.pop()
            if error is not None:
                raise error
    finally:
        # All of them, even if Ctrl-C comes meanwhile (it is raised at the end).
        with deferred_interrupts():
            for future in futures:
                future.cancel(interrupt=False)


def imap_unordered(
    submit: Submit, args: Iterator[tuple[Any, ...]], window: int, end: float | None
) -> Iterator[Any]:
    """Results in the order they complete (see the module docstring).  ``end``: the
    ``time.monotonic()`` after which waiting for a result raises ``TimeoutError``."""
    done: queue.SimpleQueue[PoolFuture[Any]] = queue.SimpleQueue()
    running: set[PoolFuture[Any]] = set()
    more = True
    try:
        while True:
            while more and len(running) < window:
                item = next(args, None)
                if item is None:
                    more = False
                    break
                future = submit(item)
                running.add(future)
                future.add_done_callback(done.put)  # type: ignore[arg-type]
                del future
            if not running:
                return
            if end is None:
                ready = [done.get()]
            else:
                try:
                    ready = [done.get(timeout=max(0.0, end - time.monotonic()))]
                except queue.Empty:
                    raise TimeoutError("interpool: no result arrived before the timeout") from None
            running.discard(ready[0])
            # No local keeps the future (or its result) while the result is yielded.
            yield ready.pop().result()
    finally:
        for future in running:
            future.cancel(interrupt=False)


def zip_inputs(iterables: tuple[Any, ...]) -> Iterator[tuple[Any, ...]] | AsyncIterator[Any]:
    """The argument tuples of ``zip(*iterables)``: an iterator if every input is a
    plain iterable, else an async iterator (inputs may mix both kinds)."""
    if not any(hasattr(it, "__aiter__") for it in iterables):
        return zip(*iterables, strict=False)
    return _azip(iterables)


async def _azip(iterables: tuple[Any, ...]) -> AsyncIterator[tuple[Any, ...]]:
    sources = [
        (True, it.__aiter__()) if hasattr(it, "__aiter__") else (False, iter(it))
        for it in iterables
    ]
    while True:
        items = []
        for is_async, source in sources:
            try:
                items.append(await anext(source) if is_async else next(source))
            except (StopIteration, StopAsyncIteration):
                return
        yield tuple(items)


class _Reader:
    """Reads an async input in one background task of the event loop, an item at a
    time on demand (:meth:`start`), so that results keep flowing while the input is
    slow to produce.  One task for the whole input: an input generator's context
    managers (``asyncio.timeout``, trio cancel scopes) stay in the task they began in.
    """

    __slots__ = ("_cancel", "_demand", "_event", "_source", "outcome", "reading")

    def __init__(self, source: AsyncIterator[Any], wakeup: ThreadsafeLoopEvent) -> None:
        self._source = source
        self._event = wakeup
        self._demand = ThreadsafeLoopEvent()
        self._cancel: Callable[[], object] | None = None
        #: ``None`` while nothing was read; else ``(True, item)``, ``(False, None)``
        #: at the end, or ``(False, exception)``.
        self.outcome: tuple[bool, Any] | None = None
        self.reading = False

    def start(self) -> None:
        """Read the next item (``outcome`` is set, and the consumer's wake-up
        notified, when it is there)."""
        self.reading = True
        if self._cancel is None:
            self._cancel = self._event.spawn(self._run)
        else:
            self._demand.notify()

    async def _run(self) -> None:
        try:
            while True:
                while not self.reading:
                    await self._demand.wait()
                    self._demand.arm()
                try:
                    self.outcome = (True, await anext(self._source))
                except StopAsyncIteration:
                    self.outcome = (False, None)
                except Exception as exc:  # noqa: BLE001 - handed to the consumer
                    self.outcome = (False, exc)
                self.reading = False
                self._event.notify()
                if not self.outcome[0]:
                    return
        except BaseException as exc:  # noqa: BLE001 - stopped (cancelled) by the consumer
            if self.reading:  # an interruption of the input itself: pass it on
                self.outcome = (False, exc)
                self.reading = False
                self._event.notify()

    def stop(self) -> None:
        """Stop the background task (the consumer is gone)."""
        if self._cancel is not None:
            self._cancel()


async def amap(
    submit: Submit,
    args: Iterator[tuple[Any, ...]] | AsyncIterator[tuple[Any, ...]],
    window: int,
    ordered: bool,
) -> AsyncIterator[Any]:
    """Results of the calls, in input order (``ordered``) or as they complete (see the
    module docstring).  A call's exception is raised at its place in the stream."""
    wakeup = ThreadsafeLoopEvent()
    running: deque[PoolFuture[Any]] = deque()
    done: deque[PoolFuture[Any]] = deque()
    reader = _Reader(args, wakeup) if not isinstance(args, Iterator) else None
    sync_args = args if isinstance(args, Iterator) else None
    more = True
    interrupt = False

    def finished(future: PoolFuture[Any]) -> None:
        done.append(future)  # thread-safe; read on the loop's thread
        wakeup.notify()

    # In input order only the oldest call matters: just wake up.
    callback: Callable[[Any], object] = wakeup.notify if ordered else finished

    def add(item: tuple[Any, ...]) -> None:
        future = submit(item)
        running.append(future)
        future.add_done_callback(callback)

    try:
        while True:
            wakeup.arm()
            # Top up the window.
            if sync_args is not None:
                while more and len(running) < window:
                    item = next(sync_args, None)
                    if item is None:
                        more = False
                    else:
                        add(item)
            elif reader is not None:
                while more and len(running) < window and not reader.reading:
                    if reader.outcome is None:
                        reader.start()
                        break
                    ok, value = reader.outcome
                    reader.outcome = None
                    if ok:
                        add(value)
                    elif value is None:
                        more = False
                    else:
                        raise value
            if not running and not more:
                return
            # Yield what is ready.
            # No local keeps a future (or its result) while its result is yielded.
            if ordered:
                if running and running[0].done():
                    yield running.popleft().result()
                    continue
            elif done:
                running.remove(done[0])
                yield done.popleft().result()
                continue
            await wakeup.wait()
    except BaseException as exc:
        # Cancelled (or interrupted) while waiting: stop the running calls too, as a
        # cancelled ``run()`` does.  Left early (``aclose``) or a call's error: let
        # the started calls finish.
        interrupt = not isinstance(exc, (GeneratorExit, Exception))
        raise
    finally:
        if reader is not None:
            reader.stop()
        for future in running:
            future.cancel(interrupt=interrupt)

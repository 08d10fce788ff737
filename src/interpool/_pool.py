"""``Pool``: the public executor and async API over a scheduler of worker interpreters."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Any, Self

from . import _handoff, _worker
from ._functions import alias_main, function_key, main_ref
from ._future import PoolFuture
from ._scheduler import Scheduler
from ._transport import dump_chunk, encode_call

__all__ = ["Pool"]

#: Upper bound of the automatic ``map`` chunk size.
MAX_AUTO_CHUNKSIZE = 256

_live: weakref.WeakSet[Scheduler] = weakref.WeakSet()
_exiting = False


def _at_exit() -> None:
    """Before the interpreter joins its threads at exit: stop every pool that is still
    open, letting queued tasks finish, so no sub-interpreter outlives the program."""
    global _exiting
    _exiting = True
    for scheduler in list(_live):
        scheduler.shutdown(wait=False, cancel_futures=False)
    for scheduler in list(_live):
        scheduler.join()


threading._register_atexit(_at_exit)  # type: ignore[attr-defined]


class Pool(Executor):
    """A pool of reusable sub-interpreters, each with its own GIL, running calls in
    parallel.  A drop-in ``concurrent.futures.Executor``, plus ``await pool.run(...)``.

    Workers start at once (in the background) and live until :meth:`shutdown`.  Each
    one is a sub-interpreter on its own thread, with the caller's ``sys.path``, which
    imports what a task needs once and keeps it.

    Args:
        max_workers: number of worker interpreters; defaults to
            ``os.process_cpu_count()`` (CPU-bound work gains nothing from more).
        initializer: called with ``*initargs`` once in each worker before its first
            task.  If it raises, the pool is broken: pending and later tasks fail with
            ``BrokenPool``.

    What can be sent: any callable.  Importable ones (module-level functions,
    classes, builtins, and functions of the ``__main__`` script, which workers load
    under another name so its ``if __name__ == "__main__":`` block does not run
    again) go by name; lambdas, closures and functions of the REPL, ``python -c`` or
    a notebook go by value (cloudpickle), at every call.  Arguments and results made
    of ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and short tuples of
    them cross without pickle; large buffers (``bytearray``, ``memoryview``,
    ``array``, ``PickleBuffer``) cross beside the pickle as shared views, copied at
    most once by the receiver; a large ``bytes`` result is handed over without a
    copy; anything else picklable is pickled.  A task's exception is re-raised with
    its type and message, with the worker's traceback as ``__cause__``.

    Use as a context manager (``with`` or ``async with``) or call :meth:`shutdown`.
    A pool that is never shut down is stopped when it is garbage-collected or when
    the program exits, after its queued tasks have run.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is None:
            max_workers = os.process_cpu_count() or 1
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be callable, got {type(initializer).__name__}")
        if _exiting:
            raise RuntimeError("cannot start a Pool during interpreter shutdown")
        alias_main()
        _handoff.prepare()
        init = None
        if initializer is not None:
            init = (function_key(initializer), *encode_call(tuple(initargs), {}))
        path = tuple(p for p in sys.path if isinstance(p, str))
        self._max_workers = max_workers
        self._scheduler = Scheduler(max_workers, path, main_ref(), init)
        self._help_wait = self._scheduler.help_wait
        _live.add(self._scheduler)
        self._finalizer = weakref.finalize(self, self._scheduler.shutdown, False, False)

    @property
    def max_workers(self) -> int:
        """The number of worker interpreters."""
        return self._max_workers

    def submit[**P, R](self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Schedule ``fn(*args, **kwargs)`` in a worker and return its future.

        The future can be cancelled until a worker is about to take it (up to
        ``2 * max_workers`` tasks are handed to workers ahead of time; those count as
        running).  Raises ``TypeError`` at once if ``fn`` or an argument cannot be
        sent to a worker, ``RuntimeError`` after :meth:`shutdown`, and ``BrokenPool``
        if the pool is broken.
        """
        key = function_key(fn)
        a, b = encode_call(args, kwargs)
        future: PoolFuture[R] = PoolFuture(self._help_wait)
        self._scheduler.submit(future, key, _worker.CALL, a, b)
        return future

    def map[R](
        self,
        fn: Callable[..., R],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
        buffersize: int | None = None,
    ) -> Iterator[R]:
        """Like ``concurrent.futures.Executor.map``: ``fn`` over the zipped
        ``iterables``, results in input order.

        Args:
            timeout: seconds from this call after which ``__next__`` raises
                ``TimeoutError`` for a result that is not ready; the rest is cancelled.
            chunksize: how many calls are sent to a worker as one task.  ``None`` (the
                default) picks one: about 8 chunks per worker, at most
                ``MAX_AUTO_CHUNKSIZE``, and 1 when the input's length is unknown and
                ``buffersize`` is set.  Pass ``1`` for one task per call.
            buffersize: with a value, at most that many chunks are submitted ahead of
                the results yielded so far, so the input is consumed lazily (it may
                then be infinite).  Without, the input is consumed at once, as the
                standard library does.

        An exception raised by a call is raised by ``__next__`` at that item, after
        the results before it.  Closing the iterator early (or an error) cancels the
        chunks not yet running.
        """
        if buffersize is not None and (
            not isinstance(buffersize, int) or isinstance(buffersize, bool) or buffersize < 1
        ):
            raise ValueError(f"buffersize must be None or a positive int, got {buffersize!r}")
        if chunksize is not None and (
            not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1
        ):
            raise ValueError(f"chunksize must be None or a positive int, got {chunksize!r}")
        end = None if timeout is None else time.monotonic() + timeout
        key = function_key(fn)
        args: Iterable[tuple[Any, ...]] = zip(*iterables, strict=False)
        if buffersize is None:
            args = list(args)
        if chunksize is None:
            chunksize = self._auto_chunksize(args)
        size = chunksize
        chunks = enumerate(itertools.batched(args, size, strict=False))

        def submit_encoded(encoded: tuple[int, Any]) -> Future[Any]:
            future: PoolFuture[Any] = PoolFuture(self._help_wait)
            self._scheduler.submit(future, key, _worker.CHUNK, encoded[1], encoded[0])
            return future

        def encode(numbered: _Numbered) -> tuple[int, Any]:
            number, chunk = numbered
            return dump_chunk(chunk, number * size)

        def submit_chunk(numbered: _Numbered) -> Future[Any]:
            return submit_encoded(encode(numbered))

        # Encode every chunk before submitting any, so that an item that cannot be
        # sent makes map() raise with nothing run.
        if buffersize is None:
            encoded = [encode(c) for c in chunks]
            futures = deque(submit_encoded(e) for e in encoded)
            del encoded
            return _map_results(futures, end, None, submit_chunk)
        first = [encode(c) for c in itertools.islice(chunks, buffersize)]
        futures = deque(submit_encoded(e) for e in first)
        del first
        return _map_results(futures, end, chunks, submit_chunk)

    def _auto_chunksize(self, args: Iterable[Any]) -> int:
        if not isinstance(args, list):
            return 1
        return max(1, min(len(args) // (8 * self._max_workers), MAX_AUTO_CHUNKSIZE))

    async def run[**P, R](self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` in a worker and await its result (asyncio).

        The event loop is never blocked: the result is handed to the loop by the
        pool's collector thread when it arrives.  If the awaiting task is cancelled
        before a worker takes the call, the call is cancelled; if it is already
        running, it runs to completion and its result is discarded.
        """
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks and release the workers once the queued tasks are done.

        Args:
            wait: block until every task has finished and every worker interpreter
                is destroyed.  With ``False`` this happens in the background.
            cancel_futures: cancel the tasks that no worker has taken yet.

        Calling it again is harmless; ``submit`` afterwards raises ``RuntimeError``.
        """
        self._scheduler.shutdown(wait, cancel_futures)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Shut down without blocking the event loop (waits in a helper thread)."""
        self._scheduler.shutdown(False, False)
        await asyncio.to_thread(self._scheduler.join)


#: A map chunk (argument tuples) with its number.
_Numbered = tuple[int, tuple[tuple[Any, ...], ...]]


def _map_results[R](
    futures: deque[Future[Any]],
    end: float | None,
    chunks: Iterator[_Numbered] | None,
    submit_chunk: Callable[[_Numbered], Future[Any]],
) -> Iterator[R]:
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
                future.cancel()
                raise
            yield from values
            if error is not None:
                raise error
    finally:
        for future in futures:
            future.cancel()

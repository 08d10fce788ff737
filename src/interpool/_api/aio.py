"""Awaiting a pool's futures from an event loop: asyncio or trio, with no thread per await.

A pool's futures are completed by whichever thread collects the results: the event
loop's own thread while it waits for them (it watches the pool's result signal: see
``_platform.eventloop``; a task submitted from an asyncio loop's thread arranges it, and
:func:`result_of` does under trio), else the pool's collector thread (or a caller
helping it).  :class:`ThreadsafeLoopEvent` carries that completion into the event loop:
``notify()`` may be called from any thread; on the loop's thread it sets the event at
once, elsewhere it hands a wake-up to the loop the way the loop itself prescribes
(``loop.call_soon_threadsafe`` under asyncio, ``TrioToken.run_sync_soon`` under trio;
anyio runs on one of the two, so it is served too).  The library in use
is detected (``_platform.eventloop``) when the event is made, in the awaiting task.
(It is not a ``_platform.signals`` signal, which wakes a thread blocked in the kernel,
in any interpreter.)

Nothing here imports trio: it is only used when the caller already runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from interpool._engine.futures import results_source
from interpool._platform import eventloop

get_ident = threading.get_ident

__all__ = ["ThreadsafeLoopEvent", "in_thread", "result_of"]


class ThreadsafeLoopEvent:
    """A re-armable event of the current event loop that any thread may set.

    The waiting side calls :meth:`arm` *before* it checks its condition, and awaits
    :meth:`wait` only if the condition is false; ``notify()`` after ``arm()`` then
    always ends that wait (it runs on the loop's thread, so it cannot slip in between).
    """

    __slots__ = ("_event", "_loop", "_notify", "_thread", "_trio")

    def __init__(self) -> None:
        self._trio: Any = None
        self._loop: asyncio.AbstractEventLoop | None = eventloop.asyncio_loop()
        if self._loop is None:
            self._trio = eventloop.trio()
            if self._trio is None:
                raise RuntimeError(
                    "interpool: await this from a running asyncio or trio event loop "
                    "(anyio on either works too); from plain threads use submit() and "
                    "Future.result() instead"
                ) from None
        self._event: Any = None
        self.arm()
        thread = self._thread = threading.get_ident()
        set_event = self._set
        if self._loop is not None:
            call = self._loop.call_soon_threadsafe

            def notify() -> None:
                if get_ident() == thread:  # completed by the loop itself: see eventloop
                    set_event()
                    return
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    call(set_event)

        else:
            run_soon = self._trio.lowlevel.current_trio_token().run_sync_soon
            finished = self._trio.RunFinishedError

            def notify() -> None:
                if get_ident() == thread:
                    set_event()
                    return
                with contextlib.suppress(finished):
                    run_soon(set_event)

        self._notify: Callable[[], None] = notify

    def _set(self) -> None:
        self._event.set()

    def arm(self) -> None:
        """Start a new wait: later notifications end it (earlier ones do not)."""
        if self._loop is not None:
            if self._event is None:
                self._event = asyncio.Event()
            else:
                self._event.clear()
        else:
            self._event = self._trio.Event()

    def notify(self, *_: object) -> None:
        """Wake the waiter (thread-safe; usable as a future's done callback)."""
        self._notify()

    def spawn(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], object]:
        """Run ``fn()`` as a background task of the loop; return what cancels it.
        ``fn`` must not raise (under trio it runs as a system task)."""
        if self._loop is not None:
            task = self._loop.create_task(fn())
            return task.cancel
        trio = self._trio
        scope = trio.CancelScope()

        async def run() -> None:
            # A system task must not raise: that would end the whole trio run.
            with contextlib.suppress(BaseException), scope:
                await fn()

        trio.lowlevel.spawn_system_task(run, context=contextvars.copy_context())
        cancel: Callable[[], object] = scope.cancel
        return cancel

    async def wait(self) -> None:
        """Wait for a notification after the last :meth:`arm`."""
        await self._event.wait()


async def in_thread[T](fn: Callable[[], T]) -> T:
    """Run ``fn()`` in a new thread and await what it returns (asyncio or trio);
    a cancellation of the awaiting task does not stop ``fn``."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            future.set_exception(exc)

    threading.Thread(target=run, name="interpool-wait").start()
    return await result_of(future, lambda: None)


async def result_of[T](future: Future[T], cancel: Callable[[], object]) -> T:
    """Await ``future``'s result in the current event loop.

    If the awaiting task is cancelled (or interrupted) first, ``cancel()`` is called
    and the cancellation propagates at once; a result that arrives later is dropped.
    """
    if not future.done():
        loop = eventloop.asyncio_loop()
        if loop is not None:
            await _asyncio_wait(loop, future, cancel)
            return future.result()
        wakeup = ThreadsafeLoopEvent()
        feed = None
        source = results_source(future)
        if wakeup._trio is not None and source is not None:
            # Under trio, the loop collects the pool's results itself while it waits
            # (under asyncio, the pool's submit() arranges it).
            feed = eventloop.trio_feed(wakeup._trio, source)
            if feed is not None:
                feed.acquire()
        future.add_done_callback(wakeup.notify)
        try:
            while not future.done():
                await wakeup.wait()
                wakeup.arm()
        except BaseException:
            if not future.done():
                cancel()
            raise
        finally:
            if feed is not None:
                feed.release()
    return future.result()


async def _asyncio_wait(
    loop: asyncio.AbstractEventLoop, future: Future[Any], cancel: Callable[[], object]
) -> None:
    """:func:`result_of`'s wait under asyncio: one loop future, set at once when the
    pool's future completes on the loop's thread (see ``_platform.eventloop``), else
    through ``call_soon_threadsafe``."""
    waiter = loop.create_future()
    thread = get_ident()

    def done(_: object) -> None:
        if get_ident() == thread:
            if not waiter.done():
                waiter.set_result(None)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_wake, waiter)

    future.add_done_callback(done)
    try:
        await waiter
    except BaseException:
        if not future.done():
            cancel()
        raise


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

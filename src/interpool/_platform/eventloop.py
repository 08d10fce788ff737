"""Which event loop runs the current thread: asyncio, trio, or none.

The one place that answers it, for the async layer (``_api.aio``) and for channels
(``_api.channel``).  asyncio comes first: when a thread runs both (trio in guest mode
on an asyncio loop), asyncio's primitives are the ones that work everywhere in it.
anyio runs on one of the two, so it is covered too.

Nothing here imports asyncio or trio (a library that is not imported cannot be
running), nor typing: channels import this in every worker interpreter.
"""

from __future__ import annotations

import contextlib
import sys
from _thread import get_ident as _get_ident

TYPE_CHECKING = False  # typing is slow to import, and every worker imports this
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol
else:
    Protocol = object

__all__ = ["GRACE", "ResultSource", "asyncio_feed", "asyncio_loop", "trio", "trio_feed"]

_modules = sys.modules


def asyncio_loop() -> Any:
    """The asyncio event loop running in this thread, or ``None``."""
    asyncio = _modules.get("asyncio")
    if asyncio is None:
        return None
    return asyncio._get_running_loop()


def trio() -> Any:
    """The ``trio`` module if this thread runs a trio task and no asyncio event loop,
    else ``None``."""
    trio = _modules.get("trio")
    if trio is None:
        return None
    if asyncio_loop() is not None:
        return None
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return None
    return trio


# -- a pool's results collected on an event loop's thread (issue 17) ----------------


class ResultSource(Protocol):
    """What a pool's scheduler offers an event loop that collects its results itself
    (``_engine.scheduler.Scheduler.listen``)."""

    def listen(self, alive: Callable[[], bool]) -> int | None: ...
    def unlisten(self, fd: int, alive: Callable[[], bool]) -> None: ...
    def collect(self, fd: int) -> None: ...


#: How long (s) a loop keeps watching a pool's results after its last waiter: awaits
#: one after another reuse one registration.
GRACE = 0.05

#: ``(id(loop or trio token), id(source)) -> feed``; touched only by the loop's thread.
_feeds: dict[tuple[int, int], _Feed] = {}


class _Feed:
    """One pool's results collected on one event loop's thread while the loop has
    waiters (:meth:`acquire`/:meth:`release`, on that thread only), and for
    :data:`GRACE` after the last one."""

    __slots__ = ("alive", "fd", "idle_since", "key", "loop", "source", "thread", "users")

    def __init__(self, key: tuple[int, int], loop: Any, source: ResultSource, fd: int) -> None:
        self.key = key
        self.loop = loop
        self.source = source
        self.fd = fd
        self.users = 0
        #: When the last waiter left, or -1 while no check is scheduled.
        self.idle_since = -1.0
        self.thread = _get_ident()
        self.alive: Callable[[], bool] = lambda: True

    def acquire(self) -> None:
        self.users += 1

    def release(self) -> None:
        """Drop a waiter (on the loop's thread)."""
        self.users -= 1
        if not self.users:
            checking = self.idle_since >= 0
            self.idle_since = self._now()
            if not checking:
                self._later(self._check)

    def release_from_any_thread(self, *_: object) -> None:
        """:meth:`release`, from any thread (usable as a future's done callback)."""
        if _get_ident() == self.thread:
            self.release()
        else:
            self._threadsafe(self.release)

    def _check(self) -> None:
        """:data:`GRACE` after a release: close if no waiter came since."""
        if self.users:
            self.idle_since = -1.0  # the next release schedules a check again
            return
        if self._now() - self.idle_since < GRACE:
            self._later(self._check)
            return
        self.close()

    def close(self) -> None:
        _forget(self)
        self._stop()
        self.source.unlisten(self.fd, self.alive)

    # asyncio by default; trio in _TrioFeed.
    def _now(self) -> float:
        return float(self.loop.time())

    def _later(self, fn: Callable[[], None]) -> None:
        self.loop.call_later(GRACE, fn)

    def _threadsafe(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to release
            self.loop.call_soon_threadsafe(fn)

    def _stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.remove_reader(self.fd)


def asyncio_feed(loop: Any, source: ResultSource) -> _Feed | None:
    """The feed of ``source``'s results on the asyncio ``loop`` running this thread
    (made, and its descriptor registered with ``add_reader``, on first need), or
    ``None`` if the pool is closing."""
    key = (id(loop), id(source))
    feed = _feeds.get(key)
    if feed is not None and feed.loop is loop and feed.source is source:
        return feed
    _purge()
    alive = _loop_alive(loop)
    fd = source.listen(alive)
    if fd is None:
        return None
    feed = _Feed(key, loop, source, fd)
    feed.alive = alive
    loop.add_reader(fd, source.collect, fd)
    _feeds[key] = feed
    return feed


def _loop_alive(loop: Any) -> Callable[[], bool]:
    return lambda: not loop.is_closed()


def _purge() -> None:
    """Forget the feeds of loops closed while they listened (asyncio.run() ends
    without a word): their sources drop them too (see ``Scheduler.listen``)."""
    for feed in list(_feeds.values()):
        if not feed.alive():
            _forget(feed)
            feed.source.unlisten(feed.fd, feed.alive)  # once, whoever calls it first


def _forget(feed: _Feed) -> None:
    """Drop ``feed`` from the registry (another loop's thread may be purging it too)."""
    if _feeds.get(feed.key) is feed:
        _feeds.pop(feed.key, None)


class _TrioFeed(_Feed):
    """:class:`_Feed` for trio: a system task waits in ``wait_readable``."""

    __slots__ = ("running", "trio")

    def __init__(self, key: tuple[int, int], trio: Any, source: ResultSource, fd: int) -> None:
        token = trio.lowlevel.current_trio_token()
        super().__init__(key, token, source, fd)
        self.trio = trio
        self.running = True
        trio.lowlevel.spawn_system_task(self._run, name="interpool-results")

    async def _run(self) -> None:
        trio = self.trio
        wait_readable = trio.lowlevel.wait_readable
        collect = self.source.collect
        fd = self.fd
        try:
            while True:
                if self.users:
                    await wait_readable(fd)
                    collect(fd)
                    continue
                with trio.move_on_after(GRACE) as scope:
                    await wait_readable(fd)
                if not scope.cancelled_caught:
                    collect(fd)
                elif not self.users:
                    return
        finally:
            self.running = False
            _forget(self)
            trio.lowlevel.notify_closing(fd)
            self.source.unlisten(fd, self.alive)

    def release(self) -> None:
        self.users -= 1  # the system task ends after GRACE without waiters

    def _threadsafe(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(self.trio.RunFinishedError):
            self.loop.run_sync_soon(fn)


def trio_feed(trio: Any, source: ResultSource) -> _Feed | None:
    """:func:`asyncio_feed` for the trio run of this thread."""
    token = trio.lowlevel.current_trio_token()
    key = (id(token), id(source))
    feed = _feeds.get(key)
    if feed is not None and feed.loop is token and feed.source is source and feed.alive():
        return feed
    holder: list[Any] = []

    def alive() -> bool:
        return not holder or holder[0].running

    fd = source.listen(alive)
    if fd is None:
        return None
    feed = _TrioFeed(key, trio, source, fd)
    feed.alive = alive
    holder.append(feed)
    _feeds[key] = feed
    return feed

"""The non-polling wake-ups between interpreters: the one eventfd module, used by the
scheduler and its task timer, the worker loop, the watchdog, the coroutine runner and
channels.

* A *signal* is a counter on an ``eventfd`` (a pipe where there is none).  Its file
  descriptors are plain ``int`` s, so they cross into a sub-interpreter natively and
  both sides use the same kernel object: any interpreter may :func:`notify` it, and
  its waiter blocks in the kernel with the GIL released (a blocking
  ``concurrent.interpreters.Queue.get()``, by contrast, sleeps between polls).  The
  functions take the descriptors; :class:`Signal` owns a pair and closes it.

  - A *blocking* signal (:class:`Signal`, ``new(blocking=True)``) has one waiter:
    :func:`wait` (or :func:`wait_for`) sleeps until it is notified and consumes every
    pending notification.
  - A *non-blocking* one (``new(blocking=False)``, the channels') may have several
    waiters: each sleeps in :func:`readable` (or in an event loop, on the read end)
    and then :func:`drain` s it, which does not block if another waiter consumed the
    notification first.

  A signal is not a POSIX signal (the ``signal`` module), and not an event of an event
  loop (that is ``_api.aio.ThreadsafeLoopEvent``, which wakes an asyncio or trio loop
  from another thread of the same interpreter).
* :class:`Doorbells`: a small ``bytearray`` owned by the caller's (main) interpreter
  and shared with every worker as a ``memoryview`` (zero-copy), so each side can tell
  whether the other needs a kernel wake-up at all:

  - byte ``0`` is set while any caller polls the result queue (see
    ``Scheduler.help_wait`` in ``_engine.scheduler``): while it is set, workers do not
    signal the collector thread, whose wake-up would otherwise steal the caller's GIL;
  - byte ``1 + i`` is worker ``i``'s state: :data:`BUSY` (running a task),
    :data:`POLLING` (idle, checking the task queue for a short while) or
    :data:`SLEEPING` (blocked on its own signal).  For the tasks that wait in the
    queue, the scheduler signals only as many sleeping workers as there are tasks
    beyond the polling workers, which will take them anyway.

  Both follow the same rule, which makes lost wake-ups impossible: each side first
  writes its flag (or its queue item), then reads the other side's (queue operations
  take a mutex, a full memory barrier), so at least one of the two sees the other.

Whoever wakes may find nothing to do; waking is a hint, and every waiter re-checks
its queue.  The ``bytearray`` lives in the main interpreter, which outlives every
worker, so no view of it can dangle.
"""

from __future__ import annotations

import os
import select

__all__ = [
    "BUSY",
    "POLLING",
    "SLEEPING",
    "Doorbells",
    "Signal",
    "close",
    "drain",
    "new",
    "notify",
    "readable",
    "wait",
    "wait_either",
    "wait_for",
]

BUSY = 0
POLLING = 1
SLEEPING = 2

_HAVE_EVENTFD = hasattr(os, "eventfd")
_POLLIN = select.POLLIN
_poll = select.poll


def new(*, blocking: bool = True) -> tuple[int, int]:
    """A new signal: ``(read fd, write fd)`` (one eventfd on Linux: both are the same
    descriptor).  The caller closes them (:func:`close`)."""
    if _HAVE_EVENTFD:
        flags = os.EFD_CLOEXEC if blocking else os.EFD_CLOEXEC | os.EFD_NONBLOCK
        fd = os.eventfd(0, flags)
        return fd, fd
    r, w = os.pipe()  # pragma: no cover - non-Linux
    if not blocking:  # pragma: no cover
        os.set_blocking(r, False)
        os.set_blocking(w, False)
    return r, w  # pragma: no cover


def close(rfd: int, wfd: int) -> None:
    """Close a signal's descriptors (once no interpreter can still use them)."""
    os.close(rfd)
    if wfd != rfd:
        os.close(wfd)


class Signal:
    """A signal (see the module docstring) that owns its descriptors: its ``rfd`` and
    ``wfd`` are handed to the workers, and :meth:`close` closes them.

    ``blocking=False`` makes a non-blocking one, which an event loop may watch beside
    its thread's own waiter (see ``Scheduler.listen``); :meth:`wait` still blocks."""

    __slots__ = ("_blocking", "_closed", "rfd", "wfd")

    def __init__(self, *, blocking: bool = True) -> None:
        self._closed = False
        self._blocking = blocking
        self.rfd, self.wfd = new(blocking=blocking)

    def notify(self) -> None:
        """Wake the waiter (or make its next ``wait()`` return at once)."""
        notify(self.wfd)

    def wait(self) -> None:
        """Block (GIL released) until notified; consumes all pending notifications."""
        if self._blocking:
            wait(self.rfd)
        else:
            readable(self.rfd, None)
            drain(self.rfd)

    def close(self) -> None:
        """Close the descriptors.  Only once no interpreter can still use them."""
        if self._closed:
            return
        self._closed = True
        close(self.rfd, self.wfd)


if _HAVE_EVENTFD:
    _eventfd_write = os.eventfd_write
    _eventfd_read = os.eventfd_read

    def notify(wfd: int) -> None:
        """Notify the signal whose write end is ``wfd``."""
        try:  # noqa: SIM105 - on the hot path, and contextlib.suppress() is slower
            _eventfd_write(wfd, 1)
        except BlockingIOError:  # pragma: no cover - a full counter is readable anyway
            pass

    def wait(rfd: int) -> None:
        """Block until the signal whose read end is ``rfd`` is notified; consume it."""
        _eventfd_read(rfd)

    def drain(rfd: int) -> None:
        """Consume the pending notifications of a non-blocking signal, if any."""
        try:  # noqa: SIM105 - as in notify()
            _eventfd_read(rfd)
        except BlockingIOError:  # another waiter consumed them first
            pass

else:  # pragma: no cover - non-Linux: a pipe

    def notify(wfd: int) -> None:
        """Notify the signal whose write end is ``wfd``."""
        try:  # noqa: SIM105 - as above
            os.write(wfd, b"\0")
        except BlockingIOError:  # a full pipe is readable anyway
            pass

    def wait(rfd: int) -> None:
        """Block until the signal whose read end is ``rfd`` is notified; consume it."""
        os.read(rfd, 4096)

    def drain(rfd: int) -> None:
        """Consume the pending notifications of a non-blocking signal, if any."""
        try:  # noqa: SIM105 - as above
            os.read(rfd, 4096)
        except BlockingIOError:  # another waiter consumed them first
            pass


def readable(rfd: int, ms: int | None) -> bool:
    """Sleep (GIL released) until the signal whose read end is ``rfd`` is notified, or
    ``ms`` milliseconds pass (``None``: no limit); True if it was notified.  Consumes
    nothing: follow with :func:`wait` (blocking signal) or :func:`drain`.

    (``poll``, not ``select``: a process with many signals has descriptors beyond
    ``select``'s limit.)"""
    poller = _poll()
    poller.register(rfd, _POLLIN)
    return bool(poller.poll(ms))


def wait_either(first: int | None, second: int, ms: int | None = None) -> bool:
    """Sleep (GIL released) until the non-blocking signal ``first`` (if not ``None``)
    or ``second`` is notified, or ``ms`` milliseconds pass (``None``: no limit); drain
    whichever was notified.  True if one was."""
    poller = _poll()
    if first is not None:
        poller.register(first, _POLLIN)
    poller.register(second, _POLLIN)
    events = poller.poll(ms)
    for fd, _ in events:
        drain(fd)
    return bool(events)


def wait_for(rfd: int, timeout: float) -> bool:
    """:func:`wait`, for at most ``timeout`` seconds; True if it was notified."""
    ms = int(timeout * 1000)
    if ms < timeout * 1000:  # round up: never wake before the time
        ms += 1
    if not readable(rfd, ms):
        return False
    wait(rfd)
    return True


class Doorbells:
    """The shared flags described in the module docstring (caller side)."""

    __slots__ = ("_buf", "view")

    def __init__(self, workers: int) -> None:
        self._buf = bytearray(1 + workers)
        #: What workers get; index ``1 + i`` is worker ``i``'s sleeping flag.
        self.view = memoryview(self._buf)

    def wake(self, worker: int) -> bool:
        """If ``worker`` sleeps, mark it polling and return True: the caller must then
        notify its signal.  Marking it here keeps a second task from being counted
        against the same sleeper before it runs."""
        if self._buf[1 + worker] == SLEEPING:
            self._buf[1 + worker] = POLLING
            return True
        return False

    def polling(self) -> int:
        """How many workers are idle and polling the task queue."""
        return self._buf.count(POLLING, 1)

    @property
    def buffer(self) -> bytearray:
        """The flags themselves, for the scheduler's hot paths: it sets byte 0 while
        any caller polls (under its lock) and tests for sleepers."""
        return self._buf

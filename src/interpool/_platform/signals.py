"""The non-polling wake-ups between the caller and its worker interpreters.

Two pieces:

* :class:`Signal`: a counter on an ``eventfd`` (a pipe where there is none).  Its file
  descriptors are plain ``int`` s, so they cross into a sub-interpreter natively and
  both sides use the same kernel object.  ``wait()`` blocks in the kernel with the GIL
  released and consumes every pending ``notify()``; a blocking
  ``concurrent.interpreters.Queue.get()``, by contrast, sleeps 10 ms between polls.
* :class:`Doorbells`: a small ``bytearray`` owned by the caller's (main) interpreter
  and shared with every worker as a ``memoryview`` (zero-copy), so each side can tell
  whether the other needs a kernel wake-up at all:

  - byte ``0`` is set while any caller polls the result queue (see ``_future``):
    while it is set, workers do not signal the collector thread,
    whose wake-up would otherwise steal the caller's GIL;
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

__all__ = ["BUSY", "POLLING", "SLEEPING", "Doorbells", "Signal", "notify", "wait"]

BUSY = 0
POLLING = 1
SLEEPING = 2

_HAVE_EVENTFD = hasattr(os, "eventfd")


class Signal:
    """A wake-up counter whose ends are plain file descriptors."""

    __slots__ = ("_closed", "rfd", "wfd")

    def __init__(self) -> None:
        self._closed = False
        if _HAVE_EVENTFD:
            self.rfd = self.wfd = os.eventfd(0, os.EFD_CLOEXEC)
        else:  # pragma: no cover - non-Linux
            self.rfd, self.wfd = os.pipe()

    def notify(self) -> None:
        """Wake the waiter (or make its next ``wait()`` return at once)."""
        notify(self.wfd)

    def wait(self) -> None:
        """Block (GIL released) until notified; consumes all pending notifications."""
        wait(self.rfd)

    def close(self) -> None:
        """Close the descriptors.  Only once no interpreter can still use them."""
        if self._closed:
            return
        self._closed = True
        os.close(self.rfd)
        if self.wfd != self.rfd:
            os.close(self.wfd)


def notify(wfd: int) -> None:
    """Notify the signal whose write end is ``wfd``."""
    if _HAVE_EVENTFD:
        os.eventfd_write(wfd, 1)
    else:  # pragma: no cover - non-Linux
        os.write(wfd, b"\0")


def wait_for(rfd: int, timeout: float) -> bool:
    """:func:`wait`, for at most ``timeout`` seconds; True if it was notified."""
    import select

    if not select.select([rfd], [], [], timeout)[0]:
        return False
    wait(rfd)
    return True


def wait(rfd: int) -> None:
    """Block until the signal whose read end is ``rfd`` is notified; consume it."""
    if _HAVE_EVENTFD:
        os.eventfd_read(rfd)
    else:  # pragma: no cover - non-Linux
        os.read(rfd, 4096)


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

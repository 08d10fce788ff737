"""A callback timer: ``at(delay, callback)`` runs ``callback()`` on one shared thread
``delay`` seconds from now, unless the returned :class:`Deadline` is cancelled first.

It serves the time limits of the threads and Dask backends, whose tasks run in the
caller's own interpreter, so a limit is set by a Python call at a moment the caller
knows.  The thread starts with the first deadline and sleeps on a condition variable
until the nearest one; callbacks must be quick (they fail a future, raise in a
thread, release a Dask future) and never raise (an error is reported with
``sys.excepthook``-style printing and the timer goes on).  It is a daemon thread: a
pending deadline never holds the program's exit.

Why the interpreters backend has its own timer (``_engine.task_timer``) instead: its
tasks start in worker interpreters, which cannot call into this module (a callback is
an object of the caller's interpreter); a worker can only notify a file descriptor.
So that timer sleeps on a :mod:`signal <interpool._platform.signals>`, and on each
wake-up reads the start times the workers wrote into shared memory.  Building one on
the other would make this thread wait on every pool's descriptor, or make workers
report their starts through the caller, on their hot path.

A platform primitive: it imports nothing of interpool.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
from collections.abc import Callable

__all__ = ["Deadline", "at"]


class Deadline:
    """A callback due at a moment; :meth:`cancel` stops it from running."""

    __slots__ = ("_callback", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self._callback: Callable[[], object] | None = callback

    def cancel(self) -> None:
        """Make sure the callback does not run (if it has not started)."""
        self._callback = None

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            try:
                callback()
            except Exception:  # noqa: BLE001 - the timer serves every pool
                traceback.print_exc()


_lock = threading.Condition(threading.Lock())
_heap: list[tuple[float, int, Deadline]] = []
_order = itertools.count()
_thread: threading.Thread | None = None


def at(delay: float, callback: Callable[[], object]) -> Deadline:
    """Run ``callback()`` on the timer thread in ``delay`` seconds (see the module
    docstring); cancel the returned :class:`Deadline` to call it off."""
    global _thread
    deadline = Deadline(time.monotonic() + delay, callback)
    with _lock:
        heapq.heappush(_heap, (deadline.when, next(_order), deadline))
        if _thread is None:
            _thread = threading.Thread(target=_loop, name="interpool-deadlines", daemon=True)
            _thread.start()
        _lock.notify()
    return deadline


def _loop() -> None:
    while True:
        with _lock:
            while True:
                # Drop cancelled deadlines at the top, so that they do not pile up.
                while _heap and _heap[0][2]._callback is None:
                    heapq.heappop(_heap)
                now = time.monotonic()
                if _heap and _heap[0][0] <= now:
                    due = heapq.heappop(_heap)[2]
                    break
                _lock.wait(None if not _heap else _heap[0][0] - now)
        due._fire()

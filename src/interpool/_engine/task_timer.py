"""Task time limits of the interpreters backend (caller side): one thread per pool,
started with its first timed task, that fails a task with ``TimeoutError`` when its
limit passes.

A limit counts from the moment a worker starts the task (for a ``map`` chunk, from
the start of each call in it), not from ``submit``: time spent queued behind other
tasks is not the task's fault.  The worker records that moment in ``started[slot]``,
then the task's id in ``tasks[slot]``, and notifies :attr:`TaskTimer.signal`; the
timer reads them in the opposite order, so it never pairs a task with an older start.
It sleeps until the nearest deadline; when one passes and the slot still runs that
task (and no later call of its chunk restarted the clock) it calls ``expire``, which
fails the task's future at once and has the worker interrupted and replaced (see
``Scheduler._expire``).

How it differs from the callback timer of the threads and Dask backends
(``_platform.deadlines``): those backends know when a task starts, in the caller's
interpreter, and schedule a callback then.  Here the start happens in a worker
interpreter, which can only write shared memory and notify a file descriptor, so this
thread sleeps on a signal rather than on a condition variable, and learns the
deadlines from the slots when it wakes.  Being one per pool, a slow ``expire`` (it
runs the future's done callbacks) delays only its own pool's limits.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

from interpool._engine.slots import Slots
from interpool._platform import signals
from interpool._platform.signals import Signal

__all__ = ["TaskTimer"]


class TaskTimer:
    """The timer thread of one pool (see the module docstring).

    ``limit_of(task_id)`` gives the time limit of a task that is still running, or
    ``None``; ``expire(task_id, slot, limit)`` is called when it has run too long.
    """

    def __init__(
        self,
        slots: Slots,
        limit_of: Callable[[int], float | None],
        expire: Callable[[int, int, float], None],
    ) -> None:
        self.signal = Signal()
        self._slots = slots
        self._limit_of = limit_of
        self._expire = expire
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread if it is not running yet (before the first timed task
        is queued)."""
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="interpool-timer")
                self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.signal.close()

    def stop(self) -> None:
        """End the thread, and close the signal (only once no worker can notify it
        any more).  Does not wait: the thread may be the one calling this, through
        a future's done callback that shuts the pool down; it closes the signal
        itself as it ends."""
        with self._lock:
            self._stopping = True
            if self._thread is None:
                self.signal.close()
                return
        self.signal.notify()

    def _loop(self) -> None:
        slots = self._slots
        tasks, started = slots.tasks, slots.started
        seen = [-1] * slots.count
        # (deadline, task id, slot, limit)
        heap: list[tuple[float, int, int, float]] = []
        rfd = self.signal.rfd
        while True:
            if not heap:
                signals.wait(rfd)
            else:
                delay = heap[0][0] - time.monotonic()
                if delay > 0:
                    signals.wait_for(rfd, delay)
            if self._stopping:
                return
            for slot in range(slots.count):
                task_id = tasks[slot]
                if task_id >= 0 and task_id != seen[slot]:
                    seen[slot] = task_id
                    limit = self._limit_of(task_id)
                    if limit is not None:
                        heapq.heappush(heap, (started[slot] + limit, task_id, slot, limit))
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                _, task_id, slot, limit = heapq.heappop(heap)
                if tasks[slot] != task_id:
                    continue  # finished in time
                deadline = started[slot] + limit
                if deadline > now:  # a later call of its chunk restarted the clock
                    heapq.heappush(heap, (deadline, task_id, slot, limit))
                    continue
                self._expire(task_id, slot, limit)

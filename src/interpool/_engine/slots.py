"""Worker slots: the control state a pool shares with each worker interpreter.

A pool has ``2 * max_workers`` slots; a worker occupies one for its whole life.  The
spare slots let a replacement start while the worker it replaces still exists (a
worker retired because its task timed out or was cancelled keeps its slot until its
code returns: see ``_worker.watchdog``).  Per slot, in memory the workers share with the
caller (``bytearray``\\s of the main interpreter, which outlives every worker); the
values are defined in ``_wire.protocol``, which the worker side imports (it never
imports this module):

* ``tasks[i]``: the id of the task worker ``i`` is running, :data:`IDLE` between
  tasks, or :data:`BOOTING` until it has started.  Written by the worker.
* ``started[i]``: when (``time.monotonic()``) its current timed task, or map item,
  started.  Written by the worker before ``tasks[i]``.
* ``targets[i]``: the task the pool wants interrupted.  Written by the pool before it
  notifies the worker's watchdog signal.
* ``orders[i]``: :data:`RUN`, or :data:`RETIRE` (exit before the next task), written
  by the pool; a worker leaving of its own accord writes why (:data:`LEFT_IDLE`,
  :data:`LEFT_RECYCLED`).

Per slot too, a cancel queue: the pool puts there the id of a task whose coroutine
the slot's worker runs on its event loop, to cancel it (see ``_worker.coroutines``), and
notifies the slot's cancel signal.

Plus one shared table, ``skips``: byte ``task_id & SKIP_MASK`` is set while a queued
task is cancelled, so the worker that takes it skips it.  (A cancelled task leaves
the table when its reply arrives; at most ``2 * max_workers`` tasks are queued, far
fewer than the table's size, so two live tasks never share a byte.)
"""

from __future__ import annotations

from interpool._platform import interpreters
from interpool._platform.signals import Signal
from interpool._wire.protocol import BOOTING, IDLE, RUN, SKIP_MASK

__all__ = ["Slots"]


class Slots:
    """The caller's side of the slots (see the module docstring)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._tasks = bytearray(8 * count)
        self._started = bytearray(8 * count)
        self._targets = bytearray(8 * count)
        self.tasks = memoryview(self._tasks).cast("q")
        self.started = memoryview(self._started).cast("d")
        self.targets = memoryview(self._targets).cast("q")
        self.orders = bytearray(count)
        self.skips = bytearray(SKIP_MASK + 1)
        for i in range(count):
            self.tasks[i] = BOOTING
        #: Per slot: the signal its worker sleeps on between tasks, the one its
        #: watchdog thread sleeps on, and the one its event loop watches for
        #: cancelled coroutines.
        self.task_signals = [Signal() for _ in range(count)]
        self.watch_signals = [Signal() for _ in range(count)]
        self.cancel_signals = [Signal() for _ in range(count)]
        self.cancel_queues = [interpreters.create_queue() for _ in range(count)]
        self._free = list(range(count - 1, -1, -1))

    def shared(self) -> tuple[memoryview, ...]:
        """What a worker gets: ``(tasks, started, targets, orders, skips)`` as byte
        views of the caller's memory (the worker casts them)."""
        return (
            memoryview(self._tasks),
            memoryview(self._started),
            memoryview(self._targets),
            memoryview(self.orders),
            memoryview(self.skips),
        )

    def take(self) -> int | None:
        """A free slot, reset for a new worker, or ``None`` if all are in use."""
        if not self._free:
            return None
        slot = self._free.pop()
        self.tasks[slot] = BOOTING
        self.orders[slot] = RUN
        self.targets[slot] = IDLE
        return slot

    def has_free(self) -> bool:
        """True if a slot is free."""
        return bool(self._free)

    def release(self, slot: int) -> None:
        """Give back the slot of a worker whose thread has ended."""
        self.tasks[slot] = BOOTING
        self._free.append(slot)

    def running(self, task_id: int) -> int | None:
        """The slot whose worker is running ``task_id``, if any."""
        tasks = self.tasks
        for slot in range(self.count):
            if tasks[slot] == task_id:
                return slot
        return None

    def close(self) -> None:
        """Close every signal: only once no worker can use them."""
        for signal in (*self.task_signals, *self.watch_signals, *self.cancel_signals):
            signal.close()

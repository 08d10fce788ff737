"""The task clock: when each task started and ended in its worker, in memory the
caller shares with the worker interpreters (see ``_engine.stats``).

One ``bytearray`` of the main interpreter per pool, viewed as doubles
(``memoryview.cast("d")``; ``time.perf_counter()``, whose clock is the process's,
so the same in every interpreter):

* a task table of :data:`ENTRIES` entries of :data:`FIELDS` doubles, at
  ``(task_id & MASK) * FIELDS``: the task's id, the worker's slot, when the worker
  took it and when it had its result (``0.0`` until then).  The worker writes them
  before it replies (a queue operation: a memory barrier), so the caller reading the
  reply reads them too; it checks the id, as a later task may share the entry (a
  collision needs :data:`ENTRIES` results pending at once: its timing is then lost,
  never the result);
* then per slot, :data:`SLOT_FIELDS` doubles at ``SLOTS_AT + slot * SLOT_FIELDS``:
  when the worker loop started in its fresh interpreter, and when its initializer
  had returned (``0.0`` until then).

Imported by every worker: it imports nothing.
"""

from __future__ import annotations

__all__ = [
    "END",
    "ENTRIES",
    "FIELDS",
    "ID",
    "MASK",
    "READY",
    "SERVING",
    "SLOT",
    "SLOTS_AT",
    "SLOT_FIELDS",
    "START",
    "size",
]

#: Entries of the task table (a power of two), and the mask of a task id's entry.
ENTRIES = 1024
MASK = ENTRIES - 1
#: An entry's fields.
FIELDS = 4
ID = 0
SLOT = 1
START = 2
END = 3
#: Where the slots' fields begin, and each slot's fields.
SLOTS_AT = ENTRIES * FIELDS
SLOT_FIELDS = 2
SERVING = 0
READY = 1


def size(slots: int) -> int:
    """The table's size in bytes for a pool of ``slots`` slots."""
    return 8 * (SLOTS_AT + slots * SLOT_FIELDS)

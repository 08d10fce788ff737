"""The messages between a pool's scheduler and its worker loops, and their codes.

Defined once, here; both sides (``_engine.scheduler`` in the caller,
``_worker.loop`` and ``_worker.coroutines`` in each worker interpreter) read them by
these names.  A message is a plain ``tuple`` of ``int``, ``float``, ``str``,
``bytes``, ``None`` and such tuples (plus ``memoryview`` objects inside a
:data:`BUFFERS` payload), so that the cross-interpreter queues share it natively,
without pickle: a ``NamedTuple`` would be pickled.  So the fields are index constants,
and the messages are built as tuple literals in field order, and read by unpacking
(the hot path) or by these indices.

Task message (scheduler -> worker, on the shared task queue)
------------------------------------------------------------
``(task_id, function, kind, args, args_format, limit)``:

* ``function``: the key of the function to call (see ``_wire.functions``).
* ``kind``: :data:`CALL` or :data:`CHUNK`.
* For :data:`CALL`, ``args, args_format`` are ``transport.encode_call``'s output:
  ``(args, keyword items)`` when every argument is native (``args_format`` is then a
  tuple), else ``(payload, format)`` of ``(args, kwargs)``.  For :data:`CHUNK`
  (``map``), ``args`` is the payload of the chunk's argument tuples and
  ``args_format`` its format (``transport.dump_chunk``).
* ``limit``: the task's time limit in seconds, or ``None``.  For a timed task the
  worker records when it starts (each item of a chunk restarts the clock) and wakes
  the pool's timer (``_engine.task_timer``).

``None`` instead of a task message tells one worker to stop.

Result message (worker -> scheduler, on the result queue)
---------------------------------------------------------
``(task_id, status, value, handed)``.  On success ``status`` is the format of the
payload ``value`` (:data:`NATIVE`, :data:`PICKLE` or :data:`BUFFERS`, see
``transport.dump``); else:

* :data:`ERROR`: the task raised; ``value`` is ``errors.encode_error``'s tuple.
* :data:`INIT_FAILED`: the same, for the initializer (task id :data:`NO_TASK`).
* :data:`SKIPPED`: the task was cancelled while queued (see ``skips`` below), or its
  coroutine was cancelled.
* :data:`CRASHED`: the worker loop failed while it held the task; ``value`` as for
  :data:`ERROR`.
* :data:`ACCEPTED`: the call returned a coroutine, which now runs on the worker's
  event loop (``_worker.coroutines``); ``value`` is the worker's slot.  The task's
  real result message follows when the coroutine ends: its status plus
  :data:`FROM_LOOP`.
* :data:`NEEDS_VALUE`: the task's function, of the caller's script, is not found by
  name in the worker (``functions.NeedsValue``); ``value`` says why the script does
  not load (a ``str``), or is ``None``.  The pool queues the task again with the
  function by value (``functions.value_key``).
* :data:`LEAVING` (task id :data:`NO_TASK`): the worker takes no more tasks but
  first waits for its coroutines; ``value`` is its slot, so the pool can replace it at
  once.
* :data:`FORWARD` (task id :data:`NO_TASK`): what a task printed, logged or warned
  (``_worker.forwarding``); ``value`` is ``(slot, event)``.  The pool hands it to the
  caller's streams, ``logging`` or ``warnings`` (``_engine.forwarding``) before it
  handles the messages after it: a task's output reaches the caller before its
  result.

Forwarded events (``_worker.forwarding`` -> ``_engine.forwarding``)
-------------------------------------------------------------------
* ``(OUTPUT, stream, text)``: whole lines (or the start of one, at a task's end or a
  ``flush()``) written to ``sys.stdout`` (``stream`` 1) or ``sys.stderr`` (2).
* ``(LOG, fields)``: a ``logging`` record's attributes, a pickled ``dict`` of plain
  values, its message already formatted.
* ``(WARNING, message, category module, category name, filename, lineno)``.

Which of the three a pool forwards is a sum of :data:`FORWARD_OUTPUT`,
:data:`FORWARD_LOGS` and :data:`FORWARD_WARNINGS`.

``handed`` lists ``(index, address)`` pairs for ``bytes`` results handed over whole
(``_wire.handoff``), sent beside the payload so that the caller adopts them whatever
happens to it: for a call, ``((0, address),)`` replaces the value; a chunk's value is
``(results, error_or_None)``, the results up to the first call that raised and that
call's error, and a handed-over result's place in ``results`` holds ``None``.

Slots (memory the caller shares with each worker, see ``_engine.slots``)
-------------------------------------------------------------------------
``tasks[slot]`` holds the id of the task the worker runs, :data:`IDLE` or
:data:`BOOTING`; ``orders[slot]`` is :data:`RUN` or :data:`RETIRE` (written by the
pool), or why the worker left of its own accord (:data:`LEFT_IDLE`,
:data:`LEFT_RECYCLED`); byte ``task_id & SKIP_MASK`` of ``skips`` is set while a
queued task is cancelled.

Imported by every worker: it imports nothing.
"""

from __future__ import annotations

__all__ = [
    "ACCEPTED",
    "ARGS",
    "ARGS_FORMAT",
    "BOOTING",
    "BUFFERS",
    "CALL",
    "CHUNK",
    "CRASHED",
    "ERROR",
    "FORWARD",
    "FORWARD_LOGS",
    "FORWARD_OUTPUT",
    "FORWARD_WARNINGS",
    "FROM_LOOP",
    "FUNCTION",
    "IDLE",
    "INIT_FAILED",
    "KIND",
    "LEAVING",
    "LEFT_IDLE",
    "LEFT_RECYCLED",
    "LIMIT",
    "LOG",
    "NATIVE",
    "NEEDS_VALUE",
    "NO_TASK",
    "OUTPUT",
    "PICKLE",
    "RETIRE",
    "RUN",
    "R_HANDED",
    "R_STATUS",
    "R_TASK_ID",
    "R_VALUE",
    "SKIPPED",
    "SKIP_MASK",
    "TASK_ID",
    "WARNING",
]

# -- the task message -----------------------------------------------------------------

TASK_ID = 0
FUNCTION = 1
KIND = 2
ARGS = 3
ARGS_FORMAT = 4
LIMIT = 5

#: Kinds of task.
CALL = 0  #: one call
CHUNK = 1  #: a chunk of ``map`` calls

# -- the result message ---------------------------------------------------------------

R_TASK_ID = 0
R_STATUS = 1
R_VALUE = 2
R_HANDED = 3

#: Payload formats (a result's status on success, and a payload's format in a task).
NATIVE = 0  #: the value itself, natively shareable
PICKLE = 1  #: ``bytes``: its pickle
BUFFERS = 2  #: ``buffers.Packed``: its pickle, with large buffers beside it

#: Result statuses besides the payload formats (0 to 3 are reserved for those; 3 is
#: unused).
ERROR = 4
INIT_FAILED = 5
SKIPPED = 6
CRASHED = 7
ACCEPTED = 8
LEAVING = 9
NEEDS_VALUE = 10
FORWARD = 11
#: Added to the status of a result sent by the worker's event loop (a coroutine's).
FROM_LOOP = 16

#: The task id of a result message that is about no task (:data:`INIT_FAILED`,
#: :data:`LEAVING`).
NO_TASK = -1

# -- forwarded events ------------------------------------------------------------------

OUTPUT = 0
LOG = 1
WARNING = 2

#: What a pool forwards (a sum of these).
FORWARD_OUTPUT = 1
FORWARD_LOGS = 2
FORWARD_WARNINGS = 4

# -- the slots ------------------------------------------------------------------------

#: ``tasks[slot]`` between tasks, and until the worker has started.
IDLE = -1
BOOTING = -2

#: ``orders[slot]``.
RUN = 0
RETIRE = 1
LEFT_IDLE = 2
LEFT_RECYCLED = 3

#: ``skips`` has ``SKIP_MASK + 1`` bytes, one per ``task_id & SKIP_MASK``.
SKIP_MASK = (1 << 16) - 1

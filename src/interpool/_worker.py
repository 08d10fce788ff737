"""The loop that runs inside each worker sub-interpreter.

It stays inside its interpreter for the worker's whole life: it takes task messages
from the shared task queue, runs them, puts result messages on the result queue and,
unless a caller is polling for results anyway, wakes the caller's collector.  Between
tasks it checks the queue for a short, bounded time (``spin`` seconds) before blocking
on its own signal (only one idle worker polls at a time), so a steady stream of
tasks never pays a kernel wake-up, and an idle pool uses no CPU (see ``_wakeup`` for
the flags that make this safe).

Messages (all natively shareable, see ``_transport``):

* task: ``(task_id, function_key, kind, a, b)``.  For :data:`CALL`, ``a, b`` are
  ``_transport.encode_call``'s output; for :data:`CHUNK` (``map``), ``a`` is the
  ``_transport.dump_chunk`` of the argument tuples and ``b`` is ``None``.  ``None``
  instead of a message tells one worker to stop.
* result: ``(task_id, status, value)``: :data:`VALUE` (``value`` is native),
  :data:`PICKLED` (``value`` is its pickle), :data:`ERROR` (``value`` is
  ``_transport.encode_error``'s tuple) or :data:`INIT_FAILED` (the same, for the
  initializer).  A chunk's value is ``(results, error_or_None)``: the results up to
  the first call that raised, and that call's error.
"""

from __future__ import annotations

import os
import pickle
import time

from . import _wakeup
from ._functions import FunctionCache, MainRef
from ._transport import decode_call, encode_error, is_native, load
from ._wakeup import BUSY, POLLING, SLEEPING
from ._xiqueue import QueueEmpty, ops

TYPE_CHECKING = False  # typing costs ~20 ms to import in every worker
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CALL", "CHUNK", "ERROR", "INIT_FAILED", "PICKLED", "VALUE", "serve"]

CALL = 0
CHUNK = 1

VALUE = 0
PICKLED = 1
ERROR = 2
INIT_FAILED = 3


def serve(  # noqa: PLR0917 - called once, positionally, from the boot script
    task_q: Any,
    result_q: Any,
    index: int,
    task_rfd: int,
    result_wfd: int,
    doorbells: memoryview,
    main: MainRef,
    initializer: tuple[str | bytes, Any, Any] | None,
    spin: float,
) -> None:
    """Run tasks until a ``None`` message arrives.  Never raises for a task's sake:
    every task's outcome, including ``SystemExit`` and ``KeyboardInterrupt``, goes
    back as a result message.

    ``index`` is this worker's number: its state flag is ``doorbells[1 + index]`` and
    ``task_rfd`` its own signal (see ``_wakeup``)."""
    resolve = FunctionCache(main)
    main_module = resolve.main_module
    put = ops(result_q).put
    tasks = ops(task_q)
    get = tasks.get
    qsize = tasks.count
    perf = time.perf_counter
    notify = _wakeup.notify
    sched_yield = os.sched_yield
    me = 1 + index

    if initializer is not None:
        try:
            init_key, a, b = initializer
            args, kwargs = decode_call(a, b, main_module)
            resolve(init_key)(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            put((-1, INIT_FAILED, encode_error(exc)))
            notify(result_wfd)
            return

    while True:
        # BUSY before taking: a worker that holds a task must never look like a
        # polling one, or the scheduler would count it as a taker of the next task and
        # leave a sleeping worker asleep (see Scheduler._wake_locked).
        doorbells[me] = BUSY
        try:
            message = get()
        except QueueEmpty:
            doorbells[me] = POLLING
            # One idle worker polls; the others sleep at once.  Several polling
            # threads (plus a polling caller) would outnumber the cores and make the
            # kernel time-slice them, which costs far more than a wake-up.
            deadline = 0.0 if _peer_polling(doorbells, me) else perf() + spin
            while not qsize():
                sched_yield()  # see Scheduler.help_wait: we may share a CPU with the caller
                if perf() > deadline:
                    doorbells[me] = SLEEPING
                    if not qsize():  # re-check after raising the flag
                        _wakeup.wait(task_rfd)
                    doorbells[me] = POLLING
                    break
            continue
        if message is None:
            return
        task_id, key, kind, a, b = message
        try:
            fn = resolve(key)
            if kind == CALL:
                args, kwargs = decode_call(a, b, main_module)
                value = fn(*args, **kwargs)
            else:
                value = _run_chunk(fn, a if type(a) is tuple else load(a, main_module))
            reply = (task_id, VALUE, value) if is_native(value) else _pickled(task_id, value)
        except BaseException as exc:  # noqa: BLE001 - the task's error is its result
            reply = (task_id, ERROR, encode_error(exc))
        # Announce "polling" before replying: the caller may queue the next task as
        # soon as it sees this result, and must not wake another worker for it.
        doorbells[me] = POLLING
        put(reply)
        if not doorbells[0]:  # no caller is polling for results: wake the collector
            notify(result_wfd)


def _peer_polling(doorbells: memoryview, me: int) -> bool:
    """True if a worker other than ``me`` is idle and polling the task queue."""
    for i in range(1, len(doorbells)):
        if i != me and doorbells[i] == POLLING:
            return True
    return False


def _pickled(task_id: int, value: Any) -> tuple[int, int, bytes]:
    try:
        return (task_id, PICKLED, pickle.dumps(value, protocol=5))
    except Exception as exc:
        t = type(value)
        raise TypeError(
            f"interpool: the task's result ({t.__module__}.{t.__qualname__}) cannot be "
            f"sent back from the worker interpreter: {exc}. Return a picklable value."
        ) from exc


def _run_chunk(fn: Any, chunk: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    """Run ``fn`` over a chunk of argument tuples; stop at the first error, which is
    returned beside the results that came before it."""
    results = []
    for args in chunk:
        try:
            results.append(fn(*args))
        except BaseException as exc:  # noqa: BLE001
            return (tuple(results), encode_error(exc))
    return (tuple(results), None)

"""The loop that runs inside each worker sub-interpreter.

It stays inside its interpreter for the worker's whole life: it takes task messages
from the shared task queue, runs them, puts result messages on the result queue and
wakes the caller's collector.  Between tasks it checks the queue for a short, bounded
time (``spin`` seconds) before blocking on the task signal, so a steady stream of
tasks never pays a kernel wake-up, and an idle worker uses no CPU.

Messages (all natively shareable, see ``_transport``):

* task: ``(task_id, function_key, kind, payload)``; ``kind`` is :data:`CALL`
  (``payload`` encodes ``(args, kwargs_items)``) or :data:`CHUNK` (``payload``
  encodes a tuple of argument tuples, for ``map``).  ``None`` tells one worker to stop.
* result: ``(task_id, status, payload)``; ``status`` :data:`OK` (``payload`` encodes
  ``(value,)``, or for a chunk ``(values, error_or_None)``), :data:`ERROR`
  (``payload`` is ``_transport.encode_error``'s tuple) or :data:`INIT_FAILED`.
"""

from __future__ import annotations

import time
from typing import Any

from . import _wakeup
from ._wakeup import BUSY, POLLING, SLEEPING
from ._functions import FunctionCache, MainRef
from ._transport import dump, encode_error, load

CALL = 0
CHUNK = 1

OK = 0
ERROR = 1
INIT_FAILED = 2


def serve(
    task_q: Any,
    result_q: Any,
    index: int,
    task_rfd: int,
    result_wfd: int,
    doorbells: memoryview,
    main: MainRef,
    initializer: tuple[str | bytes, tuple[Any, ...] | bytes] | None,
    spin: float,
) -> None:
    """Run tasks until a ``None`` message arrives.  Never raises for a task's sake:
    every task's outcome, including ``SystemExit`` and ``KeyboardInterrupt``, goes
    back as a result message.

    ``index`` is this worker's number: its sleeping flag is ``doorbells[1 + index]``
    and ``task_rfd`` its own signal (see ``_wakeup``)."""
    from concurrent.interpreters import QueueEmpty

    resolve = FunctionCache(main)
    put = result_q.put_nowait
    get = task_q.get_nowait
    qsize = task_q.qsize
    perf = time.perf_counter
    me = 1 + index

    def reply(message: tuple[Any, ...]) -> None:
        put(message)
        if not doorbells[0]:  # no caller is polling: wake the collector
            _wakeup.notify(result_wfd)

    if initializer is not None:
        try:
            init_key, init_payload = initializer
            args, kwargs = load(init_payload, resolve.main_module)
            resolve(init_key)(*args, **dict(kwargs))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            reply((-1, INIT_FAILED, encode_error(exc)))
            return

    doorbells[me] = POLLING
    while True:
        try:
            message = get()
        except QueueEmpty:
            deadline = perf() + spin
            while not qsize():
                if perf() > deadline:
                    doorbells[me] = SLEEPING
                    if not qsize():  # re-check after raising the flag
                        _wakeup.wait(task_rfd)
                    doorbells[me] = POLLING
                    break
            continue
        if message is None:
            return
        doorbells[me] = BUSY
        task_id, key, kind, payload = message
        try:
            fn = resolve(key)
            if kind == CALL:
                args, kwargs = load(payload, resolve.main_module)
                out = dump((fn(*args, **dict(kwargs)),))
            else:
                out = dump(_run_chunk(fn, load(payload, resolve.main_module)))
        except BaseException as exc:  # noqa: BLE001 - the task's error is its result
            out_message = (task_id, ERROR, encode_error(exc))
        else:
            out_message = (task_id, OK, out)
        # Announce "polling" before replying: the caller may queue the next task as
        # soon as it sees this result, and must not wake another worker for it.
        doorbells[me] = POLLING
        reply(out_message)


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


__all__ = ["CALL", "CHUNK", "ERROR", "INIT_FAILED", "OK", "serve"]

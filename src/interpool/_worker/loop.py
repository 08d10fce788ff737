"""The loop that runs inside each worker sub-interpreter.

It stays inside its interpreter for the worker's whole life: it takes task messages
from the shared task queue, runs them, puts result messages on the result queue and,
unless a caller is polling for results anyway, wakes the caller's collector.  Between
tasks it checks the queue for a short, bounded time (``spin`` seconds) before blocking
on its own signal (only one idle worker polls at a time), so a steady stream of
tasks never pays a kernel wake-up, and an idle pool uses no CPU (see ``_wakeup`` for
the flags that make this safe).

It shares its slot's control state with the pool (``_slots``): it marks which task it
runs (and, for a timed task, since when), skips the queued tasks the pool cancelled,
and leaves when the pool retires it, after ``max_tasks`` tasks, or after
``idle_timeout`` seconds without work.  Its watchdog thread (``_watchdog``) interrupts
a task on the pool's request.

Messages (all natively shareable, see ``_transport``):

* task: ``(task_id, function_key, kind, a, b, limit)``.  For :data:`CALL`, ``a, b``
  are ``_transport.encode_call``'s output; for :data:`CHUNK` (``map``), ``a`` is the
  payload of the argument tuples and ``b`` its format (``_transport.dump_chunk``).
  ``limit`` is the task's time limit in seconds, or ``None``: for a timed task the
  worker records when it starts (each item of a chunk restarts the clock) and wakes
  the pool's timer (``_timeouts``).  ``None`` instead of a message tells one worker
  to stop.
* result: ``(task_id, status, value, handed)``.  On success ``status`` is the
  format of the payload ``value`` (``_transport.NATIVE``, ``PICKLE`` or
  ``BUFFERS``); else :data:`ERROR` (``value`` is ``_transport.encode_error``'s tuple)
  or :data:`INIT_FAILED` (the same, for the initializer), or :data:`SKIPPED` (the
  task was cancelled while queued: see ``_slots``), or :data:`CRASHED` (the worker
  loop failed while it held the task; the payload is as for :data:`ERROR`), or
  :data:`ACCEPTED` (the call returned a coroutine, which now runs on the worker's
  event loop, see ``_coroutines``; ``value`` is the worker's slot, and the task's real
  result message follows when the coroutine ends, its status plus :data:`FROM_LOOP`),
  or :data:`LEAVING` (task id ``-1``: the worker leaves but first waits for its
  coroutines; ``value`` is its slot, so the pool can replace it at once).  A
  cancelled coroutine's task gets :data:`SKIPPED` too.  ``handed`` lists
  ``(index, address)`` pairs for ``bytes`` results handed over whole (``_handoff``),
  sent beside the payload so that the caller adopts them whatever happens to it: for
  a call, ``((0, address),)`` replaces the value; a chunk's value is ``(results,
  error_or_None)``, the results up to the first call that raised and that call's
  error, and a handed-over result's place in ``results`` holds ``None``.
"""

from __future__ import annotations

import os
import time
from types import CoroutineType

from interpool._engine.slots import IDLE, LEFT_IDLE, LEFT_RECYCLED, SKIP_MASK
from interpool._platform import signals
from interpool._platform.interpreters import Queue
from interpool._platform.queues import QueueEmpty, ops
from interpool._platform.signals import BUSY, POLLING, SLEEPING
from interpool._wire import buffers, handoff
from interpool._wire.functions import FunctionCache, MainRef
from interpool._wire.transport import BUFFERS, NATIVE, decode, decode_call, dump, encode_error
from interpool._worker.watchdog import Interrupted, Watchdog

TYPE_CHECKING = False  # typing costs ~20 ms to import in every worker
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ACCEPTED",
    "CALL",
    "CHUNK",
    "CRASHED",
    "ERROR",
    "FROM_LOOP",
    "INIT_FAILED",
    "LEAVING",
    "SKIPPED",
    "call_reply",
    "hold_views",
    "release_views",
    "serve",
]

CALL = 0
CHUNK = 1

#: Result statuses besides the payload formats of ``_transport`` (0 to 3).
ERROR = 4
INIT_FAILED = 5
SKIPPED = 6
CRASHED = 7
ACCEPTED = 8
LEAVING = 9
#: Added to the status of a result sent by the worker's event loop (a coroutine's).
FROM_LOOP = 16

_HANDOFF_MIN = handoff.MIN_SIZE if handoff.enabled else -1


def serve(  # noqa: PLR0917 - called once, positionally, from the boot script
    task_qid: int,
    result_qid: int,
    cancel_qid: int,
    slot: int,
    fds: tuple[int, int, int, int, int, int],
    doorbells: memoryview,
    control: tuple[memoryview, ...],
    main: MainRef,
    initializer: tuple[str | bytes, Any, Any] | None,
    spin: float,
    max_tasks: int,
    idle_timeout: float,
) -> None:
    """Run tasks until a ``None`` message arrives, the pool retires this worker, or
    (with ``max_tasks``, ``idle_timeout``) it leaves of its own accord, saying why in
    its ``orders`` byte (see ``_slots``).  Never raises for a task's sake: every
    task's outcome, including ``SystemExit`` and ``KeyboardInterrupt``, goes back as a
    result message.

    ``slot`` is this worker's place in the shared control state ``control`` (see
    ``_slots.Slots.shared``); its state flag is ``doorbells[1 + slot]``; ``cancel_qid``
    its cancel queue (the coroutines the pool cancels).  ``fds`` are
    the descriptors of its task signal, of its watchdog signal (read and write ends),
    of the result signal, of the pool's timer signal and of its cancel signal."""
    # The queues arrive as ids (see _interp); these objects hold a binding each.
    task_q, result_q, cancel_q = Queue(task_qid), Queue(result_qid), Queue(cancel_qid)
    task_rfd, watch_rfd, watch_wfd, result_wfd, timer_wfd, cancel_rfd = fds
    tasks_v, started_v, targets_v, orders, skips = control
    running = tasks_v.cast("q")
    started: Any = started_v.cast("d")
    targets = targets_v.cast("q")
    watchdog = Watchdog(slot, running, targets, (watch_rfd, watch_wfd))
    me = 1 + slot
    holding = [IDLE]  # the id of the task taken and not yet replied to
    put = ops(result_q).put

    def send(reply: Any) -> None:
        """Queue a result message and wake the pool (for the event loop's thread)."""
        put(reply)
        if not doorbells[0]:
            signals.notify(result_wfd)

    loops = _Loops(send, cancel_q, cancel_rfd)
    try:
        _serve(
            holding,
            loops,
            task_q,
            result_q,
            slot,
            task_rfd,
            result_wfd,
            timer_wfd,
            doorbells,
            running,
            started,
            targets,
            orders,
            skips,
            watchdog,
            main,
            initializer,
            spin,
            max_tasks,
            idle_timeout,
        )
    except BaseException as exc:
        # The loop itself failed (not a task: those are caught).  The task it held,
        # and its coroutines, fail with the reason; the pool replaces this worker.
        from interpool.exceptions import WorkerCrashed

        crash = WorkerCrashed(
            f"interpool: the worker interpreter running this task failed: {exc!r}. "
            "It is replaced; other tasks are not affected."
        )
        crash.__cause__ = exc
        if holding[0] != IDLE:
            put((holding[0], CRASHED, encode_error(crash), ()))
            signals.notify(result_wfd)
        doorbells[me] = BUSY
        loops.abort(crash)
        raise
    finally:
        doorbells[me] = BUSY  # gone: not a sleeper to wake, nor a poller to count on
        try:
            if loops.busy():
                send((-1, LEAVING, slot, ()))  # so that the pool replaces us now
            loops.finish()  # its coroutines end (and reply) before it leaves
        finally:
            watchdog.stop()


class _Loops:
    """The worker's event loop for coroutines (``_coroutines.CoroutineRunner``),
    created, and asyncio imported, only when a task first returns a coroutine."""

    __slots__ = ("_args", "runner")

    def __init__(self, send: Any, cancel_q: Any, cancel_rfd: int) -> None:
        self._args = (send, cancel_q, cancel_rfd)
        self.runner: Any = None

    def get(self) -> Any:
        if self.runner is None:
            from interpool._worker.coroutines import CoroutineRunner

            self.runner = CoroutineRunner(*self._args)
        return self.runner

    def busy(self) -> bool:
        return self.runner is not None and bool(self.runner.busy())

    def finish(self) -> None:
        if self.runner is not None:
            self.runner.finish()

    def abort(self, reason: BaseException) -> None:
        if self.runner is not None:
            self.runner.abort(reason)


def _serve(  # noqa: PLR0917
    holding: list[int],
    loops: _Loops,
    task_q: Any,
    result_q: Any,
    slot: int,
    task_rfd: int,
    result_wfd: int,
    timer_wfd: int,
    doorbells: memoryview,
    running: memoryview,
    started: Any,  # memoryview of doubles
    targets: memoryview,
    orders: memoryview,
    skips: memoryview,
    watchdog: Watchdog,
    main: MainRef,
    initializer: tuple[str | bytes, Any, Any] | None,
    spin: float,
    max_tasks: int,
    idle_timeout: float,
) -> None:
    resolve = FunctionCache(main)
    main_module = resolve.main_module
    put = ops(result_q).put
    tasks = ops(task_q)
    get = tasks.get
    qsize = tasks.count
    perf = time.perf_counter
    monotonic = time.monotonic
    notify = signals.notify
    sched_yield = os.sched_yield
    task_ended = watchdog.task_ended
    me = 1 + slot
    buffers.keep_views = True  # views we receive are of the main interpreter's memory
    args: Any = None
    kwargs: Any = None
    # Views of our results' buffers that the caller may still be reading (see
    # _sleep).
    held: list[memoryview] = []
    coro: Any = None
    done = 0

    if initializer is not None:
        try:
            init_key, a, b = initializer
            args, kwargs = decode_call(a, b, main_module)
            resolve(init_key)(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            put((-1, INIT_FAILED, encode_error(exc), ()))
            notify(result_wfd)
            return
    running[slot] = IDLE

    while True:
        if orders[slot]:  # retired by the pool
            doorbells[me] = BUSY
            return
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
                    # Re-check after raising the flag.
                    if not qsize() and not _sleep(held, task_rfd, idle_timeout):
                        doorbells[me] = BUSY
                        # Idle, unless coroutines still run on its event loop.
                        if not qsize() and not orders[slot] and not loops.busy():
                            orders[slot] = LEFT_IDLE
                            return
                    doorbells[me] = POLLING
                    break
            continue
        if message is None:
            return
        if orders[slot]:  # retired meanwhile: leave the task to another worker
            tasks.put(message)
            doorbells[me] = BUSY
            return
        task_id, key, kind, a, b, limit = message
        holding[0] = task_id
        message = None
        if limit is not None:
            started[slot] = monotonic()  # before running[slot]: see _timeouts
        running[slot] = task_id  # before reading skips: see Scheduler.cancel
        if limit is not None:
            notify(timer_wfd)
        if skips[task_id & SKIP_MASK]:  # cancelled while queued
            try:
                running[slot] = IDLE
                if targets[slot] == task_id:
                    task_ended()
            except Interrupted:
                pass  # it fired before task_ended() could drop it: done with it
            reply: tuple[int, int, Any, Any] = (task_id, SKIPPED, None, ())
        else:
            try:
                try:
                    fn = resolve(key)
                    if kind == CALL:
                        args, kwargs = decode_call(a, b, main_module)
                        value = fn(*args, **kwargs)
                    else:
                        value = _run_chunk(
                            fn,
                            decode(b, a, main_module),
                            None if limit is None else (started, slot, monotonic),
                            limit,
                            loops,
                        )
                finally:
                    running[slot] = IDLE
                    # Only a targeted task can have an interruption pending (see
                    # _watchdog): the others skip the watchdog's lock.
                    if targets[slot] == task_id:
                        task_ended()
                # From here on, no interruption can arrive.
                if kind == CALL:
                    if type(value) is CoroutineType:
                        # Run on the event loop once the pool knows (see ACCEPTED).
                        loops.get().expect(task_id)
                        coro = value
                        value = None
                        reply = (task_id, ACCEPTED, slot, ())
                    elif type(value) is bytes and _HANDOFF_MIN > 0:
                        results = [value]
                        value = None
                        reply = call_reply(task_id, results)
                    else:
                        reply = _reply(task_id, value)
                else:
                    reply = _reply_chunk(task_id, *value)
                value = None
            except BaseException as exc:  # noqa: BLE001 - the task's error is its result
                reply = (task_id, ERROR, encode_error(exc), ())
        # Drop our views of the caller's buffers before replying: the caller waits
        # for their release before it completes the task (see _scheduler._await_release).
        a = b = args = kwargs = None
        # Announce "polling" before replying: the caller may queue the next task as
        # soon as it sees this result, and must not wake another worker for it.
        doorbells[me] = BUSY if orders[slot] else POLLING
        put(reply)
        holding[0] = IDLE
        if not doorbells[0]:  # no caller is polling for results: wake the collector
            notify(result_wfd)
        hold_views(reply, held)
        del reply
        if coro is not None:
            loops.get().start(task_id, coro, limit)
            coro = None
        if held:
            release_views(held)
        done += 1
        if done == max_tasks:
            doorbells[me] = BUSY
            if not orders[slot]:
                orders[slot] = LEFT_RECYCLED
            return


def hold_views(reply: Any, held: list[memoryview]) -> None:
    """Add the out-of-band views of a sent result message to ``held``: the caller
    reads them until it has copied them (see :func:`release_views`)."""
    if reply[1] == BUFFERS:
        held.extend(reply[2][1])  # (pickle, views, kinds)


def release_views(held: list[memoryview]) -> None:
    """Release the views in ``held`` that the caller no longer reads; keep the rest."""
    kept = []
    for view in held:
        try:
            view.release()
        except BufferError:
            kept.append(view)
    held[:] = kept


#: How often a sleeping worker checks whether the caller is done with its results.
RELEASE_POLL_SECONDS = 0.002


def _sleep(held: list[memoryview], task_rfd: int, idle_timeout: float) -> bool:
    """Sleep until a task arrives (True), or for ``idle_timeout`` seconds if it is
    positive (False), releasing the memory of sent results meanwhile.

    The caller copies a result's out-of-band buffers as soon as it collects it, but
    CPython gives our memory back through a pending call that runs in *this*
    interpreter at a bytecode boundary, which a worker blocked in ``wait`` never
    reaches.  So while some views are still held, sleep in short steps."""
    end = time.monotonic() + idle_timeout if idle_timeout > 0 else 0.0
    while held:
        if signals.wait_for(task_rfd, RELEASE_POLL_SECONDS):
            return True
        release_views(held)
        if end and time.monotonic() > end:
            return False
    if not end:
        signals.wait(task_rfd)
        return True
    return signals.wait_for(task_rfd, max(0.0, end - time.monotonic()))


def _peer_polling(doorbells: memoryview, me: int) -> bool:
    """True if a worker other than ``me`` is idle and polling the task queue."""
    for i in range(1, len(doorbells)):
        if i != me and doorbells[i] == POLLING:
            return True
    return False


def call_reply(task_id: int, box: list[Any]) -> tuple[int, int, Any, Any]:
    """The result message of a call whose value is ``box``'s only item (in a list so
    that a large ``bytes`` value, referred to by nothing else, can be handed over
    whole: see ``_handoff``)."""
    if type(box[0]) is bytes and _HANDOFF_MIN > 0:
        handed = _hand_over(box)  # may take it whole
        if handed:
            return (task_id, NATIVE, None, handed)
    return _reply(task_id, box.pop())


def _reply(task_id: int, value: Any) -> tuple[int, int, Any, tuple[Any, ...]]:
    try:
        return (task_id, *dump(value), ())
    except Exception as exc:
        raise _unsendable_result(value, exc) from exc


def _unsendable_result(value: Any, exc: Exception) -> TypeError:
    t = type(value)
    return TypeError(
        f"interpool: the task's result ({t.__module__}.{t.__qualname__}) cannot be "
        f"sent back from the worker interpreter: {exc}. Return a picklable value."
    )


def _hand_over(results: list[Any]) -> tuple[tuple[int, int], ...]:
    """Hand over (see ``_handoff``) each large ``bytes`` in ``results`` that nothing
    else in this interpreter refers to; its place in ``results`` then holds ``None``.
    Return the ``(index, address)`` pairs of what was handed over."""
    if _HANDOFF_MIN < 0:
        return ()
    handed = []
    for i in range(len(results)):
        if type(results[i]) is bytes and len(results[i]) >= _HANDOFF_MIN:
            box = [results[i]]
            results[i] = None
            address = handoff.give(box)
            if address is None:
                results[i] = box.pop()
            else:
                handed.append((i, address))
    return tuple(handed)


def _run_chunk(
    fn: Any,
    chunk: tuple[tuple[Any, ...], ...],
    clock: tuple[Any, int, Any] | None,
    limit: float | None,
    loops: _Loops,
) -> tuple[list[Any], Any]:
    """Run ``fn`` over a chunk of argument tuples; stop at the first error, which is
    returned (encoded) beside the results that came before it.  With ``clock``
    (``(started, slot, monotonic)``), each call restarts the task's time limit.  If
    ``fn`` returns coroutines, they run concurrently on the worker's event loop, each
    with the time limit ``limit``."""
    results: list[Any] = []
    error = None
    for i, args in enumerate(chunk):
        if clock is not None:
            clock[0][clock[1]] = clock[2]()
        try:
            value = fn(*args)
        except Interrupted:
            raise
        except BaseException as exc:  # noqa: BLE001
            error = encode_error(exc)
            break
        if type(value) is CoroutineType:
            return _run_coroutine_chunk(fn, chunk, i, value, results, clock, limit, loops)
        results.append(value)
        value = None
    return results, error


def _run_coroutine_chunk(  # noqa: PLR0917
    fn: Any,
    chunk: tuple[tuple[Any, ...], ...],
    first: int,
    coro: Any,
    results: list[Any],
    clock: tuple[Any, int, Any] | None,
    limit: float | None,
    loops: _Loops,
) -> tuple[list[Any], Any]:
    """:func:`_run_chunk` from item ``first``, whose call returned ``coro``."""
    coros = [coro]
    created_error = None
    try:
        for args in chunk[first + 1 :]:
            coros.append(fn(*args))
    except Interrupted:
        for c in coros:
            c.close()
        raise
    except BaseException as exc:  # noqa: BLE001 - the first item that failed
        created_error = exc
    for ok, value in loops.get().run_chunk(coros, limit, clock):
        if not ok:
            return results, encode_error(value)
        results.append(value)
    return results, None if created_error is None else encode_error(created_error)


def _reply_chunk(task_id: int, results: list[Any], error: Any) -> tuple[int, int, Any, Any]:
    """The reply for a chunk's ``results`` and ``error`` (see :func:`_run_chunk`)."""
    handed = _hand_over(results)
    try:
        return (task_id, *dump((tuple(results), error)), handed)
    except Exception as exc:
        for i, address in handed:  # take back what was handed over, or it leaks
            results[i] = handoff.adopt(address)
        # As for a call that raised: the results before the first one that cannot
        # cross, then the error for that one.
        for i, value in enumerate(results):
            try:
                dump(value)
            except Exception as inner:  # noqa: BLE001 - becomes the item's error
                error = encode_error(_unsendable_result(value, inner))
                return (task_id, *dump((tuple(results[:i]), error)), ())
        raise _unsendable_result(results, exc) from exc

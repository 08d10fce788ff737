"""The loop that runs inside each worker sub-interpreter.

It stays inside its interpreter for the worker's whole life: it takes task messages
from the shared task queue, runs them, puts result messages on the result queue and,
unless a caller is polling for results anyway, wakes the caller's collector.  Between
tasks it checks the queue for a short, bounded time (``spin`` seconds) before blocking
on its own signal (only one idle worker polls at a time), so a steady stream of
tasks never pays a kernel wake-up, and an idle pool uses no CPU (see
``_platform.signals`` for the flags that make this safe).

It shares its slot's control state with the pool (see ``_engine.slots``): it marks
which task it runs (and, for a timed task, since when), skips the queued tasks the
pool cancelled, and leaves when the pool retires it, after ``max_tasks`` tasks, or
after ``idle_timeout`` seconds without work.  Its watchdog thread
(``_worker.watchdog``) interrupts a task on the pool's request.  A task whose call
returns a coroutine runs on the worker's event loop (``_worker.coroutines``).

The messages it takes and sends, and the slot states, are defined in
``_wire.protocol``; its replies are built by ``_worker.replies``.
"""

from __future__ import annotations

import os
import time
from types import CoroutineType

from interpool._platform import signals
from interpool._platform.interpreters import Queue
from interpool._platform.queues import QueueEmpty, ops
from interpool._platform.signals import BUSY, POLLING, SLEEPING
from interpool._wire import buffers
from interpool._wire import clock as layout
from interpool._wire.errors import encode_error
from interpool._wire.functions import FunctionCache, MainRef, MainUnavailable, NeedsValue
from interpool._wire.protocol import (
    ACCEPTED,
    CALL,
    CRASHED,
    ERROR,
    FORWARD,
    IDLE,
    INIT_FAILED,
    LEAVING,
    LEFT_IDLE,
    LEFT_RECYCLED,
    NEEDS_VALUE,
    NO_TASK,
    SKIP_MASK,
    SKIPPED,
)
from interpool._wire.transport import decode, decode_call
from interpool._worker.forwarding import Forwarder
from interpool._worker.replies import (
    HANDOFF_MIN,
    RELEASE_POLL_SECONDS,
    call_reply,
    chunk_reply,
    hold_views,
    release_views,
    value_reply,
)
from interpool._worker.watchdog import Interrupted, Watchdog

TYPE_CHECKING = False  # typing is slow to import, and every worker would pay for it
if TYPE_CHECKING:
    from typing import Any

__all__ = ["serve"]


def serve(  # noqa: PLR0917 - called once, positionally, from the boot script
    task_qid: int,
    result_qid: int,
    cancel_qid: int,
    slot: int,
    fds: tuple[int, int, int, int, int, int],
    doorbells: memoryview,
    control: tuple[memoryview, ...],
    main: MainRef,
    initializer: tuple[str | bytes | tuple[str, bytes], Any, Any] | None,
    spin: float,
    max_tasks: int,
    idle_timeout: float,
    forward: int,
    settings: memoryview | None,
) -> None:
    """Run tasks until a ``None`` message arrives, the pool retires this worker, or
    (with ``max_tasks``, ``idle_timeout``) it leaves of its own accord, saying why in
    its ``orders`` byte (see ``_engine.slots``).  Never raises for a task's sake:
    every task's outcome, including ``SystemExit`` and ``KeyboardInterrupt``, goes
    back as a result message.

    ``slot`` is this worker's place in the shared control state ``control`` (see
    ``_engine.slots.Slots.shared``); its state flag is ``doorbells[1 + slot]``;
    ``cancel_qid`` its cancel queue (the coroutines the pool cancels).  ``fds`` are
    the descriptors of its task signal, of its watchdog signal (read and write ends),
    of the result signal, of the pool's timer signal and of its cancel signal.
    ``forward`` says what this worker's tasks print, log and warn that goes to the
    caller (``_worker.forwarding``), the initializer's included; ``settings`` is the
    memory where the caller keeps its logger levels and warning filters for it."""
    # The queues arrive as ids (see _platform.interpreters); these objects hold a
    # binding each.
    task_q, result_q, cancel_q = Queue(task_qid), Queue(result_qid), Queue(cancel_qid)
    task_rfd, watch_rfd, watch_wfd, result_wfd, timer_wfd, cancel_rfd = fds
    tasks_v, started_v, targets_v, orders, skips, clock_v = control
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

    forwarder = None
    if forward:
        forwarder = Forwarder(lambda event: send((NO_TASK, FORWARD, (slot, event), ())), forward)
        forwarder.install()
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
            forwarder,
            settings,
            clock_v.cast("d"),
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
                send((NO_TASK, LEAVING, slot, ()))  # so that the pool replaces us now
            loops.finish()  # its coroutines end (and reply) before it leaves
        finally:
            watchdog.stop()


class _Loops:
    """The worker's event loop for coroutines (``_worker.coroutines.CoroutineRunner``),
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
    initializer: tuple[str | bytes | tuple[str, bytes], Any, Any] | None,
    spin: float,
    max_tasks: int,
    idle_timeout: float,
    forwarder: Forwarder | None,
    settings: memoryview | None,
    clock: Any,  # memoryview of doubles: see _wire.clock
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
    # The caller's logger levels and warning filters (see _worker.forwarding).
    header = None
    if forwarder is not None and settings is not None:
        header = settings[:16].cast("q")
        forwarder.sync(settings, header)
    ended = None if forwarder is None else forwarder.task_ended
    # When each task starts and ends, and when this worker was set up: see _wire.clock.
    mask, fields, slot_at = layout.MASK, layout.FIELDS, layout.SLOTS_AT + slot * layout.SLOT_FIELDS
    clock[slot_at + layout.SERVING] = perf()

    if initializer is not None:
        try:
            init_key, a, b = initializer
            if isinstance(init_key, tuple):  # (by name, by value): functions.initializer_key
                try:
                    init = resolve(init_key[0])
                except NeedsValue:
                    init = resolve(init_key[1])
            else:
                init = resolve(init_key)
            args, kwargs = decode_call(a, b, main_module)
            init(*args, **kwargs)
            init = None
            if ended is not None:
                ended()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            if ended is not None:
                ended()
            put((NO_TASK, INIT_FAILED, encode_error(exc), ()))
            notify(result_wfd)
            return
    running[slot] = IDLE
    clock[slot_at + layout.READY] = perf()

    while True:
        if orders[slot]:  # retired by the pool
            doorbells[me] = BUSY
            return
        # BUSY before taking: a worker that holds a task must never look like a
        # polling one, or the scheduler would count it as a taker of the next task and
        # leave a sleeping worker asleep (see _engine.scheduler.Scheduler._wake_locked).
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
        task_id, key, kind, a, b, limit = message  # see _wire.protocol
        holding[0] = task_id
        message = None
        if header is not None and header[0] != forwarder.generation:  # type: ignore[union-attr]
            forwarder.sync(settings, header)  # type: ignore[union-attr,arg-type]
        at = (task_id & mask) * fields  # its entry: ID, SLOT, START, END (+0 to +3)
        clock[at] = task_id
        clock[at + 1] = slot
        clock[at + 2] = perf()
        if limit is not None:
            started[slot] = monotonic()  # before running[slot]: see _engine.task_timer
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
                    clock[at + 3] = perf()
                    running[slot] = IDLE
                    # Only a targeted task can have an interruption pending (see
                    # _worker.watchdog): the others skip the watchdog's lock.
                    if targets[slot] == task_id:
                        task_ended()
                # From here on, no interruption can arrive.
                if kind == CALL:
                    if type(value) is CoroutineType:
                        if targets[slot] == task_id:
                            # The pool interrupted this task while its coroutine was
                            # being made (its time limit passed, or it was cancelled),
                            # and the interruption was lost (swallowed, e.g. by a
                            # weakref callback during an import): its future has
                            # failed and this worker is retired.  Never start the
                            # coroutine; the pool drops this reply.
                            value.close()
                            reply = (task_id, SKIPPED, None, ())
                        else:
                            # Run on the event loop once the pool knows (see ACCEPTED).
                            loops.get().expect(task_id)
                            coro = value
                            clock[at + 3] = 0.0  # it ends when its coroutine does
                            reply = (task_id, ACCEPTED, slot, ())
                        value = None
                    elif type(value) is bytes and HANDOFF_MIN > 0:
                        results = [value]
                        value = None
                        reply = call_reply(task_id, results)
                    else:
                        reply = value_reply(task_id, value)
                else:
                    reply = chunk_reply(task_id, *value)
                value = None
            except NeedsValue as exc:  # the pool sends it again, by value
                reply = (task_id, NEEDS_VALUE, exc.unloadable, ())
            except MainUnavailable as exc:  # its arguments name the script's objects
                reply = (task_id, NEEDS_VALUE, exc.reason, ())
            except BaseException as exc:  # noqa: BLE001 - the task's error is its result
                reply = (task_id, ERROR, encode_error(exc), ())
        # Drop our views of the caller's buffers before replying: the caller waits for
        # their release before it completes the task (see _engine.scheduler).
        a = b = args = kwargs = None
        if ended is not None:
            ended()  # the task's unfinished line goes before its result
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

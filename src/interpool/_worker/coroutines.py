"""Coroutines inside a worker interpreter (worker side).

When a task's call returns a coroutine (its function is ``async def``), the worker
does not run it itself: it replies ``protocol.ACCEPTED`` (so the pool counts the
task as taken off the queue, but keeps its future waiting) and hands the coroutine to
its :class:`CoroutineRunner`, an asyncio event loop on a second thread of the same
interpreter.  The worker goes back to the queue at once, so one worker serves many
I/O-bound coroutines at the same time; each coroutine sends its own result message
(status plus ``protocol.FROM_LOOP``) when it ends.

* Time limit: the task's limit applies to the coroutine (``asyncio.timeout``); when it
  passes the coroutine is cancelled and the task fails with ``TimeoutError``.  The
  worker is not replaced: nothing was interrupted.  (A coroutine that blocks its loop,
  with ``time.sleep`` or a long computation, holds up every coroutine of that worker
  and cannot be timed out until it yields.)
* Cancellation: the pool puts the task's id in the slot's cancel queue and notifies
  the slot's cancel signal, which the loop watches; the coroutine is cancelled (and
  its task's reply is ``protocol.SKIPPED``).  A coroutine cancelled before its first
  step never runs, as an asyncio task cancelled before it starts.
* Before ``ACCEPTED`` (the worker still imports the task's module or calls its
  function) the task is an ordinary running one: a time limit or cancel interrupts
  the worker, which is retired.  If that interruption is lost (swallowed by a weakref
  callback, say) and the call returns a coroutine, the worker closes it unstarted
  (``_worker.loop``), or, if the pool's target came too late for it to see, the pool
  cancels it as soon as ``ACCEPTED`` arrives.
* The worker leaves (shutdown, retirement, recycling) only after its coroutines have
  ended and sent their results; if the worker loop crashes, each one is cancelled
  and its task fails with ``WorkerCrashed``.
* ``map`` chunks of a coroutine function run their coroutines concurrently, and the
  worker waits for the chunk (:meth:`CoroutineRunner.run_chunk`).

Imported by a worker only when it first meets a coroutine: asyncio is slow to import.
"""

from __future__ import annotations

import asyncio
import threading
import time

from interpool._platform import signals
from interpool._platform.queues import QueueEmpty, ops
from interpool._wire.errors import encode_error
from interpool._wire.protocol import (
    CRASHED,
    ERROR,
    FROM_LOOP,
    NATIVE,
    R_HANDED,
    R_STATUS,
    R_VALUE,
    SKIPPED,
)
from interpool._worker.replies import RELEASE_POLL_SECONDS, call_reply, hold_views, release_views
from interpool._worker.watchdog import Interrupted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

__all__ = ["CoroutineRunner"]

#: How often a worker waiting for a chunk of coroutines lets an interruption in.
CHUNK_WAIT_SLICE = 0.05
#: How long a leaving worker waits for the caller to release its last results' buffers.
RELEASE_PATIENCE = 1.0


def _timeout_error(limit: float) -> TimeoutError:
    return TimeoutError(
        f"interpool: the coroutine ran longer than its time limit of {limit:g} s; it was cancelled"
    )


async def _limited(coro: Coroutine[Any, Any, Any], limit: float | None) -> Any:
    """Await ``coro`` within ``limit`` seconds (``TimeoutError`` when it passes)."""
    if limit is None:
        return await coro
    try:
        async with asyncio.timeout(limit) as scope:
            return await coro
    except TimeoutError:
        if scope.expired():
            raise _timeout_error(limit) from None
        raise


class CoroutineRunner:
    """The event loop of one worker, started on first use (see the module docstring).

    ``send(reply)`` queues a result message and wakes the pool; ``cancel_q`` is the
    slot's cancel queue and ``cancel_rfd`` its signal.
    """

    def __init__(self, send: Callable[[Any], None], cancel_q: Any, cancel_rfd: int) -> None:
        self._send = send
        self._cancel_get = ops(cancel_q).get
        self._cancel_rfd = cancel_rfd
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        #: Coroutines handed over (``expect``) and not finished; those begun, by id;
        #: ids the pool cancelled, begun or not.
        self._known: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancelled: set[int] = set()
        self._idle = threading.Condition()
        self._aborting: BaseException | None = None
        self._held: list[memoryview] = []
        self._releasing = False

    # -- the worker's thread ------------------------------------------------------------

    def busy(self) -> bool:
        """True while some coroutine has not finished."""
        return bool(self._known)

    def expect(self, task_id: int) -> None:
        """Announce the coroutine of ``task_id`` (before the pool hears of it, so that
        a cancellation is recognised even before :meth:`start`)."""
        self._ensure_loop()
        with self._idle:
            self._known.add(task_id)

    def start(self, task_id: int, coro: Coroutine[Any, Any, Any], limit: float | None) -> None:
        """Run ``coro`` for task ``task_id`` (announced by :meth:`expect`); its result
        message is sent when it ends."""
        loop = self._ensure_loop()
        loop.call_soon_threadsafe(self._begin, task_id, coro, limit)

    def run_chunk(
        self,
        coros: list[Coroutine[Any, Any, Any]],
        limit: float | None,
        clock: tuple[Any, int, Any] | None,
    ) -> list[tuple[bool, Any]]:
        """Run a ``map`` chunk's coroutines concurrently and wait for all of them:
        ``(True, value)`` or ``(False, exception)`` each, in order.  While it waits,
        the chunk's clock (``clock``, see ``_worker.loop._run_chunk``) is kept fresh: each
        coroutine has its own time limit here.  An interruption of the worker cancels
        the coroutines."""
        loop = self._ensure_loop()

        async def one(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
            try:
                return True, await _limited(coro, limit)
            except BaseException as exc:  # noqa: BLE001 - the item's outcome
                return False, exc

        async def gather() -> list[tuple[bool, Any]]:
            return list(await asyncio.gather(*(one(c) for c in coros)))

        future = asyncio.run_coroutine_threadsafe(gather(), loop)
        try:
            while True:
                try:
                    return future.result(CHUNK_WAIT_SLICE)
                except TimeoutError:
                    if clock is not None:
                        clock[0][clock[1]] = clock[2]()
        except Interrupted:
            future.cancel()
            raise

    def finish(self) -> None:
        """Wait until every coroutine has ended and sent its result (and the caller
        released their buffers), then stop the loop.  The worker is leaving."""
        if self._loop is None:
            return
        with self._idle:
            while self._known:
                try:
                    self._idle.wait()
                except Interrupted:
                    continue
        self._stop_loop()

    def abort(self, reason: BaseException) -> None:
        """The worker loop crashed: cancel every coroutine; their tasks fail with
        ``reason`` (a ``WorkerCrashed``)."""
        loop = self._loop
        if loop is None:
            return
        self._aborting = reason

        def cancel_all() -> None:
            for task in self._tasks.values():
                task.cancel()

        loop.call_soon_threadsafe(cancel_all)
        self.finish()

    # -- the loop's thread --------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            loop.add_reader(self._cancel_rfd, self._check_cancels)
            thread = threading.Thread(target=loop.run_forever, name="interpool-worker-loop")
            thread.start()
            self._thread = thread
            self._loop = loop
        return self._loop

    def _begin(self, task_id: int, coro: Coroutine[Any, Any, Any], limit: float | None) -> None:
        if task_id in self._cancelled or self._aborting is not None:
            coro.close()
            self._finished(task_id, (task_id, SKIPPED + FROM_LOOP, None, ()))
            return
        loop = self._loop
        assert loop is not None
        task = loop.create_task(self._run(task_id, coro, limit))
        self._tasks[task_id] = task
        task.add_done_callback(lambda done: self._never_ran(task_id, coro, done))

    def _never_ran(
        self, task_id: int, coro: Coroutine[Any, Any, Any], task: asyncio.Task[None]
    ) -> None:
        """Done callback of a coroutine's task.  A task cancelled before its first step
        never enters :meth:`_run` (asyncio throws the cancellation in at the start), so
        nothing replied or counted it as ended: do both here."""
        if self._tasks.get(task_id) is not task:
            return  # _run ended it, as usual
        del self._tasks[task_id]
        coro.close()
        if self._aborting is not None:
            reply: Any = (task_id, CRASHED + FROM_LOOP, encode_error(self._aborting), ())
        else:
            reply = (task_id, SKIPPED + FROM_LOOP, None, ())
        self._finished(task_id, reply)

    async def _run(self, task_id: int, coro: Coroutine[Any, Any, Any], limit: float | None) -> None:
        reply: Any
        try:
            try:
                value = await _limited(coro, limit)
            finally:
                del coro
            box = [value]
            del value
            reply = call_reply(task_id, box)
        except asyncio.CancelledError as exc:
            if self._aborting is not None:
                reply = (task_id, CRASHED, encode_error(self._aborting), ())
            elif task_id in self._cancelled:
                reply = (task_id, SKIPPED, None, ())
            else:  # the coroutine cancelled itself
                reply = (task_id, ERROR, encode_error(exc), ())
        except BaseException as exc:  # noqa: BLE001 - the task's error is its result
            reply = (task_id, ERROR, encode_error(exc), ())
        self._tasks.pop(task_id, None)
        status, value, handed = reply[R_STATUS] + FROM_LOOP, reply[R_VALUE], reply[R_HANDED]
        del reply
        self._finished(task_id, (task_id, status, value, handed))

    def _finished(self, task_id: int, reply: Any) -> None:
        """Send a coroutine's result message and count it as ended."""
        self._send(reply)
        status = reply[R_STATUS] - FROM_LOOP
        if status != NATIVE:
            hold_views((task_id, status, reply[R_VALUE], ()), self._held)
        del reply
        if not self._releasing:
            self._release()
        self._cancelled.discard(task_id)
        with self._idle:
            self._known.discard(task_id)
            if not self._known:
                self._idle.notify_all()

    def _release(self) -> None:
        """Release the views of sent results the caller is done with; while some are
        still read, try again shortly (see ``_worker.loop._sleep`` for why it takes time)."""
        self._releasing = False
        release_views(self._held)
        if self._held and self._loop is not None:
            self._releasing = True
            self._loop.call_later(RELEASE_POLL_SECONDS, self._release)

    def _check_cancels(self) -> None:
        """The cancel signal fired: cancel the coroutines the pool cancelled (or mark
        them, if they have not begun)."""
        signals.wait(self._cancel_rfd)
        while True:
            try:
                task_id = self._cancel_get()
            except QueueEmpty:
                return
            if task_id not in self._known:
                continue  # it has finished
            self._cancelled.add(task_id)
            task = self._tasks.get(task_id)
            if task is not None:
                task.cancel()

    async def _shutdown(self) -> None:
        """What ``asyncio.run`` does before it closes its loop: cancel the tasks the
        coroutines left behind, and close the async generators."""
        loop = asyncio.get_running_loop()
        current = asyncio.current_task()
        left = [t for t in asyncio.all_tasks(loop) if t is not current]
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
        await loop.shutdown_asyncgens()
        await loop.shutdown_default_executor()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        assert loop is not None and thread is not None
        # The caller may still read our last results' buffers: wait (briefly).
        end = time.monotonic() + RELEASE_PATIENCE
        while self._held and time.monotonic() < end:
            time.sleep(RELEASE_POLL_SECONDS)
        cleanup = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        while True:
            try:
                cleanup.result()
                break
            except Interrupted:
                continue
            except Exception:  # noqa: BLE001 - best effort, as asyncio.run's own
                break
        loop.call_soon_threadsafe(loop.stop)
        while True:
            try:
                thread.join()
                break
            except Interrupted:
                continue
        loop.remove_reader(self._cancel_rfd)
        loop.close()
        self._loop = None

"""The future a pool hands out, on every backend: :class:`PoolFuture`, a real
``concurrent.futures.Future`` that is cheaper to make, whose ``cancel`` can stop a
running task, and whose blocking calls first help the pool for a moment.

* Every backend (interpreters, processes, threads, Dask), the fallback to processes
  and actors' calls return a ``PoolFuture``: each is made with an :class:`Owner`, the
  object that completes it (a scheduler, a backend, an actor's host), to which its
  ``cancel`` and its blocking calls are handed.
* ``result()`` and ``exception()`` on a future that is not done yet first let the
  owner help (``Owner.help_wait``): the interpreters' scheduler polls the pool's
  result queue for a short, bounded time (:data:`SPIN_SECONDS`), completing whatever
  results arrived, before the ordinary blocking wait.  A quick task is then picked up
  without a kernel wake-up of the collector thread and of the caller (see
  docs/performance.md); a long task costs at most one bounded spin before the caller
  sleeps.  ``wait()``, ``as_completed()`` and callbacks are unaffected: the collector
  thread completes futures on its own.  The other owners do not help.
* Ctrl-C: in the main thread, where ``KeyboardInterrupt`` may be raised at any
  bytecode boundary, the parts of ``result()``, ``exception()`` and ``cancel()`` that
  change shared state (the owner's help, which takes results off the pool's queue and
  completes futures; the future's lock and waiter list; a cancel's bookkeeping) run
  under :class:`deferred_interrupts`: ``SIGINT``'s Python handler is deferred to the
  end of that part, which is short (at most :data:`SPIN_SECONDS` plus the completions
  it makes).  The blocking wait itself is not deferred: Ctrl-C interrupts it at once.
  So an interrupt never loses a result, leaves a counter raised or a lock held.
  ``result()`` of a finished future takes no lock at all.
* Its ``_condition`` is a :class:`_Condition`: the part of ``threading.Condition``
  that ``Future``, ``wait()`` and ``as_completed()`` use, with the same semantics, on
  an ``RLock`` subclass (``result()`` and ``exception()`` are interpool's own):
  about a sixth of the cost to create, and entered in C (this is on every task's
  path).
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from types import FrameType
from typing import Any, Protocol

__all__ = [
    "NOT_DONE",
    "RUNNING",
    "SPIN_SECONDS",
    "LoopSource",
    "NoHelp",
    "Owner",
    "PoolFuture",
    "cancel_running",
    "deferred_interrupts",
    "results_source",
]

#: How long a caller blocked in ``result()`` polls for its result before sleeping.
SPIN_SECONDS = 200e-6

#: ``concurrent.futures``' state names, read and set directly on the hot paths.
RUNNING = "RUNNING"
NOT_DONE = frozenset({"PENDING", RUNNING})
_FINISHED = "FINISHED"
_CANCELLED = frozenset({"CANCELLED", "CANCELLED_AND_NOTIFIED"})

#: The thread whose signal handlers run (Python runs them in the main thread only).
_MAIN = threading.main_thread().ident
_SIGINT = signal.SIGINT


class deferred_interrupts:
    """``with deferred_interrupts():`` in the main thread, ``SIGINT``'s Python handler
    (Ctrl-C's ``KeyboardInterrupt``, or the program's own handler) does not run
    inside the block: a signal that arrives meanwhile is handled at its end, by the
    handler that was installed.  In another thread, or without a Python handler
    (``SIG_IGN``, ``SIG_DFL``), or in a sub-interpreter, it does nothing.

    For short blocks that must not be cut in the middle (they change state that other
    threads depend on).  Robust to the interrupt landing at any bytecode boundary:
    before the deferring handler is in place nothing has changed yet, and from then
    on the handler only records the signal.  Costs two ``sigaction`` system calls in
    the main thread (docs/performance.md has what that adds to a round trip)."""

    __slots__ = ("_caught", "_previous")

    def __init__(self) -> None:
        self._previous: Any = None
        self._caught: tuple[int, FrameType | None] | None = None

    def __enter__(self) -> None:
        if _thread.get_ident() != _MAIN:
            return
        previous = signal.getsignal(_SIGINT)
        if not callable(previous):
            return
        try:
            signal.signal(_SIGINT, self._defer)
        except ValueError:  # not the main interpreter
            return
        self._previous = previous

    def _defer(self, signum: int, frame: FrameType | None) -> None:
        self._caught = (signum, frame)

    def __exit__(self, *exc_info: object) -> None:
        previous = self._previous
        if previous is None:
            return
        self._previous = None
        signal.signal(_SIGINT, previous)
        caught, self._caught = self._caught, None
        if caught is not None:
            previous(*caught)  # KeyboardInterrupt, now that the block is complete


class _Condition(_thread.RLock):  # type: ignore[misc]  # final in typeshed, not at run time
    """``threading.Condition(threading.RLock())`` restricted to what futures use:
    ``with``, ``acquire``/``release`` (the lock's own, in C) and ``notify_all()``
    (``Future``'s setters, ``wait()`` and ``as_completed()``), and instead of
    ``wait(timeout)``, :meth:`add_waiter` and :meth:`discard_waiter`, with which
    :meth:`PoolFuture.result` blocks outside the lock."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: deque[Any] | None = None

    def add_waiter(self) -> Any:
        """A new waiter (a lock, held) that :meth:`notify_all` will release (the
        lock must be held).  For a caller that blocks on the waiter itself, outside
        the lock; :meth:`discard_waiter` drops it if it was not notified."""
        waiter = _thread.allocate_lock()
        waiter.acquire()
        if self._waiters is None:
            self._waiters = deque()
        self._waiters.append(waiter)
        return waiter

    def discard_waiter(self, waiter: Any) -> None:
        """Drop a waiter that was not notified (the lock must be held)."""
        if self._waiters is not None:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def notify_all(self) -> None:
        """Wake every waiter (the lock must be held)."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            with contextlib.suppress(RuntimeError):  # timed out concurrently
                waiter.release()


class Owner(Protocol):
    """What completes a :class:`PoolFuture` (a scheduler, a backend, an actor's host),
    and what the future needs of it.  (``future`` is typed ``Any``: each owner takes
    its own subclass of :class:`PoolFuture`.)"""

    def help_wait(self, future: Any, budget: float) -> None:
        """Called before ``future.result()`` or ``exception()`` block: help complete
        it for up to ``budget`` seconds (or do nothing)."""
        ...

    def cancel(self, future: Any, interrupt: bool) -> bool:
        """``future.cancel(interrupt=interrupt)``: see :meth:`PoolFuture.cancel`."""
        ...


class LoopSource(Owner, Protocol):
    """An owner whose results an event loop may collect itself (a pool's scheduler:
    see ``Scheduler.listen``); other owners (actor hosts) need not be one."""

    def waiting(self, delta: int) -> None: ...
    def listen(self, alive: Callable[[], bool]) -> int | None: ...
    def unlisten(self, fd: int, alive: Callable[[], bool]) -> None: ...
    def collect(self, fd: int) -> None: ...


class PoolFuture[T](Future[T]):
    """The future of a task, on every backend: a ``concurrent.futures.Future`` (it
    works with ``wait``, ``as_completed``, callbacks and ``asyncio.wrap_future``)
    whose :meth:`cancel` also stops a running task unless told not to.
    """

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    def __init__(self, owner: Owner) -> None:
        # Future.__init__'s attributes (same on 3.14 and 3.15; a test checks they
        # still match), without the threading.Condition it would create.
        self._condition = _Condition()  # type: ignore[assignment]
        self._state = "PENDING"
        self._result: T | None = None
        self._exception: BaseException | None = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Callable[[Future[T]], object]] = []
        self._owner = owner
        #: The task's id in its scheduler (``-1`` until it is submitted; interpreters
        #: backend only).
        self.task_id = -1

    def cancel(self, *, interrupt: bool = True) -> bool:
        """Cancel the task; return True if it is (now) cancelled, False if it has
        finished (or runs on: see ``interrupt``).

        A task no worker has started is dropped, as in ``concurrent.futures``.  A
        task that is running is stopped too, unlike ``concurrent.futures`` (whose
        ``cancel()`` then returns False and lets it run): the future is cancelled at
        once (its waiters, ``wait()``, ``as_completed()`` and callbacks see it so),
        and the task is interrupted as well as its backend can: in a worker
        interpreter or thread, an exception is raised in the task (pure Python code
        stops at once, a C call such as ``time.sleep`` only when it returns) and the
        worker is replaced by a fresh one; in a process, the process is killed and
        replaced.  Dask cannot stop a running task, nor tell it from a queued one:
        the task is released and runs on in its worker, its result dropped.  An
        actor's call that is interrupted loses the actor (``ActorLost`` for the
        calls after it), unless it is a coroutine, which is cancelled on its
        worker's event loop.

        ``interrupt=False`` is ``concurrent.futures``' ``cancel()`` exactly: a
        running task is left alone and False is returned.  (On Dask, where no task
        is ever seen running, the task is released as above.)
        """
        with deferred_interrupts():
            return self._owner.cancel(self, interrupt)

    def result(self, timeout: float | None = None) -> T:
        """``Future.result``: the task's result, or its exception raised; blocks up to
        ``timeout`` seconds (``None``: no limit) while the task is not done, then
        raises ``TimeoutError``; ``CancelledError`` if it was cancelled.  Ctrl-C
        interrupts the wait (``KeyboardInterrupt``) and leaves the pool intact."""
        if self._state != _FINISHED:
            self._wait(timeout)
        exception = self._exception
        if exception is not None:
            try:
                raise exception
            finally:
                self = None  # type: ignore[assignment]  # noqa: PLW0642 - no cycle through the traceback
        return self._result  # type: ignore[return-value]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """``Future.exception``: the task's exception (``None`` if it returned), with
        ``result()``'s waiting, ``TimeoutError`` and ``CancelledError``."""
        if self._state != _FINISHED:
            self._wait(timeout)
        return self._exception

    def _wait(self, timeout: float | None) -> None:
        """Block until the future is done, or ``timeout`` seconds; raise
        ``CancelledError`` if it is cancelled, ``TimeoutError`` if it is not done.

        The owner helps first (``Owner.help_wait``); then the caller blocks on a
        waiter of the future's condition, outside the lock.  The help and every
        change to the condition run under :class:`deferred_interrupts`, and the
        blocking acquire outside it: Ctrl-C in the main thread stops the wait at
        once, and at worst leaves a registered waiter that nobody waits on, which
        the future's completion releases."""
        condition = self._condition
        owner = self._owner
        # A LoopSource's (see Scheduler.waiting): an event loop may be blocked here, so
        # the collector must not leave the results to it meanwhile.
        waiting = getattr(owner, "waiting", None)
        waiter = None
        counted = False
        try:
            with deferred_interrupts():
                if self._state in NOT_DONE and (timeout is None or timeout > 0):
                    owner.help_wait(
                        self, SPIN_SECONDS if timeout is None else min(timeout, SPIN_SECONDS)
                    )
                    with condition:
                        if self._state in NOT_DONE and (timeout is None or timeout > 0):
                            waiter = condition.add_waiter()  # type: ignore[attr-defined]
                    # Outside the future's lock: the owner's lock is taken before it
                    # elsewhere (completing futures).
                    if waiter is not None and waiting is not None:
                        waiting(1)
                        counted = True
            if waiter is not None:
                notified = waiter.acquire() if timeout is None else waiter.acquire(True, timeout)
                if not notified:
                    with deferred_interrupts(), condition:
                        condition.discard_waiter(waiter)  # type: ignore[attr-defined]
        finally:
            if counted:
                with deferred_interrupts():  # it takes the owner's lock
                    waiting(-1)  # type: ignore[misc]
        state = self._state
        if state in _CANCELLED:
            raise CancelledError()
        if state != _FINISHED:
            raise TimeoutError()


class NoHelp:
    """A base for the owners that do not help a blocked caller (the caller simply
    waits for the future): :meth:`help_wait` does nothing."""

    __slots__ = ()

    def help_wait(self, future: PoolFuture[Any], budget: float) -> None:
        """Nothing to help with: the caller blocks on the future."""


def results_source(future: Future[Any]) -> LoopSource | None:
    """The scheduler of a pool's ``future``, for an event loop that collects its
    results itself (see ``_platform.eventloop``); ``None`` for any other future, or
    one whose owner cannot do that (an actor's host)."""
    if not isinstance(future, PoolFuture):
        return None
    owner = future._owner
    return owner if hasattr(owner, "listen") else None  # type: ignore[return-value]


def cancel_running(future: Future[Any]) -> bool:
    """Cancel a future whose task is running (``Future.cancel`` refuses to): its
    waiters (``wait``, ``as_completed``) and callbacks see it cancelled.  True if it is
    (now) cancelled, False if it is pending or finished.  For backends that stop the
    running task themselves (the threads and processes backends)."""
    with future._condition:
        state = future._state
        if state in ("CANCELLED", "CANCELLED_AND_NOTIFIED"):
            return True
        if state != RUNNING:
            return False
        future._state = "CANCELLED_AND_NOTIFIED"
        for waiter in future._waiters:
            waiter.add_cancelled(future)
        future._condition.notify_all()
    future._invoke_callbacks()  # type: ignore[attr-defined]
    return True

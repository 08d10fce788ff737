"""The future a pool hands out: a real ``concurrent.futures.Future`` that is cheaper
to make and whose blocking calls first help the pool for a moment.

* ``result()`` and ``exception()`` on a future that is not done yet first poll the
  pool's result queue themselves for a short, bounded time (:data:`SPIN_SECONDS`),
  completing whatever results arrived, before falling back to the ordinary blocking
  wait.  A quick task is then picked up without a kernel wake-up of the collector
  thread and of the caller (see docs/performance.md); a long task costs at most
  one bounded spin before the caller sleeps.  ``wait()``, ``as_completed()`` and
  callbacks are unaffected: the collector thread completes futures on its own.
* Its ``_condition`` is a :class:`_Condition`: the part of ``threading.Condition``
  that ``Future``, ``wait()`` and ``as_completed()`` use, with the same semantics, on
  an ``RLock`` subclass: about a sixth of the cost to create, and entered in C (this is
  on every task's path).
"""

from __future__ import annotations

import _thread
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

__all__ = [
    "NOT_DONE",
    "RUNNING",
    "SPIN_SECONDS",
    "LoopSource",
    "PoolFuture",
    "cancel_running",
    "results_source",
]

#: How long a caller blocked in ``result()`` polls for its result before sleeping.
SPIN_SECONDS = 200e-6

#: ``concurrent.futures``' state names, read and set directly on the hot paths.
RUNNING = "RUNNING"
NOT_DONE = frozenset({"PENDING", RUNNING})


class _Condition(_thread.RLock):  # type: ignore[misc]  # final in typeshed, not at run time
    """``threading.Condition(threading.RLock())`` restricted to what futures use:
    ``with``, ``acquire``/``release`` (the lock's own, in C), ``wait(timeout)`` and
    ``notify_all()``."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: deque[Any] | None = None

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, block until notified or ``timeout``, re-acquire."""
        waiter = _thread.allocate_lock()
        waiter.acquire()
        if self._waiters is None:
            self._waiters = deque()
        self._waiters.append(waiter)
        saved = self._release_save()  # type: ignore[attr-defined]
        notified = False
        try:
            if timeout is None:
                notified = waiter.acquire()
            elif timeout > 0:
                notified = waiter.acquire(True, timeout)
            else:
                notified = waiter.acquire(False)
            return notified
        finally:
            self._acquire_restore(saved)  # type: ignore[attr-defined]
            if not notified:
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
    """What a future needs of its pool's scheduler."""

    def help_wait(self, future: PoolFuture[Any], budget: float) -> None: ...
    def cancel(self, future: PoolFuture[Any], interrupt: bool) -> bool: ...


class LoopSource(Owner, Protocol):
    """An owner whose results an event loop may collect itself (a pool's scheduler:
    see ``Scheduler.listen``); other owners (actor hosts) need not be one."""

    def waiting(self, delta: int) -> None: ...
    def listen(self, alive: Callable[[], bool]) -> int | None: ...
    def unlisten(self, fd: int, alive: Callable[[], bool]) -> None: ...
    def collect(self, fd: int) -> None: ...


class PoolFuture[T](Future[T]):
    """A ``concurrent.futures.Future`` tied to the pool that will complete it.

    Unlike the standard library's, :meth:`cancel` also stops a task that is running.
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
        #: The task's id in its scheduler (``-1`` until it is submitted).
        self.task_id = -1

    def cancel(self, *, interrupt: bool = True) -> bool:
        """Cancel the task; return True if it is (now) cancelled.

        A task waiting for a worker is dropped.  A task that is running is stopped
        too (unlike ``concurrent.futures``, where ``cancel()`` then returns False):
        the future is cancelled at once, the task is interrupted in its worker (pure
        Python code stops at once; a C call such as ``time.sleep`` only when it
        returns) and that worker is replaced by a fresh one, so the pool keeps its
        capacity.  With ``interrupt=False`` a running task is left alone and False is
        returned, as in ``concurrent.futures``.  False if the task has finished.
        """
        return self._owner.cancel(self, interrupt)

    def result(self, timeout: float | None = None) -> T:
        if self._state in NOT_DONE and (timeout is None or timeout > 0):
            owner = self._owner
            owner.help_wait(self, SPIN_SECONDS if timeout is None else min(timeout, SPIN_SECONDS))
            waiting = getattr(owner, "waiting", None)  # a LoopSource's
            if waiting is not None and self._state in NOT_DONE:
                waiting(1)  # see Scheduler.waiting: an event loop may be blocked here
                try:
                    return super().result(timeout)
                finally:
                    waiting(-1)
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state in NOT_DONE and (timeout is None or timeout > 0):
            owner = self._owner
            owner.help_wait(self, SPIN_SECONDS if timeout is None else min(timeout, SPIN_SECONDS))
            waiting = getattr(owner, "waiting", None)
            if waiting is not None and self._state in NOT_DONE:
                waiting(1)
                try:
                    return super().exception(timeout)
                finally:
                    waiting(-1)
        return super().exception(timeout)


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

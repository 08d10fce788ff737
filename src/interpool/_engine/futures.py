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

__all__ = ["NOT_DONE", "RUNNING", "SPIN_SECONDS", "NoHelp", "Owner", "PoolFuture", "cancel_running"]

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


class PoolFuture[T](Future[T]):
    """The future of a task, on every backend: a ``concurrent.futures.Future`` (it
    works with ``wait``, ``as_completed``, callbacks and ``asyncio.wrap_future``)
    whose :meth:`cancel` also stops a running task unless told not to.

    Made by the pool, never by user code.
    """

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
        return self._owner.cancel(self, interrupt)

    def result(self, timeout: float | None = None) -> T:
        if self._state in NOT_DONE and (timeout is None or timeout > 0):
            self._owner.help_wait(
                self, SPIN_SECONDS if timeout is None else min(timeout, SPIN_SECONDS)
            )
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state in NOT_DONE and (timeout is None or timeout > 0):
            self._owner.help_wait(
                self, SPIN_SECONDS if timeout is None else min(timeout, SPIN_SECONDS)
            )
        return super().exception(timeout)


class NoHelp:
    """A base for the owners that do not help a blocked caller (the caller simply
    waits for the future): :meth:`help_wait` does nothing."""

    __slots__ = ()

    def help_wait(self, future: PoolFuture[Any], budget: float) -> None:
        """Nothing to help with: the caller blocks on the future."""


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

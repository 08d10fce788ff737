"""Interrupting a task inside a worker interpreter (worker side).

Each worker runs a second thread, its watchdog, which sleeps on the slot's watch
signal.  When the pool wants the worker's task interrupted (its time limit passed, or
it was cancelled), it writes the task's id in ``targets[slot]`` and notifies the
signal; the watchdog then raises :class:`Interrupted` in the worker's thread with
``PyThreadState_SetAsyncExc``.  That call only reaches threads of the interpreter it
is made from, which is why the watchdog lives in the worker and not in the caller.

The exception arrives at the worker thread's next bytecode boundary: pure-Python code
stops within microseconds, but code blocked in one C call (``time.sleep``, a blocking
read, a long C loop) only stops when that call returns.  If the task catches the
exception and goes on, the watchdog raises it again every :data:`REPEAT_SECONDS`
while the task runs.

When a task ends, the worker clears ``tasks[slot]``; then, only if the pool targeted
that very task, it calls :meth:`Watchdog.task_ended`, which takes
:attr:`Watchdog.guard` and drops any exception still pending.
The watchdog raises only under the same lock, and only while ``tasks[slot]`` still
holds the targeted task, so an interruption can never leak into the worker loop or
into the next task.  (An untargeted task skips the lock: the pool writes the target
before it wakes the watchdog, and the watchdog needs the interpreter's GIL, which the
worker releases only after its own writes, so a watchdog that could still raise for
a task always sees that task's target in place, and so does the worker.)
"""

from __future__ import annotations

import threading

from interpool._platform import signals
from interpool._wire import handoff
from interpool._wire.protocol import IDLE
from interpool.exceptions import Interrupted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Interrupted", "Watchdog"]

#: While an interrupted task is still running, how often it is interrupted again.
REPEAT_SECONDS = 0.5


class Watchdog:
    """The watchdog thread of one worker (see the module docstring)."""

    def __init__(self, slot: int, tasks: Any, targets: Any, signal: tuple[int, int]) -> None:
        self.guard = threading.RLock()
        self._slot = slot
        self._tasks = tasks
        self._targets = targets
        self._rfd, self._wfd = signal
        self._victim = threading.get_ident()
        self._raised = False
        self._stopping = False
        self._set_async_exc: Any = None
        self._thread = threading.Thread(target=self._run, name="interpool-watchdog")
        self._thread.start()

    def _run(self) -> None:
        slot, tasks, targets = self._slot, self._tasks, self._targets
        armed = IDLE
        while True:
            if armed == IDLE:
                signals.wait(self._rfd)
            else:
                signals.wait_for(self._rfd, REPEAT_SECONDS)
            if self._stopping:
                return
            target = targets[slot]
            with self.guard:
                if target >= 0 and tasks[slot] == target:
                    self._raise()
                    armed = target
                else:
                    armed = IDLE

    def _raise(self) -> None:
        """Schedule :class:`Interrupted` in the worker's thread (``guard`` held)."""
        if self._set_async_exc is None:
            ctypes = handoff.import_ctypes()
            fn = ctypes.pythonapi.PyThreadState_SetAsyncExc
            fn.argtypes = (ctypes.c_ulong, ctypes.py_object)
            fn.restype = ctypes.c_int
            clear = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
                ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
            )
            self._set_async_exc = (fn, clear)
        self._set_async_exc[0](self._victim, Interrupted)
        self._raised = True

    def task_ended(self) -> None:
        """Called by the worker once its targeted task has ended and ``tasks[slot]``
        is cleared: wait until the watchdog is not raising, and drop an interruption
        that has not fired yet.

        The pending interruption may still fire at any bytecode boundary in here
        (even right after the lock is taken, before a ``with`` block would be set
        up): then it is caught, and the lock released, and the drop is tried again.
        The watchdog raises at most once more after ``tasks[slot]`` is cleared (it
        checks under the lock), so this ends."""
        guard = self.guard
        while True:
            try:
                try:
                    guard.acquire()
                    if self._raised:
                        self._raised = False
                        self._set_async_exc[1](self._victim, None)
                    return
                finally:
                    while guard._is_owned():  # type: ignore[attr-defined]
                        guard.release()
            except Interrupted:
                continue

    def stop(self) -> None:
        """End the watchdog thread and wait for it (the worker is leaving).  An
        interruption that fires meanwhile does not stop the wait."""
        self._stopping = True
        signals.notify(self._wfd)
        while True:
            try:
                self._thread.join()
                return
            except Interrupted:
                continue

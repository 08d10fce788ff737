"""Module-level task functions for ``test_health.py`` (worker replacement, recycling,
idle exit, crashes, initializers).

Workers import this module by name (``tests.tasks.health``); each worker interpreter
has its own copy of the module state below, which starts afresh in a new interpreter.
"""

from __future__ import annotations

import sys
from typing import Any

from interpool._platform import interpreters

#: Calls of :func:`counted` in this interpreter.
_calls = 0
#: One entry per run of :func:`init_record` in this interpreter.
_inits: list[int] = []


def counted(x: Any) -> tuple[int, int, Any]:
    """``(interpreter id, calls of counted() in this interpreter so far, x)``."""
    global _calls
    _calls += 1
    return interpreters.get_current().id, _calls, x


def interp_id(*_: Any) -> int:
    return interpreters.get_current().id


def square(x: int) -> int:
    return x * x


def raise_system_exit(code: int) -> None:
    raise SystemExit(code)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


# -- initializers ---------------------------------------------------------------------


class InitError(Exception):
    """The error of :func:`failing_init`."""


def failing_init(message: str) -> None:
    raise InitError(message)


def init_record() -> None:
    _inits.append(interpreters.get_current().id)


def init_runs(*_: Any) -> tuple[int, int]:
    """``(interpreter id, how many times init_record() ran in this interpreter)``."""
    return interpreters.get_current().id, len(_inits)


# -- sabotage of the worker's own loop --------------------------------------------------


def break_idle_loop() -> int:
    """Make this worker's loop raise ``TypeError`` the next time it finds the task
    queue empty (``_serve`` looks ``_peer_polling`` up as a module global), i.e.
    *between* tasks; this task itself completes normally.  Returns the interpreter id."""
    import interpool._worker.loop as w

    w._peer_polling = None  # type: ignore[assignment]
    return interpreters.get_current().id


def release_loop_view(name: str) -> int:
    """Release the memoryview that this worker's loop (``_serve``) holds in its local
    ``name``, so that the loop's next use of it raises ``ValueError``.

    * ``"skips"``: used by the loop right after it has marked its next task as running
      (``running[slot] = task_id``) and before that task's own code starts: the worker
      then fails *while running* that task.
    * ``"running"``: used to mark a task running and idle: the loop fails at the end
      of this very task, and again when it takes the next one (before marking it).

    Returns the interpreter id."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "_serve":
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        raise RuntimeError("not called by interpool's worker loop")
    view = frame.f_locals[name]
    assert isinstance(view, memoryview), type(view)
    view.release()
    return interpreters.get_current().id

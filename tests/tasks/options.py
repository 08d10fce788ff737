"""Tasks for the interpreter-options tests (imported by the workers by name)."""

from __future__ import annotations

import _interpreters
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from .basic import rendezvous


def config() -> tuple[int, dict[str, Any]]:
    """``(interpreter id, the config CPython created this interpreter with)``."""
    interp_id = _interpreters.get_current()[0]
    return interp_id, vars(_interpreters.get_config(interp_id))


def config_together(
    directory: str, name: str, parties: int, timeout: float
) -> tuple[int, dict[str, Any]]:
    """:func:`config`, once ``parties`` calls run at once (see ``tasks.rendezvous``),
    so that each worker of a pool reports its own."""
    rendezvous(directory, name, parties, timeout)
    return config()


def spin(seconds: float) -> tuple[float, float, float]:
    """Run pure Python code (never releasing the GIL of its own accord) for ``seconds``
    of wall time; return ``(start, end, CPU time this thread got)``, the first two on
    the process-wide ``time.perf_counter`` clock."""
    cpu = time.thread_time()
    start = time.perf_counter()
    end = start + seconds
    now = start
    x = 0
    while now < end:
        for i in range(2000):
            x ^= i
        now = time.perf_counter()
    return start, now, time.thread_time() - cpu


def spin_together(
    directory: str, name: str, parties: int, timeout: float, seconds: float
) -> tuple[float, float, float]:
    """:func:`spin`, once ``parties`` calls run at once (their spins start together)."""
    rendezvous(directory, name, parties, timeout)
    return spin(seconds)


def gil_rendezvous(  # noqa: PLR0917 - a test task
    directory: str, name: str, parties: int, timeout: float, shared: memoryview, me: int
) -> bool:
    """True if this call and its partner (``me`` is 0 or 1) each saw the other run
    Python code while it held its own GIL without a break.

    After a plain :func:`rendezvous`, each call loops in pure Python (nothing in the
    loop releases the GIL) bumping its counter in ``shared`` (a view of the caller's
    memory, seen by both) until it has seen the other's counter move three times and
    the other is satisfied too.  The switch interval is raised meanwhile, so the GIL
    is not taken away from a call that holds it.  Calls that share a GIL can therefore
    never see each other move: each gives up after ``timeout`` seconds and returns
    False.  Calls with a GIL each succeed as soon as the system runs both threads,
    whatever the number of CPUs."""
    rendezvous(directory, name, parties, timeout)
    counters = shared.cast("Q")
    other = 1 - me
    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        deadline = time.perf_counter() + timeout
        seen = counters[other]
        moves = 0
        while not (moves >= 3 and counters[2 + other]):
            counters[me] += 1
            now = counters[other]
            if now != seen:
                seen = now
                moves += 1
                if moves >= 3:
                    counters[2 + me] = 1
            if time.perf_counter() > deadline:
                return False
        return True
    finally:
        sys.setswitchinterval(interval)
        del counters


def cpu_work(n: int) -> int:
    """A CPU-bound task."""
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1_000_003
    return x


def spin_marked(directory: str) -> None:
    """Create ``started`` in ``directory``, loop in Python until interrupted, then
    write this interpreter's id to ``interrupted`` there."""
    Path(directory, "started").touch()
    try:
        while True:
            pass
    finally:
        Path(directory, "interrupted").write_text(str(_interpreters.get_current()[0]))


def run_daemon_thread() -> str:
    """Start a daemon thread, wait for it to finish, return what it did.  Raises
    ``RuntimeError`` where daemon threads are refused."""
    done: list[str] = []
    thread = threading.Thread(target=lambda: done.append("ran"), daemon=True)
    thread.start()
    thread.join()
    return done[0]


_waiting: list[threading.Thread] = []


def leave_waiting_daemon_thread() -> bool:
    """Start a daemon thread that waits forever (as a library's background thread
    does), and leave it running."""
    thread = threading.Thread(target=threading.Event().wait, daemon=True)
    thread.start()
    _waiting.append(thread)
    return thread.is_alive()


def import_numpy(n: int) -> tuple[int, list[str]]:
    """``numpy.arange(n).sum()`` and the warnings the import gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import numpy
    return int(numpy.arange(n).sum()), [str(w.message) for w in caught]


def import_numpy_together(
    directory: str, name: str, parties: int, timeout: float
) -> tuple[str, str]:
    """Once ``parties`` calls run at once: import numpy; ``("ok", "")`` or
    ``(exception type, message)``."""
    rendezvous(directory, name, parties, timeout)
    try:
        import_numpy(10)
    except ImportError as exc:
        return type(exc).__name__, str(exc)
    return "ok", ""


def import_name(name: str) -> str:
    """Import ``name``; return its ``__name__``."""
    module = __import__(name)
    return str(module.__name__)


def pid() -> int:
    return os.getpid()

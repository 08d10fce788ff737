"""Tasks for the processes backend (``test_processes.py``): they crash or hold their
process on purpose.  Module-level, so that they go by name."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path


def pid_then_sleep(directory: str, seconds: float) -> int:
    """Write this process's pid to ``directory/pid``, then sleep (a C call)."""
    path = Path(directory, "pid")
    path.with_suffix(".tmp").write_text(str(os.getpid()))
    path.with_suffix(".tmp").rename(path)
    time.sleep(seconds)
    return os.getpid()


def kill_self(signum: int = signal.SIGKILL) -> None:
    """Die by ``signum`` in the middle of the task."""
    os.kill(os.getpid(), signum)
    time.sleep(10)


def segfault() -> None:
    """Crash the process with a segmentation fault."""
    ctypes.string_at(0)


def nap_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def numpy_then_exit(code: int) -> None:
    """Import numpy (which moves the task from a worker interpreter to a process
    under ``fallback="processes"``), then end the process."""
    import numpy  # noqa: F401

    os._exit(code)

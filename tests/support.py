"""Helpers shared by the tests (not tasks: nothing here runs in a worker)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import interpool
from interpool._platform import interpreters

from .tasks import basic as tasks

#: Generous bound for anything that should happen "soon"; only reached on failure.
PATIENCE = 20.0

HAVE_PROC_FD = os.path.isdir("/proc/self/fd")


def wait_until(predicate: Callable[[], bool], timeout: float = PATIENCE) -> bool:
    """Poll ``predicate`` until it is true (returns True) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def join_all(threads: list[threading.Thread], timeout: float = PATIENCE) -> None:
    """Join ``threads`` within one shared ``timeout``; assert that they all ended."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not [t.name for t in threads if t.is_alive()], "threads still running"


def interpreter_ids() -> set[int]:
    return {interp.id for interp in interpreters.list_all()}


def pool_threads() -> set[threading.Thread]:
    # (The deadlines timer, shared by every pool of the threads and Dask backends, is
    # a daemon that lives as long as the program.)
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith("interpool-") and t.name != "interpool-deadlines"
    }


def open_fds(sockets: bool = True) -> int:
    """How many file descriptors this process has open (``sockets=False``: not
    counting sockets)."""
    if sockets:
        return len(os.listdir("/proc/self/fd"))
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue  # closed meanwhile (or the listing's own descriptor)
    return count


def run_together(pool: interpool.Pool, fn: Callable[..., Any] = tasks.rendezvous) -> list[Any]:
    """Run ``fn(directory, name, parties, timeout)`` (``tasks.rendezvous`` or alike) on
    every worker of ``pool`` at the same time and return the results, in submission
    order.  Each call waits until all ``max_workers`` calls have started, so this only
    succeeds if they all run at once.  One try: an idle worker is always woken for a
    queued call (``test_pool.py::test_idle_worker_is_woken_for_a_queued_task``); the
    calls wait for each other up to ``PATIENCE / 2``, which only a failure reaches
    (a slow start of the workers under load stays within it)."""
    n = pool.max_workers
    with tempfile.TemporaryDirectory() as directory:
        futures = [pool.submit(fn, directory, f"w{i}", n, PATIENCE / 2) for i in range(n)]
        try:
            return [f.result(timeout=PATIENCE) for f in futures]
        except TimeoutError as exc:
            cf.wait(futures, timeout=PATIENCE)
            raise AssertionError(f"{n} calls never ran at the same time") from exc


def warm_up(pool: interpool.Pool) -> set[int]:
    """Block until every worker of ``pool`` runs a task at the same time; returns the
    set of their interpreter ids (one per worker)."""
    ids = set(run_together(pool))
    assert len(ids) == pool.max_workers
    return ids


def run_python(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS...`` (a script path, ``-m module``, ``-c code``, or ``-`` to read
    the program from ``input``, as the REPL's stdin) with the running interpreter, in
    the current environment plus ``env``, and capture its output."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        input=input,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(path: Path, source: str) -> Path:
    """Write ``source`` (dedented) to ``path``; return ``path``."""
    path.write_text(textwrap.dedent(source))
    return path


def assert_clean_stderr(stderr: str) -> None:
    for bad in ("Fatal", "Traceback", "Error", "Exception ignored"):
        assert bad not in stderr, stderr

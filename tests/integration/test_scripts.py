"""Scripts as people write them (``tests/scripts/``), run as ``python script.py`` and
judged on exit status, stdout and stderr: a top-level import that refuses
sub-interpreters, the fallback on every entry point, no main guard, a ``def`` in the
main block, a top-level print, records, an initializer's global, and Ctrl-C while a
task is stuck in a C call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import run_python

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

pytest.importorskip("numpy")  # a dev dependency: several scripts import it at the top


def run(script: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_python(SCRIPTS / script, *args, cwd=cwd, timeout=120)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a run that succeeded with nothing on stderr."""
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.stdout


def test_a_numpy_import_at_the_top_does_not_break_numpy_free_functions() -> None:
    assert ok(run("numpy_at_top.py")) == "[0, 1, 4, 9, 16]\n49\n"


@pytest.mark.parametrize(
    ("entry", "first"),
    [
        ("submit", "10"),
        ("map", "[0, 0, 1, 3, 6, 10]"),
        ("map1", "[0, 0, 1, 3, 6, 10]"),
        ("map3", "[0, 0, 1, 3, 6, 10]"),
        ("map100", "[0, 0, 1, 3, 6, 10]"),
        ("imap", "[0, 0, 1, 3, 6, 10]"),
        ("imap_unordered", "[0, 0, 1, 3, 6, 10]"),
        ("run_amap", "(10, [0, 0, 1, 3])"),
        ("actor", "2 5"),
    ],
)
def test_the_fallback_covers_every_entry_point(entry: str, first: str) -> None:
    # Then the same function again (now straight to a process), and plain functions,
    # which still run in worker interpreters of this process.
    assert ok(run("numpy_fallback.py", entry)) == f"{first}\n6 [0, 1, 4, 9] True\n"


def test_without_the_fallback_the_error_names_the_import_and_the_ways_out() -> None:
    proc = run("numpy_in_function.py")
    assert proc.returncode == 1
    inside, at_top = proc.stdout.splitlines()
    for line in (inside, at_top):
        assert line.startswith("interpool.IncompatibleModuleError: module 'numpy._core")
        assert 'Pool(fallback="processes")' in line
        assert "upgrade numpy" in line
    # An import inside the task's function: moving it would not help.
    assert f"imported at {SCRIPTS / 'numpy_in_function.py'}, line 7 (`import numpy`)" in inside
    assert "move that import" not in inside
    # An import at the top of a module: moving it into the functions would.
    assert f"imported at {SCRIPTS / 'numpy_module.py'}, line 3 (`import numpy as np`)" in at_top
    assert "move that import into the functions that need it" in at_top
    last = proc.stderr.strip().splitlines()[-1]
    assert last == inside
    assert "interpool._" not in proc.stderr  # public names only


def test_a_stdlib_module_refusing_sub_interpreters_at_the_top() -> None:
    assert ok(run("faulthandler_at_top.py")) == "285\n"


def test_no_main_guard_runs_and_prints_once() -> None:
    assert ok(run("no_guard.py")) == "top-level print\n[0, 1, 4, 9, 16]\n"


def test_no_main_guard_with_numpy_and_the_fallback() -> None:
    assert ok(run("no_guard_fallback.py")) == "top-level print\n[0, 0, 1, 3] [1, 2, 3]\n"


def test_a_def_in_the_main_block() -> None:
    assert ok(run("def_in_main_block.py")) == "2 [1, 2, 3]\n"


def test_top_level_side_effects_are_not_repeated(tmp_path: Path) -> None:
    # The workers load the script by name (its prints silenced); its top level runs
    # once in the caller and at most once per worker, never per task.
    out = ok(run("top_level_print.py", cwd=tmp_path)).splitlines()
    assert out[:2] == ["loading the script", str([x * x for x in range(20)])]
    assert 1 <= len(out[2]) <= 3  # the caller, and each of 2 workers at most
    assert len(out) == 3


def test_records_of_a_script_that_workers_cannot_load_keep_their_class() -> None:
    out = ok(run("records_numpy.py"))
    assert out == ("[Record(name='aa', values=[2, 4]), Record(name='bb', values=[6])] True\n")


def test_an_actor_of_a_class_of_a_script_that_workers_cannot_load() -> None:
    assert ok(run("actor_of_the_script.py")) == "[['a'], ['a', 'b'], ['a', 'b', 'c']]\n"


def test_an_actors_calls_passing_records_of_such_a_script_stay_in_order() -> None:
    out = ok(run("actor_records.py"))
    assert out == "[None, None, None, [Item(name='a'), Item(name='b'), Item(name='c')]]\n"


def test_a_function_sent_by_value_is_unpickled_once_per_worker() -> None:
    assert ok(run("kept_by_value.py")) == "[1, 2, 3, 4, 5] [6, 7, 8]\n0\n"


def test_an_initializers_global_reaches_functions_sent_by_value() -> None:
    assert ok(run("initializer_global.py")) == "[0, 3, 6, 9]\n"


# -- what tasks log, print and warn -------------------------------------------------


def check_forwarded(proc: subprocess.CompletedProcess[str], script: str, warn_line: int) -> None:
    """Every task's record, print and warning reached the script's logging (its
    format), streams (whole lines) and warnings (the script's file and line)."""
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert sorted(out[:-1]) == [f"stdout from task {i}" for i in range(4)]
    assert out[-1] == "[0, 1, 2, 3]"
    err = proc.stderr.splitlines()
    assert sorted(line for line in err if line.startswith("CONFIGURED")) == [
        f"CONFIGURED INFO app info {i}" for i in range(4)
    ]
    assert not [line for line in err if "debug" in line]
    path = SCRIPTS / script
    assert sorted(line for line in err if "UserWarning" in line) == [
        f"{path}:{warn_line}: UserWarning: warn {i}" for i in range(4)
    ]


@pytest.mark.parametrize("backend", ["interpreters", "processes"])
def test_logs_prints_and_warnings_reach_the_script(backend: str) -> None:
    proc = run("forwarded.py", backend)
    check_forwarded(proc, "forwarded.py", 17)
    assert sorted(line for line in proc.stderr.splitlines() if "stderr" in line) == [
        f"stderr from task {i}" for i in range(4)
    ]


def test_logs_prints_and_warnings_of_threads_reach_the_script() -> None:
    # Threads write to the caller's streams themselves, a print in several writes:
    # two threads' text may mix within a line, as with any thread pool.
    proc = run("forwarded.py", "threads")
    assert proc.returncode == 0, proc.stderr
    for i in range(4):
        assert f"CONFIGURED INFO app info {i}" in proc.stderr
        assert f"forwarded.py:17: UserWarning: warn {i}" in proc.stderr
    assert proc.stdout.count("stdout from task") == 4


def test_logs_prints_and_warnings_of_a_script_without_guard_and_with_numpy() -> None:
    check_forwarded(run("forwarded_no_guard.py"), "forwarded_no_guard.py", 19)


# -- Ctrl-C while a task is stuck in a C call ---------------------------------------


#: Runs ``python ARGS...`` with Ctrl-C's default disposition, as from a terminal: a test
#: run started in the background (CI) ignores SIGINT, which its children would inherit
#: (Python then installs no handler for it).
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def ctrl_c(
    mode: str, presses: int, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``ctrl_c.py mode``; once it prints READY, press Ctrl-C ``presses`` times,
    2 s apart at most (the next only if it still runs).  Returns the run and the
    seconds from the last press to the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, str(SCRIPTS / "ctrl_c.py"), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CTRL_C_STARTED": str(tmp_path / "started")},
    )
    assert proc.stdout is not None
    lines = []
    try:
        while True:
            line = proc.stdout.readline()
            assert line, f"ended before READY: {lines} {proc.communicate()}"
            lines.append(line)
            if line == "READY\n":
                break
        time.sleep(0.3)  # let it reach the wait
        for press in range(presses):
            pressed = time.monotonic()
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=2)
            except subprocess.TimeoutExpired:
                assert press < presses - 1, "still running 2 s after the last Ctrl-C"
                time.sleep(0.2)
                continue
            return subprocess.CompletedProcess(
                proc.args, proc.returncode, "".join(lines) + out, err
            ), time.monotonic() - pressed
        raise AssertionError("unreachable")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("mode", ["time_limit", "shutdown", "with"])
def test_the_first_ctrl_c_ends_a_program_whose_task_is_stuck_in_c(
    mode: str, tmp_path: Path
) -> None:
    proc, took = ctrl_c(mode, presses=1, tmp_path=tmp_path)
    assert took < 2
    assert proc.returncode == -signal.SIGINT, proc.stderr
    assert "still running in C (stuck_in_c); abandoned" in proc.stderr
    for bad in ("Fatal Python error", "remaining subinterpreters", "Segmentation"):
        assert bad not in proc.stderr
    if mode == "time_limit":
        assert "still running in a C call, which cannot be interrupted" in proc.stdout
    if mode == "shutdown":
        assert "shutdown stopped waiting for 1 task (stuck_in_c) still running in C" in (
            proc.stderr
        )


def test_a_second_ctrl_c_ends_it_in_any_case(tmp_path: Path) -> None:
    proc, took = ctrl_c("stubborn", presses=2, tmp_path=tmp_path)
    assert "first Ctrl-C caught" in proc.stdout
    assert took < 2
    assert proc.returncode == -signal.SIGINT, proc.stderr

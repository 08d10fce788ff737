"""CPython's own generic executor tests, run against :class:`interpool.Pool` on each
backend: ``executor.ExecutorTest``, ``test_as_completed.AsCompletedTests``,
``test_wait.WaitTests`` and ``test_shutdown.ExecutorShutdownTest`` of the running
Python's ``test.test_concurrent_futures``, through its ``util.ExecutorMixin`` with
``executor_type = interpool.Pool``, as CPython runs them for its own executors.

The tests are CPython's, unchanged; this module only chooses the backend
(``executor_kwargs``) and provides what the stdlib's mixins provide for theirs:

* ``create_event()``: an event the test sets while a task waits on it: a
  ``threading.Event`` for threads, a ``multiprocessing`` manager's ``Event`` for
  processes and Dask; for worker interpreters the test is skipped, as CPython skips it
  for ``InterpreterPoolExecutor`` (no event can be shared with another interpreter);
* three shutdown tests run a script in a fresh Python that does ``from
  concurrent.futures import Pool``: for them (and only while they run) the
  ``INTERPOOL_STDLIB_EXECUTOR`` environment variable names the backend, and a ``.pth``
  file that this module puts in the venv's ``site-packages`` (it acts only when that
  variable is set) makes ``concurrent.futures.Pool`` that backend's ``Pool`` in that
  Python.

The suite comes from the Python installation (Debian: ``libpython3.X-testsuite``,
which ``scripts/provision.sh`` installs); without it this module is skipped.  The
processes and threads backends do not depend on the Python version (no
sub-interpreters, and ``tests/backends`` runs them on every Python): their copies run
on 3.14 only (:data:`ONE_PYTHON`), to keep ``make test`` short, and are marked
``version_independent``; Dask's are marked ``dask`` (3.13 skips both).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import sysconfig
import threading
import unittest
import unittest.mock
from pathlib import Path
from typing import Any, ClassVar

import pytest

import interpool

try:
    from test.test_concurrent_futures import (
        executor,
        test_as_completed,
        test_shutdown,
        test_wait,
        util,
    )
except ImportError as exc:  # pragma: no cover - depends on the installation
    pytest.skip(
        f"CPython's test suite is not installed ({exc}; Debian: "
        f"libpython{sys.version_info[0]}.{sys.version_info[1]}-testsuite, which "
        "scripts/provision.sh adds)",
        allow_module_level=True,
    )

#: The environment variable that the ``.pth`` hook reads (see the module docstring).
HOOK_VARIABLE = "INTERPOOL_STDLIB_EXECUTOR"
HOOK_FILE = "interpool_stdlib_tests.pth"
HOOK_LINE = (
    "import os; os.environ.get('INTERPOOL_STDLIB_EXECUTOR') and "
    "exec('import concurrent.futures as cf, functools, interpool\\n"
    "cf.Pool = functools.partial(interpool.Pool, "
    'backend=os.environ["INTERPOOL_STDLIB_EXECUTOR"])\')\n'
)

#: The shutdown tests that import the executor from ``concurrent.futures`` in a fresh
#: Python.
SUBPROCESS_TESTS = frozenset(
    {"test_interpreter_shutdown", "test_submit_after_interpreter_shutdown", "test_hang_gh83386"}
)


def _install_hook() -> bool:
    """Put the ``.pth`` hook in the venv's ``site-packages``; False if it cannot be."""
    path = Path(sysconfig.get_paths()["purelib"]) / HOOK_FILE
    try:
        if not path.exists() or path.read_text() != HOOK_LINE:
            path.write_text(HOOK_LINE)
    except OSError:
        return False
    return True


class _PoolMixin(util.ExecutorMixin):
    """``util.ExecutorMixin`` with ``interpool.Pool`` on one backend."""

    executor_type = interpool.Pool
    backend: ClassVar[str]
    executor_kwargs: ClassVar[dict[str, Any]]
    _manager: Any = None

    def setUp(self) -> None:
        if self._testMethodName in SUBPROCESS_TESTS:
            if not _install_hook():
                self.skipTest("cannot write the concurrent.futures hook to site-packages")
            patch = unittest.mock.patch.dict(os.environ, {HOOK_VARIABLE: self.backend})
            patch.start()
            self.addCleanup(patch.stop)
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None

    def _manager_event(self) -> Any:
        if self._manager is None:
            self._manager = multiprocessing.get_context("forkserver").Manager()
        return self._manager.Event()


class InterpretersMixin(_PoolMixin):
    backend = "interpreters"
    executor_kwargs: ClassVar[dict[str, Any]] = {"backend": "interpreters"}

    def create_event(self) -> Any:
        self.skipTest(
            "an event cannot be shared with another interpreter (as CPython "
            "skips it for InterpreterPoolExecutor)"
        )


class ProcessesMixin(_PoolMixin):
    backend = "processes"
    executor_kwargs: ClassVar[dict[str, Any]] = {"backend": "processes"}

    def create_event(self) -> Any:
        return self._manager_event()


class ThreadsMixin(_PoolMixin):
    backend = "threads"
    executor_kwargs: ClassVar[dict[str, Any]] = {"backend": "threads"}

    def create_event(self) -> threading.Event:
        return threading.Event()


class DaskMixin(_PoolMixin):
    backend = "dask"
    #: Set for each test by :func:`_dask_cluster`: the session's cluster.
    executor_kwargs: ClassVar[dict[str, Any]] = {}

    def setUp(self) -> None:
        if self._testMethodName in DASK_CANNOT:
            self.skipTest(DASK_CANNOT[self._testMethodName])
        super().setUp()

    def create_event(self) -> Any:
        return self._manager_event()


#: What the Dask backend cannot do as the standard library's executors do, by test.
DASK_CANNOT = {
    "test_cancel_futures": (
        "Dask cannot tell a queued task from a running one: shutdown(cancel_futures=True) "
        "releases every unfinished task, so none of the first ones is left to finish"
    ),
}


SUITES = {
    "Executor": executor.ExecutorTest,
    "AsCompleted": test_as_completed.AsCompletedTests,
    "Wait": test_wait.WaitTests,
    "Shutdown": test_shutdown.ExecutorShutdownTest,
}
#: The Python that runs the copies of the backends that do not depend on its version.
ONE_PYTHON = (3, 14)
_ON_ONE_PYTHON = (
    pytest.mark.version_independent,
    pytest.mark.skipif(
        sys.version_info[:2] != ONE_PYTHON,
        reason="the processes and threads backends do not depend on the Python version: "
        "CPython's suite runs on them on 3.14 only (tests/backends runs them everywhere)",
    ),
)
MIXINS = {
    "Interpreters": (InterpretersMixin, ()),
    "Processes": (ProcessesMixin, _ON_ONE_PYTHON),
    "Threads": (ThreadsMixin, _ON_ONE_PYTHON),
    "Dask": (DaskMixin, (pytest.mark.dask, pytest.mark.usefixtures("_dask_cluster"))),
}


@pytest.fixture
def _dask_cluster(request: pytest.FixtureRequest, dask_address: str) -> None:
    """The Dask copies' pools use the session's cluster (``tests/dask_fixtures``)."""
    request.instance.executor_kwargs = {"backend": "dask", "address": dask_address}


def _make_tests() -> None:
    """One ``unittest.TestCase`` per backend and suite, named as CPython names its own
    (``InterpretersWaitTest``...)."""
    for backend, (mixin, marks) in MIXINS.items():
        for suite_name, suite in SUITES.items():
            name = f"{backend}{suite_name}Test"
            cls: type = type(name, (suite, mixin, util.BaseTestCase), {"__module__": __name__})
            for mark in marks:
                cls = mark(cls)
            globals()[name] = cls


_make_tests()

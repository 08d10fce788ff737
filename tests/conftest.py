"""Shared fixtures.  Pools whose state does not matter are shared per test module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

import interpool

from .dask_fixtures import dask_address  # noqa: F401 - a session-scoped Dask cluster
from .support import pool_threads, wait_until, warm_up


@pytest.fixture(scope="module")
def pool() -> Iterator[interpool.Pool]:
    """A warm two-worker pool shared by the tests of one module."""
    with interpool.Pool(2) as p:
        warm_up(p)
        yield p


@pytest.fixture
def pool1() -> Iterator[interpool.Pool]:
    """A fresh single-worker pool, for tests that depend on worker state or occupancy."""
    with interpool.Pool(1) as p:
        yield p


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the session's Dask cluster is a ``dask`` test (see the markers
    in pyproject.toml), whether or not its module says so."""
    for item in items:
        if "dask_address" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.dask)


# -- a stuck pool must not hang the test run -------------------------------------------

_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    """After the summary: if some pool's threads outlive the tests (a leaked or stuck
    pool), say so and exit at once with a failure, instead of hanging in the
    interpreter's exit, which waits for every pool."""
    if not wait_until(lambda: not pool_threads(), timeout=10.0):
        names = sorted(t.name for t in pool_threads())
        sys.stderr.write(f"\ninterpool threads still running after the tests: {names}\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(_exit_status or 1)

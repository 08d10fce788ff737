"""A Dask cluster for the tests: two worker processes of one thread each, on loopback.

``dask_address`` (session-scoped) starts one ``LocalCluster`` the first time a test
asks for it and yields its scheduler address; it is closed at the end of the session.
Tests that need a cluster of their own (one they may break) start their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def dask_address() -> Iterator[str]:
    """The address of a shared ``LocalCluster`` (2 processes x 1 thread, 127.0.0.1)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        # No dashboard, and the scheduler's HTTP routes on a free port of
        # loopback (by default they take 8787, or warn when it is taken).
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address

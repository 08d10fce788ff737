"""A Dask cluster for the tests: two worker processes of one thread each, on loopback.

``dask_address`` (session-scoped) starts one ``LocalCluster`` the first time a test
asks for it and yields its scheduler address; it is closed at the end of the session.
Tests that need a cluster of their own (one they may break) start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def dask_address() -> Iterator[str]:
    """The address of a shared ``LocalCluster`` (2 processes x 1 thread, 127.0.0.1)."""
    pytest.importorskip("distributed")
    from interpool._backends.dask import loopback_cluster

    with loopback_cluster(2, 1) as cluster:
        yield cluster.scheduler_address

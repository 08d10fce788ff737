"""The Dask backend's ``initializer``, as a Dask worker plugin.

Its own module because it subclasses ``distributed.WorkerPlugin`` at import time: the
backend imports it when a pool with an initializer starts, and every Dask worker
imports it by name when the plugin reaches it.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

from distributed import WorkerPlugin

if TYPE_CHECKING:
    from distributed import Worker

__all__ = ["RunInitializer"]


class RunInitializer(WorkerPlugin):
    """Runs the pool's initializer once in every worker, present and future
    (``blob``: ``(initializer, initargs)`` pickled in the caller)."""

    def __init__(self, blob: bytes, name: str) -> None:
        self.blob = blob
        self.name = name

    def setup(self, worker: Worker) -> None:
        fn, args = pickle.loads(self.blob)
        fn(*args)

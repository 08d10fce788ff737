"""``Pool(fallback="processes")``'s process workers: the processes backend.

The fallback is a :class:`~interpool._backend_processes.Processes` (``ProcessFallback``
is its name here, for ``_pool``), so that a rerouted task has the processes backend's
semantics: a process that dies fails that task only, and ``cancel()`` kills a running
task's process.
"""

from __future__ import annotations

from ._backend_processes import Processes as ProcessFallback

__all__ = ["ProcessFallback"]

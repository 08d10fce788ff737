"""Direct access to a cross-interpreter queue, without the polling wrappers.

``Queue.put_nowait``/``get_nowait``/``qsize`` are thin Python wrappers over the
``_interpqueues`` C module; on the hot path (a few calls per task) calling the C
functions directly (``interpreters.queue_put``/``queue_get``: on 3.14+ the C functions
themselves) saves time on every task.  Only the non-blocking
operations are used: waiting is done on ``_platform.signals`` instead.

Imported in both the caller's and the workers' interpreters.
"""

from __future__ import annotations

import _interpqueues

from interpool._platform.interpreters import Queue, QueueEmpty, queue_get, queue_put

TYPE_CHECKING = False  # typing is slow to import, and every worker imports this
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["QueueEmpty", "QueueOps", "ops"]


class QueueOps:
    """``put(obj)``, ``get() -> obj`` (raises ``QueueEmpty``) and ``count()`` on one queue."""

    __slots__ = ("count", "get", "put", "queue")

    def __init__(self, queue: Queue) -> None:
        #: Held so the queue lives as long as these operations do.
        self.queue = queue
        qid = queue.id
        raw_put: Any = queue_put  # local names: faster to reach from the closures
        raw_get: Any = queue_get
        raw_count: Any = _interpqueues.get_count

        def put(obj: Any) -> None:
            raw_put(qid, obj)

        def get() -> Any:
            obj, unbound = raw_get(qid)
            if unbound is not None:  # the putting interpreter is gone (see _engine.worker_thread)
                raise LookupError("interpool: a queued item's interpreter was destroyed")
            return obj

        def count() -> int:
            return int(raw_count(qid))

        self.put: Callable[[Any], None] = put
        self.get: Callable[[], Any] = get
        self.count: Callable[[], int] = count


def ops(queue: Queue) -> QueueOps:
    """The fast operations on ``queue``."""
    return QueueOps(queue)

"""Which event loop runs the current thread: asyncio, trio, or none.

The one place that answers it, for the async layer (``_api.aio``) and for channels
(``_api.channel``).  asyncio comes first: when a thread runs both (trio in guest mode
on an asyncio loop), asyncio's primitives are the ones that work everywhere in it.
anyio runs on one of the two, so it is covered too.

Nothing here imports asyncio or trio (a library that is not imported cannot be
running), nor typing: channels import this in every worker interpreter.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is slow to import, and every worker imports this
if TYPE_CHECKING:
    from typing import Any

__all__ = ["asyncio_loop", "trio"]

_modules = sys.modules


def asyncio_loop() -> Any:
    """The asyncio event loop running in this thread, or ``None``."""
    asyncio = _modules.get("asyncio")
    if asyncio is None:
        return None
    return asyncio._get_running_loop()


def trio() -> Any:
    """The ``trio`` module if this thread runs a trio task and no asyncio event loop,
    else ``None``."""
    trio = _modules.get("trio")
    if trio is None:
        return None
    if asyncio_loop() is not None:
        return None
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return None
    return trio

"""interpool: real parallelism in one process, on a warm pool of sub-interpreters.

Public names::

    Pool            the executor (``submit``, ``map``, ``imap``, ``imap_unordered``,
                    ``await run``, ``async for ... in amap``, ``actor``, ``shutdown``)
    Actor           a stateful instance in an interpreter of its own (``Pool.actor``)
    ActorMethod     a method of an actor (``actor.m(...)``, ``await actor.m.run(...)``)
    ActorLost       an actor's instance is gone (``__init__`` failed, or a call was interrupted)
    BrokenPool      raised when a pool can no longer run tasks
    IncompatibleModuleError
                    a task imported an extension that cannot load in a sub-interpreter
    RemoteError     a worker's exception that could not be sent back as itself
    RemoteTraceback the worker's traceback text, at the end of a task error's chain
    WorkerCrashed   a task's worker interpreter failed outside the task's code
    PoolFuture      the future ``submit`` returns (``cancel(interrupt=...)``)
    TaskOptions     what ``Pool.options(task_timeout=...)`` returns
    InterpreterOptions
                    how worker interpreters are created (``Pool(interpreter=...)``)
    channel         ``send, recv = channel(maxsize)``: stream values between interpreters
    Sender          the sending end of a channel (``put``, ``await aput``, ``close``)
    Receiver        the receiving end (``get``, ``await aget``, iteration, ``close``)
    ChannelClosed   raised by ``put`` on a closed channel, by ``get`` once it is drained
    ItemLost        raised by ``get`` for an item whose sending interpreter was destroyed
    check_modules   which modules can be imported in a sub-interpreter (each in a fresh one)
    ModuleCheck     what ``check_modules`` reports for a module

They are imported on first use: every worker interpreter imports this package (for the
worker loop in ``interpool._worker``) and must not pay for ``asyncio`` and
``concurrent.futures``, which only the caller needs.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing costs ~20 ms to import in every worker
if TYPE_CHECKING:
    from typing import Any

    from ._actor import Actor, ActorLost, ActorMethod
    from ._channel import ChannelClosed, ItemLost, Receiver, Sender, channel
    from ._compat import ModuleCheck, check_modules
    from ._errors import (
        BrokenPool,
        IncompatibleModuleError,
        RemoteError,
        RemoteTraceback,
        WorkerCrashed,
    )
    from ._future import PoolFuture
    from ._options import InterpreterOptions
    from ._pool import Pool, TaskOptions

__all__ = [
    "Actor",
    "ActorLost",
    "ActorMethod",
    "BrokenPool",
    "ChannelClosed",
    "IncompatibleModuleError",
    "InterpreterOptions",
    "ItemLost",
    "ModuleCheck",
    "Pool",
    "PoolFuture",
    "Receiver",
    "RemoteError",
    "RemoteTraceback",
    "Sender",
    "TaskOptions",
    "WorkerCrashed",
    "channel",
    "check_modules",
]
__version__ = "0.1.0"

_WHERE = {
    "Pool": "._pool",
    "Actor": "._actor",
    "ActorLost": "._actor",
    "ActorMethod": "._actor",
    "BrokenPool": "._errors",
    "IncompatibleModuleError": "._errors",
    "RemoteError": "._errors",
    "RemoteTraceback": "._errors",
    "WorkerCrashed": "._errors",
    "PoolFuture": "._future",
    "TaskOptions": "._pool",
    "InterpreterOptions": "._options",
    "ModuleCheck": "._compat",
    "check_modules": "._compat",
    "channel": "._channel",
    "Sender": "._channel",
    "Receiver": "._channel",
    "ChannelClosed": "._channel",
    "ItemLost": "._channel",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'interpool' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})

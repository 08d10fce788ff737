"""interpool: real parallelism in one process, on a warm pool of sub-interpreters.

Public names::

    Pool            the executor (``submit``, ``map``, ``imap``, ``imap_unordered``,
                    ``await run``, ``async for ... in amap``, ``actor``, ``shutdown``)
    Actor           a stateful instance in an interpreter of its own (``Pool.actor``)
    ActorMethod     a method of an actor (``actor.m(...)``, ``await actor.m.run(...)``)
    ActorLost       an actor's instance is gone (``__init__`` failed, or a call was interrupted)
    BrokenPool      raised when a pool can no longer run tasks
    InterpoolError  the base of every exception interpool defines (``interpool.exceptions``)
    IncompatibleModuleError
                    a task imported an extension that cannot load in a sub-interpreter
    RemoteError     a worker's exception that could not be sent back as itself
    RemoteTraceback the worker's traceback text, at the end of a task error's chain
    WorkerCrashed   a task's worker interpreter failed outside the task's code
    PoolFuture      the future of every task, on every backend (``cancel(interrupt=...)``)
    TaskOptions     what ``Pool.options(task_timeout=...)`` returns
    InterpreterOptions
                    how worker interpreters are created (``Pool(interpreter=...)``)
    channel         ``send, recv = channel(maxsize)``: stream values between interpreters
    Sender          the sending end of a channel (``put``, ``await aput``, ``close``)
    Receiver        the receiving end (``get``, ``await aget``, iteration, ``close``)
    ChannelClosed   raised by ``put`` on a closed channel
    EndOfChannel    raised by ``get`` once the channel is closed and drained (a ChannelClosed)
    QueueFull       raised by ``put_nowait`` on a full channel (a ``queue.Full``)
    QueueEmpty      raised by ``get_nowait`` on an empty channel (a ``queue.Empty``)
    ItemLost        raised by ``get`` for an item whose sending interpreter was destroyed
    Interrupted     raised inside a task to stop it (cancel, time limit): a BaseException
    check_modules   which modules can be imported in a sub-interpreter (each in a fresh one)
    ModuleCheck     what ``check_modules`` reports for a module
    PoolStats       what ``Pool.stats()`` returns (``interpool.stats``): per pool...
    WorkerStats     ... per worker,
    TaskTiming      ... per slow task,
    RunningTask     ... and what a worker runs now

They are imported on first use: every worker interpreter imports this package (for the
worker loop in ``interpool._worker.loop``) and must not pay for ``asyncio`` and
``concurrent.futures``, which only the caller needs.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing is slow to import, and every worker imports this
if TYPE_CHECKING:
    from typing import Any

    from interpool._api.actor import Actor, ActorMethod
    from interpool._api.channel import Receiver, Sender, channel
    from interpool._api.pool import Pool, TaskOptions
    from interpool._engine.futures import PoolFuture
    from interpool._engine.interpreter_options import InterpreterOptions
    from interpool._tools.module_check import ModuleCheck, check_modules
    from interpool.exceptions import (
        ActorLost,
        BrokenPool,
        ChannelClosed,
        EndOfChannel,
        IncompatibleModuleError,
        InterpoolError,
        Interrupted,
        ItemLost,
        QueueEmpty,
        QueueFull,
        RemoteError,
        RemoteTraceback,
        WorkerCrashed,
    )
    from interpool.stats import PoolStats, RunningTask, TaskTiming, WorkerStats

__all__ = [
    "Actor",
    "ActorLost",
    "ActorMethod",
    "BrokenPool",
    "ChannelClosed",
    "EndOfChannel",
    "IncompatibleModuleError",
    "InterpoolError",
    "InterpreterOptions",
    "Interrupted",
    "ItemLost",
    "ModuleCheck",
    "Pool",
    "PoolFuture",
    "PoolStats",
    "QueueEmpty",
    "QueueFull",
    "Receiver",
    "RemoteError",
    "RemoteTraceback",
    "RunningTask",
    "Sender",
    "TaskOptions",
    "TaskTiming",
    "WorkerCrashed",
    "WorkerStats",
    "channel",
    "check_modules",
]
__version__ = "0.1.0"

_WHERE = {
    "Pool": "._api.pool",
    "Actor": "._api.actor",
    "ActorLost": ".exceptions",
    "ActorMethod": "._api.actor",
    "BrokenPool": ".exceptions",
    "IncompatibleModuleError": ".exceptions",
    "InterpoolError": ".exceptions",
    "RemoteError": ".exceptions",
    "RemoteTraceback": ".exceptions",
    "WorkerCrashed": ".exceptions",
    "PoolFuture": "._engine.futures",
    "TaskOptions": "._api.pool",
    "InterpreterOptions": "._engine.interpreter_options",
    "ModuleCheck": "._tools.module_check",
    "check_modules": "._tools.module_check",
    "channel": "._api.channel",
    "Sender": "._api.channel",
    "Receiver": "._api.channel",
    "ChannelClosed": ".exceptions",
    "EndOfChannel": ".exceptions",
    "QueueFull": ".exceptions",
    "QueueEmpty": ".exceptions",
    "ItemLost": ".exceptions",
    "Interrupted": ".exceptions",
    "PoolStats": ".stats",
    "WorkerStats": ".stats",
    "TaskTiming": ".stats",
    "RunningTask": ".stats",
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

"""Every exception interpool raises, under one base: :class:`InterpoolError`.

Each also derives from the built-in or standard-library type that code written for
``concurrent.futures`` and ``queue`` expects (``BrokenPool`` is a ``BrokenExecutor``,
``IncompatibleModuleError`` an ``ImportError``, ``ChannelClosed`` an ``EOFError``,
``QueueFull`` a ``queue.Full``, ``QueueEmpty`` a ``queue.Empty``), so ``except``
clauses written for those keep working.  ``TimeoutError`` and ``CancelledError`` are
the standard ones, not interpool's.  One exception is not an ``InterpoolError``:
:class:`Interrupted`, a ``BaseException`` raised inside a task to stop it.

Channels tell a closed channel from the end of a stream, as trio does
(``ClosedResourceError``, ``EndOfChannel``): sending on a closed channel raises
:class:`ChannelClosed`; receiving from a channel that is closed and drained raises
:class:`EndOfChannel`, a subclass, so ``except ChannelClosed`` catches both.

Import-light: channels and worker interpreters import this module, so it loads
neither ``typing``, ``queue`` nor ``concurrent.futures`` (``BrokenPool``,
``QueueFull`` and ``QueueEmpty`` are made on first use).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is slow to import, and every worker imports this
if TYPE_CHECKING:
    import queue
    from concurrent.futures import BrokenExecutor

__all__ = [
    "ActorLost",
    "BrokenPool",
    "ChannelClosed",
    "EndOfChannel",
    "IncompatibleModuleError",
    "InterpoolError",
    "Interrupted",
    "ItemLost",
    "QueueEmpty",
    "QueueFull",
    "RemoteError",
    "RemoteTraceback",
    "WorkerCrashed",
]


class InterpoolError(Exception):
    """The base of every exception interpool defines."""


_BROKEN_POOL_DOC = """The pool can no longer run tasks (for example a worker's ``initializer``
    failed, or a worker interpreter died).  Pending and running tasks fail with it."""
_QUEUE_FULL_DOC = """Raised by a channel's ``put_nowait`` when the channel is full.  Also a
    ``queue.Full``."""
_QUEUE_EMPTY_DOC = """Raised by a channel's ``get_nowait`` when no item is there (and the
    channel is open).  Also a ``queue.Empty``."""

if TYPE_CHECKING:

    class BrokenPool(BrokenExecutor, InterpoolError):
        __doc__ = _BROKEN_POOL_DOC

    class QueueFull(InterpoolError, queue.Full):
        __doc__ = _QUEUE_FULL_DOC

    class QueueEmpty(InterpoolError, queue.Empty):
        __doc__ = _QUEUE_EMPTY_DOC

else:

    def _made(name: str) -> type:
        # The classes that derive from a type of a module heavier than this one
        # (concurrent.futures, queue): made on first use, so that importing this
        # module imports neither.
        if name == "BrokenPool":
            from concurrent.futures import BrokenExecutor

            bases, doc = (BrokenExecutor, InterpoolError), _BROKEN_POOL_DOC
        else:
            import queue

            if name == "QueueFull":
                bases, doc = (InterpoolError, queue.Full), _QUEUE_FULL_DOC
            else:
                bases, doc = (InterpoolError, queue.Empty), _QUEUE_EMPTY_DOC
        cls = type(name, bases, {"__doc__": doc, "__module__": "interpool"})  # as the others
        cls.__qualname__ = name  # pickled by name, as the others
        return cls

    def __getattr__(name: str) -> type:
        if name not in ("BrokenPool", "QueueFull", "QueueEmpty"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        made = globals().get(name)
        if made is None:
            made = globals()[name] = _made(name)
        return made


class IncompatibleModuleError(InterpoolError, ImportError):
    """A task imported an extension module that refuses to load in a sub-interpreter
    (for example numpy, orjson, msgspec, pydantic-core: CPython's ``ImportError:
    module X does not support loading in subinterpreters``).

    ``name`` is the module that refused; ``where`` the file and line of the user's code
    that imported it (``""`` if unknown), ``top_level`` whether that was a module's
    top level.  An ``ImportError``, so ``except ImportError`` still catches it.  The
    ways out, which the message lists: ``Pool(fallback="processes")`` (such tasks then
    run in a process worker) or the processes backend; moving a top-level import into
    the functions that need it; a release of the package that supports
    sub-interpreters (not for a module of the standard library).
    """

    def __init__(
        self, name: str, detail: str = "", where: str = "", top_level: bool = True
    ) -> None:
        package = name.partition(".")[0]
        ways = ['run such tasks in a process with Pool(fallback="processes")']
        if top_level:
            ways.append(
                "move that import into the functions that need it, so that the others "
                "run in sub-interpreters"
            )
        if not _in_stdlib(package):
            ways.append(f"upgrade {package} if a newer release supports sub-interpreters")
        message = (
            f"module {name!r} cannot be imported in a sub-interpreter"
            f"{f' ({detail})' if detail else ''}{f', imported at {where}' if where else ''}. "
            f"{_ways_out(ways)}. interpool.check_modules() tells which modules load."
        )
        super().__init__(message, name=name)
        self.detail = detail
        self.where = where
        self.top_level = top_level

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.name, self.detail, self.where, self.top_level), self.__dict__)


def _ways_out(ways: list[str]) -> str:
    """``"Run ..."``, or ``"Either run ...; or move ..."``."""
    if len(ways) == 1:
        return ways[0][:1].upper() + ways[0][1:]
    return f"Either {'; or '.join(ways)}"


def _in_stdlib(package: str) -> bool:
    import sys

    return package in sys.stdlib_module_names


class RemoteTraceback(InterpoolError):
    """Carries the worker's formatted traceback (of the whole chain, as Python prints
    it).

    A rebuilt task error keeps its real ``__cause__`` and ``__context__``; the
    ``RemoteTraceback`` hangs at the end of the chain that Python prints: it is the
    ``__cause__`` of the last exception of that chain (of the task's error itself when
    it has no cause and no shown context).  So printing the error in the caller shows
    the worker's traceback first, then the rebuilt chain, then the caller's frames.
    """

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


class RemoteError(InterpoolError):
    """An exception raised in a worker that could not be sent back as itself
    (its type or its arguments cannot be pickled, or unpickled here).

    Attributes: ``type_name`` (the qualified name of the original type),
    ``message`` (``str()`` of the original) and ``traceback`` (its formatted
    traceback in the worker); it has the original's ``__notes__``, ``__cause__`` and
    ``__context__`` (rebuilt).
    """

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.type_name, self.message, self.traceback), self.__dict__)


class WorkerCrashed(InterpoolError, RuntimeError):
    """The worker interpreter running this task failed outside the task's own code
    (its loop raised, or its interpreter could not go on).  Only that task fails: the
    worker is replaced and the pool keeps running."""


class ActorLost(InterpoolError, RuntimeError):
    """The actor's instance is gone, so this call cannot run: ``__init__`` raised
    (the error is this one's ``__cause__``), or the interpreter the instance lived in
    was replaced because a call was interrupted (its time limit passed, or it was
    cancelled with ``cancel(interrupt=True)``) or the worker failed.  The message
    says which.  Calls are never run on a silently re-made instance: make a new actor.
    """


class ChannelClosed(InterpoolError, EOFError):
    """The channel is closed: raised by ``put`` (and ``aput``, ``put_nowait``) at
    once, and by an end that arrives after its channel was destroyed.  Receiving
    raises its subclass :class:`EndOfChannel` instead, once the items sent before the
    close are all received."""


class EndOfChannel(ChannelClosed):
    """The end of the stream: the channel is closed and every item sent before the
    close was received.  Raised by ``get`` (``aget``, ``get_nowait``); iterating over
    a ``Receiver`` just stops.  A :class:`ChannelClosed`, so ``except ChannelClosed``
    catches it too."""


class Interrupted(BaseException):
    """Raised inside a running task to stop it, when it is cancelled
    (``cancel()``) or passes its time limit, in a worker interpreter or a thread of
    the threads backend.  A ``BaseException``, so that ``except Exception`` in the
    task does not swallow it; a task that catches it should re-raise it.  The
    caller never gets it: the future is cancelled, or fails with ``TimeoutError``."""


class ItemLost(InterpoolError, RuntimeError):
    """Raised by ``get`` in place of an item whose sending interpreter was destroyed
    before the item was received.  The channel stays usable: the next ``get`` returns
    the next item."""


# Tracebacks and reprs name the public place (``interpool.WorkerCrashed``), where every
# one is importable (also from here); pickles refer to it too, which resolves to the
# very same class (``interpool`` imports it on first use).
for _cls in (
    InterpoolError,
    IncompatibleModuleError,
    RemoteTraceback,
    RemoteError,
    WorkerCrashed,
    ActorLost,
    ChannelClosed,
    EndOfChannel,
    Interrupted,
    ItemLost,
):
    _cls.__module__ = "interpool"
del _cls

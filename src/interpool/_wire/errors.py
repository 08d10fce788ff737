"""How an exception raised in a worker is rebuilt in the caller (the other half,
``transport.encode_error``, runs in the worker)."""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Callable
from typing import Any

from interpool.exceptions import IncompatibleModuleError, RemoteError, RemoteTraceback

__all__ = ["rebuild_exception"]


#: CPython's message for an extension module that refuses a sub-interpreter; numpy
#: quotes it inside its own ``ImportError`` ("Original error was: ...").
_INCOMPATIBLE = re.compile(r"module ([\w.]+) does not support loading in subinterpreters")

#: How many exceptions of a chain are searched for an incompatible module.
_MAX_SEARCH = 200


def rebuild_exception(info: tuple[tuple[Any, ...], ...]) -> BaseException:
    """Turn what ``transport.encode_error`` made in the worker back into exceptions.

    Each exception of the chain (and each member of an exception group) comes back as
    itself when its pickle loads here, else as a :class:`RemoteError`; its
    ``__cause__``, ``__context__``, ``__suppress_context__`` and ``__notes__`` are
    rebuilt (cycles too).  An exception group whose own type cannot be rebuilt arrives
    as a ``RemoteError`` (its members then only in its traceback text); a member that
    cannot be rebuilt is a ``RemoteError`` inside the group (a ``BaseExceptionGroup``
    left with only ``Exception`` members becomes an ``ExceptionGroup``, as Python
    decides).  The worker's traceback text, a :class:`RemoteTraceback`,
    becomes the ``__cause__`` of the last exception of the chain Python prints (of
    the task's error itself when it has no cause and no shown context; when that
    chain loops, a note of the task's error instead).

    When the task's error is, or has anywhere in its chain, CPython's ``ImportError``
    for an extension module that does not support sub-interpreters, the result is an
    :class:`IncompatibleModuleError` naming that module, whose ``__cause__`` is the
    rebuilt task error.  Never raises: anything unexpected gives a ``RemoteError``.
    """
    try:
        exc = _Rebuilder(info).build_all()
    except Exception:  # noqa: BLE001 - malformed input: keep what can be said
        exc = _fallback(info)
    return _incompatible_module(exc) or exc


def _fallback(info: Any) -> RemoteError:
    try:
        _, type_name, message, tb = info[0][:4]
        err = RemoteError(str(type_name), str(message), str(tb))
    except Exception:  # noqa: BLE001
        return RemoteError("BaseException", "interpool: the task's error was lost", "")
    err.__cause__ = RemoteTraceback(err.traceback)
    return err


class _Rebuilder:
    """The exceptions of ``encode_error``'s nodes: built (a group after its members),
    then linked."""

    def __init__(self, nodes: tuple[tuple[Any, ...], ...]) -> None:
        self.nodes = nodes
        self.built: dict[int, BaseException] = {}
        self.building: set[int] = set()

    def build_all(self) -> BaseException:
        for i in range(len(self.nodes)):
            self.build(i)
        built = self.built
        for i, (*_, cause, context, suppress) in enumerate(self.nodes):
            exc = built[i]
            exc.__cause__ = built[cause] if cause >= 0 else None
            exc.__context__ = built[context] if context >= 0 else None
            exc.__suppress_context__ = bool(suppress)
        top = built[0]
        _attach_traceback(top, RemoteTraceback(self.nodes[0][3]))
        return top

    def build(self, i: int) -> BaseException:
        """Node ``i``'s exception, unlinked (a group's members are built first)."""
        exc = self.built.get(i)
        if exc is not None:
            return exc
        if i in self.building:  # a group among its own members: cannot be
            raise ValueError("interpool: an exception group contains itself")
        blob, type_name, message, tb, notes, *_ = self.nodes[i]
        self.building.add(i)
        try:
            exc = self._load(blob) if blob is not None else None
        finally:
            self.building.discard(i)
        if exc is None:
            exc = RemoteError(type_name, message, tb)
        if notes and not isinstance(getattr(exc, "__notes__", None), list):
            exc.__notes__ = list(notes)
        self.built[i] = exc
        return exc

    def _load(self, blob: bytes) -> BaseException | None:
        try:
            loaded = _MemberUnpickler(io.BytesIO(blob), self.build).load()
        except Exception:  # noqa: BLE001 - any failure means "send a RemoteError"
            return None
        return loaded if isinstance(loaded, BaseException) else None


class _MemberUnpickler(pickle.Unpickler):
    """Resolves the persistent ids of a group's members (node indices) through
    ``build``."""

    def __init__(self, file: Any, build: Callable[[int], BaseException]) -> None:
        super().__init__(file)
        self._build = build

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is not int:
            raise pickle.UnpicklingError(f"interpool: unknown persistent id {pid!r}")
        return self._build(pid)


def _attach_traceback(top: BaseException, remote: RemoteTraceback) -> None:
    """Make ``remote`` the ``__cause__`` of the last exception of the chain that
    ``traceback`` prints from ``top`` (a note of ``top`` if that chain loops)."""
    seen = {id(top)}
    exc = top
    while True:
        nxt = exc.__cause__
        if nxt is None and not exc.__suppress_context__:
            nxt = exc.__context__
        if nxt is None:
            suppress = exc.__suppress_context__
            exc.__cause__ = remote  # sets __suppress_context__
            exc.__suppress_context__ = suppress
            return
        if id(nxt) in seen:
            top.add_note(f"interpool: the worker's traceback:\n{remote.tb}")
            return
        seen.add(id(nxt))
        exc = nxt


def _incompatible_module(exc: BaseException) -> IncompatibleModuleError | None:
    """The :class:`IncompatibleModuleError` for ``exc`` (caused by it) if ``exc`` or an
    exception in its chain says that an extension module refused a sub-interpreter."""
    if isinstance(exc, IncompatibleModuleError):
        return None
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < _MAX_SEARCH:
        link = todo.pop(0)
        if id(link) in seen or isinstance(link, RemoteTraceback):
            continue
        seen.add(id(link))
        name = None
        if isinstance(link, IncompatibleModuleError):
            name = link.name
        elif isinstance(link, ImportError):
            try:
                match = _INCOMPATIBLE.search(str(link))
            except Exception:  # noqa: BLE001 - a broken __str__
                match = None
            name = match.group(1) if match else None
        if name:
            package = name.partition(".")[0]
            err = IncompatibleModuleError(name, f"part of {package!r}" if package != name else "")
            err.__cause__ = exc
            return err
        todo.extend(x for x in (link.__cause__, link.__context__) if x is not None)
    return None

"""How an exception raised in a worker travels to the caller: encoded in the worker
(:func:`encode_error`), rebuilt in the caller (:func:`rebuild_exception`).

Both interpreters import this module (process and Dask workers too); it must stay free
of heavy imports (``traceback`` and ``re`` are imported only when used).
"""

from __future__ import annotations

import io
import pickle

from interpool.exceptions import IncompatibleModuleError, RemoteError, RemoteTraceback

TYPE_CHECKING = False  # typing is slow to import, and every worker would pay for it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["encode_error", "rebuild_exception", "unrebuildable_result", "unsendable_result"]


# -- in the worker ------------------------------------------------------------------


#: Longest traceback text sent back for one exception: longer ones keep their head and
#: their tail (a deep recursion's traceback can be hundreds of kilobytes).
TRACEBACK_MAX_CHARS = 60_000

#: How deep the ``__cause__`` / ``__context__`` chains and the nesting of exception
#: groups are followed, and how many exceptions get a chain and a traceback text of
#: their own; past either bound, exceptions travel alone (without chain, group members
#: pickled inline, no traceback text).
ERROR_MAX_DEPTH = 50
ERROR_MAX_LINKS = 200


def encode_error(exc: BaseException) -> tuple[tuple[Any, ...], ...]:
    """The natively shareable encoding of ``exc`` and of the exceptions linked to it,
    which :func:`rebuild_exception` turns back into exceptions in the caller.

    A tuple of nodes, the first one ``exc``'s, each ``(pickle or None, type qualname,
    message, traceback text, notes, cause, context, suppress_context)``: ``cause`` and
    ``context`` are indices of other nodes (``-1`` for none), so chains (and cycles)
    survive although pickle drops ``__cause__`` and ``__context__``.  Each exception is
    pickled on its own, so one that cannot be pickled (or rebuilt) costs only its own
    node (it arrives as a ``RemoteError``); the members of an exception group are
    pickled as persistent ids, the indices of their own nodes.  Each pickle is checked
    by loading it back (a common bug in custom exceptions is a pickle that cannot be
    rebuilt).  The first node's traceback text is the whole chain as Python prints it;
    the others' are their own only.  Traceback texts are bounded
    (:data:`TRACEBACK_MAX_CHARS`), and chains and nesting are followed only so far
    (:data:`ERROR_MAX_DEPTH`, :data:`ERROR_MAX_LINKS`).

    Never raises (a ``RecursionError``, a ``MemoryError``, a broken ``__str__``,
    ``__reduce__`` or ``__notes__`` must fail the task, not the worker): when
    encoding the chain fails, ``exc`` travels alone, and as a last resort a single node
    with no pickle says what happened.
    """
    try:
        return _ErrorEncoder().encode(exc)
    except BaseException:  # noqa: BLE001 - e.g. MemoryError: try with less
        pass
    try:
        return (_error_node(exc, {}, _traceback_text(exc, chain=False)),)
    except BaseException:  # noqa: BLE001
        pass
    try:
        type_name = _error_type_name(exc)
    except BaseException:  # noqa: BLE001
        type_name = "BaseException"
    message = "(interpool: this error could not be encoded in the worker)"
    return ((None, type_name, message, "", (), -1, -1, False),)


class _ErrorEncoder:
    """The nodes of :func:`encode_error`, numbered depth first from the task's error."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.index: dict[int, int] = {}  # id(exception) -> its node

    def encode(self, exc: BaseException) -> tuple[tuple[Any, ...], ...]:
        self.add(exc, 0)
        return tuple(self.nodes)

    def add(self, exc: BaseException, depth: int) -> int:
        i = self.index.get(id(exc))
        if i is not None:
            return i
        i = len(self.nodes)
        self.index[id(exc)] = i
        self.nodes.append(None)
        full = depth < ERROR_MAX_DEPTH and i < ERROR_MAX_LINKS
        members: dict[int, tuple[int, BaseException]] = {}
        if full and isinstance(exc, BaseExceptionGroup):
            for member in exc.exceptions:
                if isinstance(member, BaseException):
                    members[id(member)] = (self.add(member, depth + 1), member)
        tb = _traceback_text(exc, chain=i == 0) if full else ""
        node = _error_node(exc, members, tb)
        if full:
            cause = self._link(exc.__cause__, depth)
            context = self._link(exc.__context__, depth)
            node = (*node[:5], cause, context, node[7])
        self.nodes[i] = node
        return i

    def _link(self, linked: object, depth: int) -> int:
        return self.add(linked, depth + 1) if isinstance(linked, BaseException) else -1


def _error_node(
    exc: BaseException, members: dict[int, tuple[int, BaseException]], tb: str
) -> tuple[Any, ...]:
    """One node of :func:`encode_error`, without links (``members``: see
    :class:`_MemberPickler`)."""
    try:
        type_name = _error_type_name(exc)
    except Exception:  # noqa: BLE001 - a strange type
        type_name = "BaseException"
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a broken __str__ must not lose the error
        message = f"<unprintable {type_name}>"
    notes: tuple[str, ...] = ()
    try:
        raw = getattr(exc, "__notes__", None)
        if isinstance(raw, (list, tuple)):
            notes = tuple(n if type(n) is str else repr(n) for n in raw[:1000])
    except BaseException:  # noqa: BLE001 - odd notes are left out, not fatal
        notes = ()
    suppress = exc.__suppress_context__ is True
    return (_pickled_exception(exc, members), type_name, message, tb, notes, -1, -1, suppress)


def _error_type_name(exc: BaseException) -> str:
    t = type(exc)
    module = t.__module__
    return t.__qualname__ if module == "builtins" else f"{module}.{t.__qualname__}"


def _traceback_text(exc: BaseException, chain: bool) -> str:
    """``exc``'s formatted traceback (with its chain or not), bounded in size."""
    try:
        import traceback  # only on errors: slow to import, every worker would pay

        text = "".join(traceback.format_exception(exc, chain=chain))
    except BaseException as failure:  # noqa: BLE001 - e.g. MemoryError, or a broken __str__
        try:
            text = f"(interpool: the traceback could not be formatted: {failure!r})\n"
        except BaseException:  # noqa: BLE001
            text = "(interpool: the traceback could not be formatted)\n"
    return _bounded_text(text)


def _bounded_text(text: str, limit: int = TRACEBACK_MAX_CHARS) -> str:
    """``text`` if not longer than ``limit`` (about), else its head and its tail (whole
    lines) around a line that says how much was left out."""
    if len(text) <= limit:
        return text
    head = text[: limit // 3]
    head = head[: head.rfind("\n") + 1] or head
    tail = text[len(text) - (limit - len(head)) :]
    tail = tail[tail.find("\n") + 1 :] or tail
    omitted = len(text) - len(head) - len(tail)
    return f"{head}  ... ({omitted} characters of traceback left out by interpool) ...\n{tail}"


class _MemberPickler(pickle.Pickler):
    """Pickles an exception group with its members as persistent ids: ``members``
    maps ``id(member)`` to ``(node index, member)``."""

    def __init__(self, file: Any, members: dict[int, tuple[int, BaseException]]) -> None:
        super().__init__(file, protocol=5)
        self._members = members

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, BaseException):
            found = self._members.get(id(obj))
            if found is not None and found[1] is obj:
                return found[0]
        return None


class _MemberUnpickler(pickle.Unpickler):
    """Loads what :class:`_MemberPickler` pickled, resolving the persistent ids of a
    group's members (node indices) through ``build`` (both sides use it: the worker to
    check a pickle, the caller to rebuild)."""

    def __init__(self, file: Any, build: Callable[[int], BaseException]) -> None:
        super().__init__(file)
        self._build = build

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is not int:
            raise pickle.UnpicklingError(f"interpool: unknown persistent id {pid!r}")
        return self._build(pid)


def _pickled_exception(
    exc: BaseException, members: dict[int, tuple[int, BaseException]]
) -> bytes | None:
    """``exc``'s pickle if it loads back as an exception, else ``None``."""
    try:
        if not members:
            blob = pickle.dumps(exc, protocol=5)
            loaded = pickle.loads(blob)
        else:
            buffer = io.BytesIO()
            _MemberPickler(buffer, members).dump(exc)
            blob = buffer.getvalue()
            by_node = {i: member for i, member in members.values()}
            loaded = _MemberUnpickler(io.BytesIO(blob), by_node.__getitem__).load()
    except BaseException:  # noqa: BLE001 - anything may fail in user __reduce__
        return None
    return blob if isinstance(loaded, BaseException) else None


def unsendable_result(
    value: Any, exc: Exception, where: str = "the worker interpreter"
) -> TypeError:
    """The error of a task whose result ``value`` cannot be sent back from ``where``
    (``exc`` says why)."""
    t = type(value)
    return TypeError(
        f"interpool: the task's result ({t.__module__}.{t.__qualname__}) cannot be "
        f"sent back from {where}: {exc}. Return a picklable value."
    )


# -- in the caller ------------------------------------------------------------------


#: CPython's message for an extension module that refuses a sub-interpreter; numpy
#: quotes it inside its own ``ImportError`` ("Original error was: ...").
_INCOMPATIBLE = r"module ([\w.]+) does not support loading in subinterpreters"

#: How many exceptions of a chain are searched for an incompatible module.
_MAX_SEARCH = 200


def rebuild_exception(info: tuple[tuple[Any, ...], ...]) -> BaseException:
    """Turn what :func:`encode_error` made in the worker back into exceptions.

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


def unrebuildable_result(exc: Exception, where: str = "the worker") -> TypeError:
    """The error of a task whose result, sent from ``where``, cannot be rebuilt in the
    caller (``exc`` says why, and is its cause)."""
    error = TypeError(
        f"interpool: the task's result cannot be rebuilt in the caller: {exc}. Return "
        "values whose classes the caller can import (defined in a module, not only in "
        f"{where}), and whose unpickling works outside {where}."
    )
    error.__cause__ = exc
    return error


def _fallback(info: Any) -> RemoteError:
    try:
        _, type_name, message, tb = info[0][:4]
        err = RemoteError(str(type_name), str(message), str(tb))
    except Exception:  # noqa: BLE001
        return RemoteError("BaseException", "interpool: the task's error was lost", "")
    err.__cause__ = RemoteTraceback(err.traceback)
    return err


class _Rebuilder:
    """The exceptions of :func:`encode_error`'s nodes: built (a group after its members),
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
    import re  # only here: the worker side never needs it

    pattern = re.compile(_INCOMPATIBLE)
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
                match = pattern.search(str(link))
            except Exception:  # noqa: BLE001 - a broken __str__
                match = None
            name = match.group(1) if match else None
        if name:
            package = name.partition(".")[0]
            detail = f"part of {package!r}" if package != name else ""
            where, top_level = _import_site(exc, package)
            err = IncompatibleModuleError(name, detail, where, top_level)
            err.__cause__ = exc
            return err
        todo.extend(x for x in (link.__cause__, link.__context__) if x is not None)
    return None


#: Frames of these files are not where a user's code imported a module: interpool's
#: own, the import machinery's, the picklers'.
_NOT_USER = (
    "<frozen ",
    __file__.rpartition("/_wire/")[0] + "/",
    "/cloudpickle/",
    "/pickle.py",
    "/importlib/",
)


def _import_site(exc: BaseException, package: str) -> tuple[str, bool]:
    """Where the user's code imported the module that refused, from the worker's
    traceback text: ``("/path/mod.py, line 3 (`import numpy as np`)", True)``, the
    second item telling if that was a module's top level; ``("", True)`` if unknown."""
    import re  # only here: the worker side never needs it

    remote = exc.__cause__
    while remote is not None and not isinstance(remote, RemoteTraceback):
        remote = remote.__cause__
    if remote is None:
        return "", True
    frame = re.compile(r'^  File "([^"]+)", line (\d+), in ([^\n]*)\n(?:    (\S[^\n]*)\n)?', re.M)
    # The text shows the chain from its innermost exception on, each with its frames
    # from the outermost: the import is the last frame of code that is neither the
    # refusing package's, interpool's, nor the import machinery's.  (None when a
    # pickle imported it: a module the task's function refers to as a global.)
    site, top_level = "", True
    for match in frame.finditer(remote.tb):
        path, line, function, code = match.groups()
        if any(part in path for part in _NOT_USER) or f"/{package}/" in path:
            continue
        site = f"{path}, line {line}" + (f" (`{code.strip()}`)" if code else "")
        top_level = function == "<module>"
    return site, top_level

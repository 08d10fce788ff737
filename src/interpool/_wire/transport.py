"""How arguments, results and errors are encoded to cross between interpreters.

Values made only of ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and
(exact) ``tuple`` s of those cross natively: ``concurrent.interpreters.Queue``
rebuilds them in the other interpreter without pickle (``str``/``bytes`` are
copied once).  Anything else is pickled (protocol 5) into ``bytes``, which then
cross natively; large buffers inside it travel beside the pickle as shared
``memoryview`` s (``_buffers``), and a large ``bytes`` result is handed over whole
(``_handoff``).  Every payload travels with its format (:data:`NATIVE`,
:data:`PICKLE`, :data:`BUFFERS`).

Both interpreters import this module; it must stay free of heavy imports.
"""

from __future__ import annotations

import importlib
import pickle
import sys

from interpool._wire import buffers

TYPE_CHECKING = False  # typing costs ~20 ms to import in every worker
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BUFFERS",
    "MAIN_ALIAS",
    "NATIVE",
    "PICKLE",
    "decode",
    "decode_call",
    "dump",
    "dump_chunk",
    "encode_call",
    "encode_error",
    "is_native",
    "load",
]

#: The module name under which a worker loads the caller's ``__main__`` script, so its
#: ``if __name__ == "__main__":`` block does not run again.  The caller aliases the same
#: name to its own ``__main__``, so objects of script classes pickle both ways.
MAIN_ALIAS = "__interpool_main__"

_NATIVE_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


#: Longest tuple sent natively (measured crossover with pickle: ~32 items).
NATIVE_TUPLE_MAX = 32


def is_native(value: object) -> bool:
    """True if ``value`` crosses an interpreter boundary without pickle and comes back
    equal and of the same type (exact types only: ``IntEnum``, named tuples and other
    subclasses are pickled so that they keep their type).  Tuples longer than
    :data:`NATIVE_TUPLE_MAX` are pickled: sharing costs ~0.15 us per item, more than
    pickling them."""
    t = type(value)
    if t in _NATIVE_SCALARS:
        return True
    if t is tuple:
        if len(value) > NATIVE_TUPLE_MAX:  # type: ignore[arg-type]
            return False
        for item in value:  # type: ignore[attr-defined]
            if not is_native(item):
                return False
        return True
    return False


#: How a payload is encoded (the format travels beside it, see ``_worker``).
NATIVE = 0  #: the value itself, natively shareable
PICKLE = 1  #: ``bytes``: its pickle
BUFFERS = 2  #: ``buffers.Packed``: its pickle, with large buffers beside it


def dump(value: Any) -> tuple[int, Any]:
    """``(format, payload)`` for ``value``: itself when native, else its pickle (with
    large buffers out of band, see ``buffers.dumps``).  Raises what pickling raises."""
    if is_native(value):
        return NATIVE, value
    return _formatted(buffers.dumps(value))


def _formatted(payload: bytes | buffers.Packed) -> tuple[int, Any]:
    """``(format, payload)`` for what ``_buffers`` pickled."""
    return (PICKLE if type(payload) is bytes else BUFFERS), payload


def decode(fmt: int, payload: Any, main_loader: Any = None, foreign: bool = False) -> Any:
    """The value :func:`dump` encoded.  ``foreign``: out-of-band buffers are of memory
    a worker owns, to be copied (see ``buffers.loads``)."""
    if fmt == NATIVE:
        return payload
    if fmt == PICKLE:
        return load(payload, main_loader)
    if fmt == BUFFERS:
        return buffers.loads(payload, _unpickler_for(main_loader, payload[0]), foreign)
    raise ValueError(f"interpool: unknown payload format {fmt!r}")


def encode_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """Encode a call's arguments as the last two fields of a task message:
    ``(args, kwargs_items)`` when all are native, else ``(payload, format)`` of
    ``(args, kwargs)`` (see :func:`dump`).

    Raises ``TypeError`` naming the first argument that cannot be sent (by position or
    keyword) and its type."""
    if not kwargs:
        for item in args:
            t = type(item)
            if t not in _NATIVE_SCALARS and not (t is tuple and is_native(item)):
                break
        else:
            return args, ()
    elif is_native(args) and is_native(tuple(kwargs.values())):
        return args, tuple(kwargs.items())
    try:
        fmt, payload = _dump_from_caller((args, kwargs))
    except Exception as exc:
        labels = [(f"argument {i}", a) for i, a in enumerate(args)]
        labels += [(f"argument {k!r}", v) for k, v in kwargs.items()]
        raise _unsendable(labels, exc) from exc
    return payload, fmt


def decode_call(a: Any, b: Any, main_loader: Any = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``(args, kwargs)`` that :func:`encode_call` encoded."""
    if type(b) is tuple:
        return a, dict(b) if b else {}
    return decode(b, a, main_loader)  # type: ignore[no-any-return]


def dump_chunk(chunk: tuple[tuple[Any, ...], ...], first: int = 0) -> tuple[int, Any]:
    """Encode the argument tuples of a ``map`` chunk whose first item is item ``first``
    of the input; errors as for :func:`encode_call`, naming the item."""
    try:
        return _dump_from_caller(chunk)
    except Exception as exc:
        items = [
            (f"argument {i} of map item {first + n}", a)
            for n, args in enumerate(chunk)
            for i, a in enumerate(args)
        ]
        raise _unsendable(items, exc) from exc


def _dump_from_caller(value: Any) -> tuple[int, Any]:
    """:func:`dump`, made in the caller: objects of a script-less ``__main__`` (REPL,
    ``python -c``, notebooks), which a worker cannot import, go by value."""
    fmt, payload = dump(value)
    if fmt != NATIVE and buffers.by_value_needed(payload if fmt == PICKLE else payload[0]):
        return _formatted(buffers.by_value(value))
    return fmt, payload


def _unsendable(items: list[tuple[str, Any]], exc: Exception) -> TypeError:
    """The error for the first ``(label, value)`` that does not pickle."""
    for label, value in items:
        try:
            buffers.dumps(value)
        except Exception as inner:  # noqa: BLE001
            return TypeError(
                f"interpool: {label} ({type(value).__module__}.{type(value).__qualname__}) "
                f"cannot be sent to a worker interpreter: {inner}. Pass a picklable value "
                "(or create the object inside the task)."
            )
    return TypeError(f"interpool: the arguments cannot be sent to a worker interpreter: {exc}")


class _Unpickler(pickle.Unpickler):
    """Resolves ``__main__`` (and its alias) through a loader, so a worker finds the
    classes and functions of the caller's script."""

    def __init__(self, file: Any, main_loader: Any, buffers: Any = None) -> None:
        super().__init__(file, buffers=buffers)
        self._main_loader = main_loader

    def find_class(self, module: str, name: str) -> Any:
        if module in ("__main__", MAIN_ALIAS) and self._main_loader is not None:
            return walk_qualname(self._main_loader(), name)
        return super().find_class(module, name)


def load(data: bytes, main_loader: Any = None) -> Any:
    """Unpickle ``data``, finding ``__main__`` objects through ``main_loader``."""
    if main_loader is None or not _mentions_main(data):
        return pickle.loads(data)  # the C unpickler: faster than the subclass
    import io

    return _Unpickler(io.BytesIO(data), main_loader).load()


def _mentions_main(data: bytes) -> bool:
    return b"__main__" in data or _MAIN_ALIAS_BYTES in data


_MAIN_ALIAS_BYTES = MAIN_ALIAS.encode()


def _unpickler_for(main_loader: Any, data: bytes) -> Any:
    if main_loader is None or not _mentions_main(data):
        return pickle.Unpickler
    return lambda file, buffers: _Unpickler(file, main_loader, buffers)


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
    which ``errors.rebuild_exception`` turns back into exceptions in the caller.

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
        import traceback  # only on errors: it costs ~30 ms at every worker's start-up

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
    """Loads what :class:`_MemberPickler` pickled, with ``members`` (node -> member)."""

    def __init__(self, file: Any, members: dict[int, BaseException]) -> None:
        super().__init__(file)
        self._members = members

    def persistent_load(self, pid: Any) -> Any:
        return self._members[pid]


def _pickled_exception(
    exc: BaseException, members: dict[int, tuple[int, BaseException]]
) -> bytes | None:
    """``exc``'s pickle if it loads back as an exception, else ``None``."""
    try:
        if not members:
            blob = pickle.dumps(exc, protocol=5)
            loaded = pickle.loads(blob)
        else:
            import io

            buffer = io.BytesIO()
            _MemberPickler(buffer, members).dump(exc)
            blob = buffer.getvalue()
            by_node = {i: member for i, member in members.values()}
            loaded = _MemberUnpickler(io.BytesIO(blob), by_node).load()
    except BaseException:  # noqa: BLE001 - anything may fail in user __reduce__
        return None
    return blob if isinstance(loaded, BaseException) else None


def walk_qualname(obj: Any, qualname: str) -> Any:
    """``obj.Cls.method`` for ``qualname`` ``"Cls.method"``; raises ``AttributeError``."""
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_qualname(module_name: str, qualname: str) -> Any:
    """Import ``module_name`` and walk ``qualname`` (``"Cls.method"``) from it."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    return walk_qualname(module, qualname)

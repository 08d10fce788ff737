"""How arguments and results are encoded to cross between interpreters (errors: see
``errors``).

Values made only of ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and
(exact) ``tuple`` s of those cross natively: ``concurrent.interpreters.Queue``
rebuilds them in the other interpreter without pickle (``str``/``bytes`` are
copied once).  Anything else is pickled (protocol 5) into ``bytes``, which then
cross natively; large buffers inside it travel beside the pickle as shared
``memoryview`` s (``buffers``), and a large ``bytes`` result is handed over whole
(``handoff``).  Every payload travels with its format (``protocol.NATIVE``,
``PICKLE``, ``BUFFERS``).  Errors are encoded by ``errors.encode_error``.

Both interpreters import this module; it must stay free of heavy imports.
"""

from __future__ import annotations

import importlib
import pickle
import sys

from interpool._wire import buffers
from interpool._wire.protocol import BUFFERS, NATIVE, PICKLE

TYPE_CHECKING = False  # typing is slow to import, and every worker would pay for it
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAIN_ALIAS",
    "decode",
    "decode_call",
    "dump",
    "dump_chunk",
    "encode_call",
    "is_native",
    "load",
]

#: The module name under which a worker loads the caller's ``__main__`` script, so its
#: ``if __name__ == "__main__":`` block does not run again.  The caller aliases the same
#: name to its own ``__main__``, so objects of script classes pickle both ways.
MAIN_ALIAS = "__interpool_main__"

_NATIVE_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


#: Longest tuple sent natively (about where sharing and pickling cost the same).
NATIVE_TUPLE_MAX = 32


def is_native(value: object) -> bool:
    """True if ``value`` crosses an interpreter boundary without pickle and comes back
    equal and of the same type (exact types only: ``IntEnum``, named tuples and other
    subclasses are pickled so that they keep their type).  Tuples longer than
    :data:`NATIVE_TUPLE_MAX` are pickled: sharing them item by item costs more than
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


def dump(value: Any) -> tuple[int, Any]:
    """``(format, payload)`` for ``value``: itself when native, else its pickle (with
    large buffers out of band, see ``buffers.dumps``).  Raises what pickling raises."""
    if is_native(value):
        return NATIVE, value
    return _formatted(buffers.dumps(value))


def _formatted(payload: bytes | buffers.Packed) -> tuple[int, Any]:
    """``(format, payload)`` for what ``buffers`` pickled."""
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


def walk_qualname(obj: Any, qualname: str) -> Any:
    """``obj.Cls.method`` for ``qualname`` ``"Cls.method"``; raises ``AttributeError``."""
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_qualname(module_name: str, qualname: str) -> Any:
    """Import ``module_name`` and walk ``qualname`` (``"Cls.method"``) from it."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    return walk_qualname(module, qualname)

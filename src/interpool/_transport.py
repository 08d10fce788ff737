"""How arguments, results and errors are encoded to cross between interpreters.

Values made only of ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and
(exact) ``tuple`` s of those cross natively: ``concurrent.interpreters.Queue``
rebuilds them in the other interpreter without pickle (``str``/``bytes`` are
copied once).  Anything else is pickled (protocol 5) into ``bytes``, which then
cross natively.  A payload is therefore either a ``tuple`` (native) or ``bytes``
(a pickle), and the receiver can tell which without a flag.

Both interpreters import this module; it must stay free of heavy imports.
"""

from __future__ import annotations

import importlib
import pickle
import sys

TYPE_CHECKING = False  # typing costs ~20 ms to import in every worker
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAIN_ALIAS",
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


def is_native(value: object) -> bool:
    """True if ``value`` crosses an interpreter boundary without pickle and comes back
    equal and of the same type (exact types only: ``IntEnum``, named tuples and other
    subclasses are pickled so that they keep their type)."""
    t = type(value)
    if t in _NATIVE_SCALARS:
        return True
    if t is tuple:
        for item in value:  # type: ignore[attr-defined]
            if not is_native(item):
                return False
        return True
    return False


def dump(value: tuple[Any, ...]) -> tuple[Any, ...] | bytes:
    """Encode a tuple for crossing: itself when native, else its pickle."""
    if is_native(value):
        return value
    return pickle.dumps(value, protocol=5)


def encode_call(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...] | bytes, tuple[Any, ...] | None]:
    """Encode a call's arguments as the last two fields of a task message:
    ``(args, kwargs_items)`` when all are native, else ``(pickle of (args, kwargs), None)``.

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
        return pickle.dumps((args, kwargs), protocol=5), None
    except Exception as exc:
        labels = [(f"argument {i}", a) for i, a in enumerate(args)]
        labels += [(f"argument {k!r}", v) for k, v in kwargs.items()]
        raise _unsendable(labels, exc) from exc


def decode_call(
    a: tuple[Any, ...] | bytes, b: tuple[Any, ...] | None, main_loader: Any = None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``(args, kwargs)`` that :func:`encode_call` encoded."""
    if b is None:
        return load(a, main_loader)  # type: ignore[no-any-return]
    return a, dict(b) if b else {}  # type: ignore[return-value]


def dump_chunk(chunk: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...] | bytes:
    """Encode the argument tuples of a ``map`` chunk; errors as for :func:`encode_call`."""
    try:
        return dump(chunk)
    except Exception as exc:
        items = [(f"argument {i} of a map item", a) for args in chunk for i, a in enumerate(args)]
        raise _unsendable(items, exc) from exc


def _unsendable(items: list[tuple[str, Any]], exc: Exception) -> TypeError:
    """The error for the first ``(label, value)`` that does not pickle."""
    for label, value in items:
        try:
            pickle.dumps(value, protocol=5)
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

    def __init__(self, data: Any, main_loader: Any) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self._main_loader = main_loader

    def find_class(self, module: str, name: str) -> Any:
        if module in ("__main__", MAIN_ALIAS) and self._main_loader is not None:
            return walk_qualname(self._main_loader(), name)
        return super().find_class(module, name)


def load(payload: tuple[Any, ...] | bytes, main_loader: Any = None) -> Any:
    """Decode what :func:`dump` made."""
    if not isinstance(payload, bytes):
        return payload
    if main_loader is None:
        return pickle.loads(payload)
    return _Unpickler(payload, main_loader).load()


def encode_error(exc: BaseException) -> tuple[bytes | None, str, str, str]:
    """``(pickled_exc or None, type qualname, message, traceback text)`` for ``exc``.

    The pickle is checked by loading it back, so an exception whose pickle cannot be
    rebuilt (a common bug in custom exceptions) still arrives as a ``RemoteError``.
    """
    t = type(exc)
    type_name = f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the error
        message = f"<unprintable {t.__qualname__}>"
    import traceback  # only on errors: it costs ~30 ms at every worker's start-up

    tb = "".join(traceback.format_exception(exc))
    blob: bytes | None
    try:
        blob = pickle.dumps(exc, protocol=5)
        pickle.loads(blob)
    except BaseException:  # noqa: BLE001 - anything may fail in user __reduce__
        blob = None
    return (blob, type_name, message, tb)


def walk_qualname(obj: Any, qualname: str) -> Any:
    """``obj.Cls.method`` for ``qualname`` ``"Cls.method"``; raises ``AttributeError``."""
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_qualname(module_name: str, qualname: str) -> Any:
    """Import ``module_name`` and walk ``qualname`` (``"Cls.method"``) from it."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    return walk_qualname(module, qualname)

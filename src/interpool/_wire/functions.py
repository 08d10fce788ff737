"""How a callable reaches a worker.

Caller side, :func:`function_key` turns a callable into a key that crosses natively.
The rules, tried in this order:

1. ``"module:qualname"`` (a ``str``), by name, for a function, builtin function or
   class whose ``__module__``/``__qualname__`` resolve back to the very same object
   (module-level functions and classes, static methods, builtins such as ``len``).
   The key is cached here and the worker imports the object once and caches it.
2. ``"__main__:qualname"``, by name, for such a function or class of the script
   being run (``python script.py`` or ``python -m pkg.mod``, see :func:`main_ref`):
   the worker loads that script by path (or module name) under the name
   ``__interpool_main__``, so its ``if __name__ == "__main__":`` block does not run
   again.  Cached on both sides, like 1.
3. ``bytes``, the plain pickle (protocol 5), for any other callable that is not a
   function or class and that pickle can send by reference: a ``functools.partial``
   of an importable function, a bound method of an instance of a module-level class,
   a callable instance, ``"-".join``...  If that pickle names something of
   ``__main__`` while there is no script (REPL, ``python -c``, stdin, a notebook),
   which a worker could not load, rule 4 applies instead.
4. ``bytes``, the cloudpickle pickle (protocol 5), by value, for everything else:
   lambdas, closures, nested functions, functions and classes defined in the REPL,
   ``python -c``, stdin or a notebook, a partial of a lambda, a method of a class
   defined inside a function...  Their code is sent along with what they capture:
   closure variables and the globals they use (functions and classes of
   ``__main__`` by value too, importable modules and functions by name).
   cloudpickle is imported on first need only, here and in each worker (its pickle
   refers to ``cloudpickle`` functions, which the worker's ordinary unpickler
   imports, once).

A callable that neither pickle can send (one that captures a lock, a socket, a
database connection...) gets a ``TypeError`` at submit naming it, the reason and the
fix; so does a non-callable.

``bytes`` keys are made afresh at every ``submit`` (once per ``map`` call), so what
the callable carries is sent as it is at that moment, and the pool keeps no reference
to the caller's object.  The worker unpickles them afresh for every call (every
``map`` chunk), so no state one call leaves in its copy leaks into another.

Worker side, :class:`FunctionCache` turns keys back into callables.
"""

from __future__ import annotations

import pickle
import sys
import types

from interpool._wire.buffers import by_value_in_band
from interpool._wire.transport import MAIN_ALIAS, load, resolve_qualname, walk_qualname

TYPE_CHECKING = False  # typing is slow to import, and every worker would pay for it
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FunctionCache", "MainRef", "function_key", "main_ref"]

#: How a worker finds the caller's ``__main__``: ``("path", file)``, ``("module", name)``
#: or ``None`` when there is no script (REPL, ``python -c``, notebooks).
MainRef = tuple[str, str] | None

_KEY_CACHE: dict[Any, str | bytes] = {}
_KEY_CACHE_MAX = 4096


def main_ref() -> MainRef:
    """Describe the caller's ``__main__`` so a worker can load it under another name."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return ("module", spec.name)
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path.endswith(".py"):
        import os

        return ("path", os.path.abspath(path))
    return None


def alias_main() -> None:
    """Make ``__interpool_main__`` name the caller's ``__main__``, so objects of script
    classes that come back from a worker unpickle here."""
    main = sys.modules.get("__main__")
    if main is not None:
        sys.modules.setdefault(MAIN_ALIAS, main)


def function_key(fn: Any) -> str | bytes:
    """The key that lets a worker find ``fn``; raises ``TypeError`` naming the problem.

    Keys of callables found by name are cached (those callables live in their module
    anyway).  Any other callable is pickled again at every call of this function
    (plain pickle if it can, else cloudpickle by value), so that the state it carries
    (a ``partial``'s arguments, a bound method's instance, a closure's variables) is
    sent as it is at that moment, and the caller's object is not kept alive by the
    pool.  See the module docstring for the rules."""
    try:
        return _KEY_CACHE[fn]
    except (KeyError, TypeError):
        pass
    key = _make_key(fn)
    if isinstance(key, str):
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[fn] = key
    return key


def _make_key(fn: Any) -> str | bytes:
    if not callable(fn):
        raise TypeError(
            f"interpool: the task must be callable, got {type(fn).__name__} {fn!r:.60}; "
            "pass a function (or class) as the first argument"
        )
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    by_name = isinstance(fn, (types.FunctionType, types.BuiltinFunctionType, type))
    if by_name and isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        if module == "__main__":
            if main_ref() is not None and _resolves(sys.modules["__main__"], qualname, fn):
                return f"__main__:{qualname}"
        else:
            try:
                found = resolve_qualname(module, qualname)
            except Exception:  # noqa: BLE001 - any import problem means "not by name"
                found = None
            if found is fn:
                return f"{module}:{qualname}"
    if not isinstance(fn, (types.FunctionType, type)):
        # Plain pickle is several times faster than cloudpickle, for what it can send by
        # reference: a partial of a module function, a method of a module-level class...
        # (A function or class that was not found by name above would fail here anyway.)
        try:
            data = pickle.dumps(fn, protocol=5)
        except Exception:  # noqa: BLE001 - cloudpickle may still manage
            pass
        else:
            # Something of __main__ pickled by name: fine with a script, which the worker
            # loads, but without one (REPL, python -c, notebook) it must go by value.
            # (A false alarm, such as the string "__main__" in a partial's arguments,
            # only costs the slower cloudpickle.)
            if b"__main__" not in data or main_ref() is not None:
                return data
    return _by_value(fn)


def _by_value(fn: Any) -> bytes:
    """``fn`` pickled by value with cloudpickle (code, closure and the globals it uses,
    as they are now); the worker loads it with a plain unpickler."""
    try:
        data = by_value_in_band(fn)
    except ImportError as exc:
        if exc.name != "cloudpickle":
            raise _not_by_value(fn, exc) from exc
        raise TypeError(
            f"interpool: cannot send {_describe(fn)} to a worker interpreter: it cannot be "
            "imported by name, and sending it by value needs cloudpickle, which is not "
            f"installed ({exc}). Install cloudpickle, or define the callable at module "
            "level in an importable module (or the script)."
        ) from exc
    except Exception as exc:
        raise _not_by_value(fn, exc) from exc
    return data


def _not_by_value(fn: Any, exc: Exception) -> TypeError:
    return TypeError(
        f"interpool: cannot send {_describe(fn)} to a worker interpreter: it cannot be "
        f"imported by name, nor pickled by value: {type(exc).__name__}: {exc}. What it "
        "captures (closure variables, the globals it uses, a partial's arguments, a "
        "bound method's object) must be picklable: create locks, sockets, open files "
        "and the like inside the task instead, or pass what the task needs as "
        "picklable arguments."
    )


def _resolves(module: Any, qualname: str, fn: Any) -> bool:
    try:
        return walk_qualname(module, qualname) is fn
    except AttributeError:
        return False


def _describe(fn: Any) -> str:
    """``function 'f.<locals>.<lambda>'``, ``functools.partial of method 'C.m'``..."""
    t = type(fn)
    kind = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    name = getattr(fn, "__qualname__", None)
    if isinstance(name, str):
        return f"{kind} {name!r}"
    inner = getattr(fn, "func", None)  # functools.partial and alike
    if callable(inner):
        return f"{kind} of {_describe(inner)}"
    return f"{kind} instance"


class FunctionCache:
    """Worker side: key -> callable, each key resolved once."""

    def __init__(self, main: MainRef) -> None:
        self._main = main
        self._main_module: types.ModuleType | None = None
        self._cache: dict[str | bytes, Any] = {}

    def __call__(self, key: str | bytes) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            pass
        if not isinstance(key, str):
            # A fresh copy for every call: state one call leaves in the callable must
            # not leak into another, independent submission.
            return load(key, self.main_module)
        module, _, qualname = key.partition(":")
        try:
            if module == "__main__":
                obj = walk_qualname(self.main_module(), qualname)
            else:
                obj = resolve_qualname(module, qualname)
        except (ImportError, AttributeError) as exc:
            raise _not_importable(module, qualname, exc) from exc
        if len(self._cache) >= _KEY_CACHE_MAX:
            self._cache.clear()
        self._cache[key] = obj
        return obj

    def main_module(self) -> types.ModuleType:
        """The caller's script, loaded (once) under ``__interpool_main__``."""
        if self._main_module is not None:
            return self._main_module
        if self._main is None:
            raise RuntimeError(
                "interpool: this task refers by name to something of the caller's "
                "__main__ (an argument of a class defined there?), but it has no script "
                "file (REPL, python -c or a notebook) that a worker could load; define "
                "that class or function in a module"
            )
        kind, where = self._main
        if kind == "module":
            import importlib

            module = importlib.import_module(where)
        else:
            import importlib.util

            spec = importlib.util.spec_from_file_location(MAIN_ALIAS, where)
            if spec is None or spec.loader is None:
                raise ImportError(f"interpool: cannot load the main script {where!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[MAIN_ALIAS] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[MAIN_ALIAS]
                raise
        self._main_module = module
        return module


def _not_importable(module: str, qualname: str, exc: ImportError | AttributeError) -> Exception:
    """The error for a task's callable that the worker cannot find by name: the same
    type as ``exc``, with what happened and what to do."""
    message = (
        f"interpool: the worker interpreter cannot import the task's callable "
        f"{module}.{qualname}: {exc}. Workers import callables by name: define it at "
        "module level in an importable module (a file on the worker's sys.path, not "
        "something made only in the caller's memory), or pass a lambda or closure, "
        "which is sent by value"
    )
    if isinstance(exc, ImportError):
        return type(exc)(message, name=exc.name, path=exc.path)
    return AttributeError(message)

"""How a callable reaches a worker.

Caller side, :func:`function_key` turns a callable into a key that crosses natively:

* ``"module:qualname"`` (a ``str``) for anything importable by name that resolves back
  to the same object: module-level functions, classes, static methods, builtins.  The
  worker imports it once and caches it.
* ``"__main__:qualname"`` for a function of the script being run (``python script.py``
  or ``python -m pkg.mod``): the worker loads that script by path (or module name)
  under the name ``__interpool_main__``, so its ``if __name__ == "__main__":`` block
  does not run again.
* ``bytes``: the callable's pickle, for anything else pickle can handle (bound methods
  of picklable objects, ``functools.partial`` of importable functions, ...), made
  afresh at each call and unpickled afresh by the worker, as a process pool would.

Worker side, :class:`FunctionCache` turns keys back into callables.
"""

from __future__ import annotations

import pickle
import sys
import types

from ._transport import MAIN_ALIAS, load, resolve_qualname, walk_qualname

TYPE_CHECKING = False  # typing costs ~20 ms to import in every worker
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
    anyway).  A pickled callable is pickled again at every call, so that the state it
    carries (a ``partial``'s arguments, a bound method's instance) is sent as it is
    at that moment, and the caller's object is not kept alive by the pool."""
    try:
        return _KEY_CACHE[fn]
    except KeyError, TypeError:
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
    if isinstance(fn, (types.FunctionType, types.BuiltinFunctionType, type)) and (
        isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname
    ):
        if module == "__main__":
            if main_ref() is None:
                raise TypeError(
                    f"interpool: cannot send {_describe(fn)} to a worker interpreter: it "
                    "was defined in __main__ of the REPL, python -c or a notebook, which a "
                    "worker cannot load. Define it in a module (or a script file)."
                )
            if _resolves(sys.modules["__main__"], qualname, fn):
                return f"__main__:{qualname}"
        else:
            try:
                found = resolve_qualname(module, qualname)
            except Exception:  # noqa: BLE001 - any import problem means "not by name"
                found = None
            if found is fn:
                return f"{module}:{qualname}"
    try:
        return pickle.dumps(fn, protocol=5)
    except Exception as exc:
        raise TypeError(
            f"interpool: cannot send {_describe(fn)} to a worker interpreter: {exc}. "
            "Define it at module level (a lambda, closure or nested function cannot be "
            "imported by a worker), or in an importable module."
        ) from exc


def _resolves(module: Any, qualname: str, fn: Any) -> bool:
    try:
        return walk_qualname(module, qualname) is fn
    except AttributeError:
        return False


def _describe(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{type(fn).__name__} {name!r}"


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
        if module == "__main__":
            obj = walk_qualname(self.main_module(), qualname)
        else:
            obj = resolve_qualname(module, qualname)
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
                "interpool: this task needs the caller's __main__, but it has no script "
                "file (REPL, python -c or a notebook); define the function in a module"
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

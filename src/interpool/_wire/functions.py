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
   again.  Cached on both sides, like 1.  If a worker cannot load the script (its
   top level imports a module that refuses sub-interpreters, starts a pool without
   that guard, or raises), or the function is not found there (defined inside the
   ``if __name__ == "__main__":`` block), the worker says so (:class:`NeedsValue`)
   and the pool sends the task again with the function by value, *kept*: pickled
   with cloudpickle once, at its first call, and unpickled once per worker
   (:func:`value_key`).  Its globals travel with it, as they were at that first
   call; the by-value functions of one worker share one namespace, so a global that
   one of them sets (an initializer's ``global model``) is seen by the others.
   Once the script is known not to load (a worker said so, or a pool was started
   from its top level outside the guard: :func:`check_main_guard`), every function
   of the script goes this way at once.
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

Worker side, :class:`FunctionCache` turns keys back into callables.  It loads the
script with its output silenced (its prints were the caller's to make), at most once.
"""

from __future__ import annotations

import itertools
import pickle
import sys
import types

from interpool._wire import buffers
from interpool._wire.buffers import by_value_in_band
from interpool._wire.protocol import BUFFERS, CALL, PICKLE
from interpool._wire.transport import (
    MAIN_ALIAS,
    decode,
    dump_chunk,
    encode_call,
    load,
    resolve_qualname,
    walk_qualname,
)

TYPE_CHECKING = False  # typing is slow to import, and every worker would pay for it
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "KEPT",
    "FunctionCache",
    "MainRef",
    "MainUnavailable",
    "NeedsValue",
    "args_by_value",
    "check_main_guard",
    "describe_key",
    "function_key",
    "initializer_key",
    "loading_script",
    "main_ref",
    "names_script",
    "no_guard_error",
    "script_problem",
    "script_unguarded",
    "script_unloadable",
    "value_key",
]

#: The first byte of a *kept* by-value key: ``KEPT + id (8 bytes) + pickle``, which a
#: worker unpickles once and keeps under its id (a pickle starts with ``0x80``).
KEPT = b"\x00"
_KEPT_HEAD = 9

#: Why workers cannot load the caller's script by name, once known (see rule 2).
_unloadable: str | None = None
#: Ids of kept keys, unique in the process (``next`` is atomic).
_kept_ids = itertools.count(1)

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
    if isinstance(key, str) or key[:1] == KEPT:
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
                return f"__main__:{qualname}" if _unloadable is None else _kept(fn)
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


def describe_key(key: str | bytes) -> str:
    """A task's function, for messages: ``"time.sleep"``, ``"main.f"``..."""
    if isinstance(key, str):
        module, _, qualname = key.partition(":")
        return qualname if module in ("__main__", "builtins") else f"{module}.{qualname}"
    return "a function sent by value"


def _kept(fn: Any) -> bytes:
    """``fn`` by value, as a kept key (see :data:`KEPT`)."""
    data = _by_value(fn, itself=True)
    return KEPT + next(_kept_ids).to_bytes(8, "little") + data


def value_key(key: str | bytes, unloadable: str | None) -> str | bytes:
    """The kept by-value key of the script's function named by ``key``
    (``"__main__:qualname"``), for a task a worker sent back (:class:`NeedsValue`,
    or :class:`MainUnavailable` for its arguments; any other key is returned as is);
    ``unloadable`` is why workers cannot load the script, if that was the reason
    (see :func:`script_unloadable`).  Later keys of that function are this one.
    Raises ``TypeError`` if the function cannot be sent by value either."""
    if unloadable is not None:
        script_unloadable(unloadable)
    if not isinstance(key, str):
        return key
    module, _, qualname = key.partition(":")
    if module != "__main__":
        return key  # (a bytes key only when sent again for its arguments' sake)
    fn = walk_qualname(sys.modules["__main__"], qualname)
    known = _KEY_CACHE.get(fn)
    if isinstance(known, bytes) and known[:1] == KEPT:
        return known
    new = _kept(fn)
    _KEY_CACHE[fn] = new
    return new


def args_by_value(kind: int, a: Any, b: Any) -> tuple[Any, Any]:
    """The arguments fields (``a``, ``b``, see ``_wire.protocol``) of a task sent again
    by value: encoded again when their pickle names objects of the script (which the
    workers cannot load): now by value."""
    if not names_script(kind, a, b):
        return a, b
    value = decode(b, a)  # here, ``__main__`` is the script itself
    if kind == CALL:
        return encode_call(*value)
    fmt, payload = dump_chunk(value)
    return payload, fmt


def names_script(kind: int, a: Any, b: Any) -> bool:
    """Whether a task's encoded arguments (``a``, ``b``) name objects of the script."""
    if kind == CALL and type(b) is tuple:
        return False  # native: nothing of the script
    data = a if b == PICKLE else a[0] if b == BUFFERS else None
    return isinstance(data, bytes) and b"__main__" in data


def script_unloadable(reason: str) -> None:
    """From now on, send the script's functions by value (workers cannot load the
    script: ``reason``)."""
    global _unloadable
    if _unloadable is None:
        _unloadable = reason
        buffers.script_unloadable()
    for fn, key in list(_KEY_CACHE.items()):
        if isinstance(key, str) and key.startswith("__main__:"):
            _KEY_CACHE.pop(fn, None)


def script_problem() -> str | None:
    """Why workers cannot load the caller's script, if known."""
    return _unloadable


def script_unguarded() -> bool:
    """True once the script is known to start its pool outside the ``__main__`` guard."""
    return _unloadable == _NO_GUARD


def initializer_key(fn: Any) -> str | bytes | tuple[str, bytes]:
    """:func:`function_key` for a pool's initializer, which a worker cannot send back:
    a function of the script comes as ``(by name, kept by value)`` (the worker uses
    the second if it cannot load the script), when it can be sent by value."""
    key = function_key(fn)
    if isinstance(key, str) and key.startswith("__main__:"):
        try:
            return (key, _kept(fn))
        except TypeError:
            return key
    return key


_NO_GUARD = (
    "the script starts its pool at its top level, outside an "
    '`if __name__ == "__main__":` block, so loading it would start the pool again'
)


def check_main_guard(frame: Any) -> None:
    """Called when a pool starts, with the caller's frame: if that is the script's
    top level outside an ``if __name__ == "__main__":`` block (a script without the
    guard), workers must never load the script: its functions go by value."""
    main = sys.modules.get("__main__")
    if _unloadable is not None or main is None or main_ref() is None:
        return
    while frame is not None:
        if frame.f_globals is main.__dict__ and frame.f_code.co_name == "<module>":
            break
        frame = frame.f_back
    path = getattr(main, "__file__", None)
    if frame is None or not isinstance(path, str):
        return
    if not _guarded(path, frame.f_lineno):
        script_unloadable(_NO_GUARD)


_guards: dict[str, list[tuple[int, int]] | None] = {}


def _guarded(path: str, line: int) -> bool:
    """Whether ``line`` of the script ``path`` is inside an
    ``if __name__ == "__main__":`` block (True if the file cannot be read)."""
    if path not in _guards:
        _guards[path] = _guard_blocks(path)
    blocks = _guards[path]
    return blocks is None or any(first <= line <= last for first, last in blocks)


def _guard_blocks(path: str) -> list[tuple[int, int]] | None:
    """The line ranges of the script's ``if __name__ == "__main__":`` blocks."""
    import ast

    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    return [
        (node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body
    ]


def _is_main_test(test: Any) -> bool:
    import ast

    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = (test.left, test.comparators[0])
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1


def _by_value(fn: Any, itself: bool = False) -> bytes:
    """``fn`` pickled by value with cloudpickle (code, closure and the globals it uses,
    as they are now; with ``itself``, even a function the script defines, see
    ``buffers.by_value_in_band``); the worker loads it with a plain unpickler."""
    try:
        data = by_value_in_band(fn, itself)
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


class NeedsValue(Exception):
    """Raised in a worker for a task whose function of the script cannot be found by
    name: the pool sends the task again with the function by value (see rule 2).
    ``unloadable`` says why the script does not load, or is ``None`` when it loaded
    but lacks the function."""

    def __init__(self, unloadable: str | None) -> None:
        super().__init__(unloadable)
        self.unloadable = unloadable


class MainUnavailable(ImportError):
    """The worker cannot load the caller's script, which a task's arguments (or a
    pickled callable) refer to by name; ``reason`` says why.  A task's arguments that
    meet it are sent again, by value (see :func:`args_by_value`)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Silent:
    """Where the script's output goes while a worker loads it."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


_loading = [False]


def loading_script() -> bool:
    """True in a worker while it loads the caller's script: a pool started then is one
    the script starts at its top level, outside the ``__main__`` guard."""
    return _loading[0]


class FunctionCache:
    """Worker side: key -> callable, each key resolved once."""

    def __init__(self, main: MainRef) -> None:
        self._main = main
        self._main_module: types.ModuleType | None = None
        self._main_error: str | None = None
        self._cache: dict[str, Any] = {}
        self._kept: dict[bytes, Any] = {}
        #: The namespace the kept by-value functions share (see rule 2).
        self._shared: dict[str, Any] | None = None

    def __call__(self, key: str | bytes) -> Any:
        if not isinstance(key, str):
            if key[:1] == KEPT:
                ident = key[1:_KEPT_HEAD]
                fn = self._kept.get(ident)
                if fn is None:
                    fn = self._share_globals(load(key[_KEPT_HEAD:], self.main_module))
                    self._kept[ident] = fn
                return fn
            # A fresh copy for every call: state one call leaves in the callable must
            # not leak into another, independent submission.
            return load(key, self.main_module)
        try:
            return self._cache[key]
        except KeyError:
            pass
        module, _, qualname = key.partition(":")
        try:
            if module == "__main__":
                try:
                    main = self.main_module()
                except MainUnavailable:
                    raise NeedsValue(self._main_error) from None
                try:
                    obj = walk_qualname(main, qualname)
                except AttributeError:
                    raise NeedsValue(None) from None
            else:
                obj = resolve_qualname(module, qualname)
        except (ImportError, AttributeError) as exc:
            raise _not_importable(module, qualname, exc) from exc
        if len(self._cache) >= _KEY_CACHE_MAX:
            self._cache.clear()
        self._cache[key] = obj
        return obj

    def _share_globals(self, fn: Any) -> Any:
        """A by-value function of the script, rebound to the namespace this worker's
        by-value functions share; what its pickle brought that the namespace lacks is
        added (names already there keep their value)."""
        if type(fn) is not types.FunctionType or fn.__module__ != "__main__":
            return fn
        own = fn.__globals__
        shared = self._shared
        path = self._main[1] if self._main is not None and self._main[0] == "path" else None
        if shared is None:
            shared = self._shared = own
            for value in [fn, *own.values()]:
                _own_file(value, own, path)
            return fn
        for name, value in own.items():
            if name not in shared:
                shared[name] = _own_file(_rebound(value, own, shared), shared, path)
        return _own_file(_rebound(fn, own, shared), shared, path)

    def main_module(self) -> types.ModuleType:
        """The caller's script, loaded (once) under ``__interpool_main__``, with its
        output silenced; ``MainUnavailable`` if it cannot load."""
        if self._main_module is not None:
            return self._main_module
        if self._main_error is not None:
            raise MainUnavailable(self._unavailable(), self._main_error)
        if self._main is None:
            raise RuntimeError(
                "interpool: this task refers by name to something of the caller's "
                "__main__ (an argument of a class defined there?), but it has no script "
                "file (REPL, python -c or a notebook) that a worker could load; define "
                "that class or function in a module"
            )
        out, err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = _Silent()
        _loading[0] = True
        try:
            module = self._load_main(*self._main)
        except (Exception, SystemExit) as exc:
            self._main_error = _load_failure(exc, self._main)
            raise MainUnavailable(self._unavailable(), self._main_error) from exc
        finally:
            _loading[0] = False
            sys.stdout, sys.stderr = out, err
        self._main_module = module
        return module

    def _unavailable(self) -> str:
        return (
            f"interpool: the worker interpreter cannot load the script: "
            f"{self._main_error}. Its functions are sent by value, but objects of the "
            "classes it defines cannot be sent to such workers: define those classes in "
            "a module of their own (imported by the script)"
        )

    @staticmethod
    def _load_main(kind: str, where: str) -> types.ModuleType:
        if kind == "module":
            import importlib

            return importlib.import_module(where)
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
        return module


def _rebound(obj: Any, own: dict[str, Any], shared: dict[str, Any]) -> Any:
    """``obj``, a function whose globals are ``own``, made again with ``shared``."""
    if type(obj) is not types.FunctionType or obj.__globals__ is not own:
        return obj
    new = types.FunctionType(obj.__code__, shared, obj.__name__, obj.__defaults__, obj.__closure__)
    new.__kwdefaults__ = obj.__kwdefaults__
    new.__qualname__ = obj.__qualname__
    new.__module__ = obj.__module__
    new.__doc__ = obj.__doc__
    new.__dict__.update(obj.__dict__)
    return new


def _own_file(obj: Any, namespace: dict[str, Any], path: str | None) -> Any:
    """``obj``, a by-value function of the script (``namespace`` its globals), with its
    code's file name back (cloudpickle sends ``"<dynamic-code>"``), so that its
    tracebacks show the script's file, lines and source."""
    if path is None or type(obj) is not types.FunctionType or obj.__globals__ is not namespace:
        return obj
    if obj.__code__.co_filename == "<dynamic-code>":
        obj.__code__ = code_with_file(obj.__code__, path)
    return obj


def code_with_file(code: types.CodeType, path: str) -> types.CodeType:
    """``code`` (and the code objects it holds) with ``path`` as its file name."""
    consts = tuple(
        code_with_file(c, path) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=path, co_consts=consts)


def _load_failure(exc: BaseException, main: tuple[str, str]) -> str:
    """What stopped the script from loading, and where: ``"ImportError: ... (line 3 of
    /path/script.py)"``."""
    where = main[1]
    if isinstance(exc, ImportError) and "does not support loading in subinterpreters" in str(exc):
        text = f"an import of its top level ({exc.name or exc}) refuses sub-interpreters"
    elif isinstance(exc, RuntimeError) and str(exc).startswith(_NO_GUARD_ERROR):
        return _NO_GUARD
    else:
        text = f"{type(exc).__name__}: {exc}"
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == where:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{text} (line {line} of {where})" if line is not None else text


#: The start of the error a pool raises when a worker loading the script starts it.
_NO_GUARD_ERROR = "interpool: a pool cannot start while a worker loads the script"


def no_guard_error() -> RuntimeError:
    """The error for a pool started in a worker that is loading the script."""
    return RuntimeError(
        f"{_NO_GUARD_ERROR}: the script starts its pool at its top level; put that code "
        'under `if __name__ == "__main__":`'
    )


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

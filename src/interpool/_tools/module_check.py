"""Which modules load in a sub-interpreter: :func:`check_modules`.

Extension modules that do not declare support for sub-interpreters (numpy, orjson,
msgspec, pydantic-core, at the time of writing) refuse to load in one, with CPython's
``ImportError: module X does not support loading in subinterpreters`` (which a
package may wrap in an error of its own, as numpy does).  A task of an interpool
worker that imports such a module fails with ``interpool.IncompatibleModuleError``.
:func:`check_modules` tells beforehand, without importing anything in the caller's
interpreter.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass

from interpool._platform import interpreters

__all__ = ["ModuleCheck", "check_modules"]

#: CPython's message when an extension refuses to load in a sub-interpreter.
_REFUSAL = re.compile(r"module (\S+) does not support loading in subinterpreters")

#: Run in a fresh interpreter, with ``_name``, ``_path`` and ``_qid`` set in its
#: ``__main__``: import ``_name`` and put on queue ``_qid`` the chain of exceptions it
#: raised (itself, then its ``__cause__`` and ``__context__``, breadth first) as
#: ``(type name, message, missing module name or None)`` triples; ``()`` on success.
_PROBE = """\
import sys
sys.path[:] = _path
_chain = []
try:
    __import__(_name)
except BaseException as _exc:
    _todo = [_exc]
    while _todo and len(_chain) < 32:
        _e = _todo.pop(0)
        if _e is None or any(_e is _seen for _seen, *_ in _chain):
            continue
        _t = type(_e)
        _type_name = (
            _t.__qualname__ if _t.__module__ == "builtins"
            else f"{_t.__module__}.{_t.__qualname__}"
        )
        try:
            _message = str(_e)
        except BaseException:
            _message = f"<unprintable {_t.__qualname__}>"
        _missing = getattr(_e, "name", None) if isinstance(_e, ModuleNotFoundError) else None
        _chain.append((_e, _type_name, _message, _missing if isinstance(_missing, str) else None))
        _todo += [_e.__cause__, _e.__context__]
    del _exc, _todo, _e
from interpool._platform.interpreters import queue_put  # after the check: it imports nothing else
queue_put(_qid, tuple(item[1:] for item in _chain))
del _chain
"""

#: What the probe reports: ``(type name, message, missing module or None)`` per error.
_Chain = tuple[tuple[str, str, str | None], ...]


@dataclass(frozen=True, slots=True)
class ModuleCheck:
    """Whether a module can be imported in a sub-interpreter (an interpool worker).

    Attributes:
        name: the module checked.
        ok: it imported.
        error: ``None`` if it imported, else ``"Type: message"``, for example
            ``"ImportError: module numpy._core._multiarray_umath does not support
            loading in subinterpreters"``.
        incompatible: the module (or an extension it imports, named in ``error``)
            refuses to load in a sub-interpreter; ``False`` when it imported, or
            failed for another reason (not installed, a bug, a timeout...).
        advice: what to do, in a sentence; ``""`` when ``ok``.
    """

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    name: str
    ok: bool
    error: str | None = None
    incompatible: bool = False
    advice: str = ""


def check_modules(*names: str, timeout: float | None = 60) -> dict[str, ModuleCheck]:
    """Try to import each of ``names`` in a fresh sub-interpreter, as an interpool
    worker would; return ``{name: ModuleCheck}`` in the order given (once per name).

    Each module is imported in an interpreter of its own (created with
    ``concurrent.interpreters.create()``, like the pool's workers, with the caller's
    ``sys.path``), so that one module's import cannot change another's result; the
    interpreters run at the same time, each on a thread of its own, and each is
    closed once its import is over.  Nothing is imported in the caller's interpreter.

    Args:
        timeout: seconds to wait for the imports (they run in parallel, so this
            bounds each one); ``None`` waits as long as they take.  A module whose
            import is not over by then is reported as failed (not ``incompatible``);
            its import goes on in the background, and its interpreter is closed when
            it ends (the program's exit waits for that).

    Raises ``TypeError`` or ``ValueError`` for a name that is not a module name, or a
    negative ``timeout``.
    """
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"module names must be str, got {type(name).__name__}")
        if not name or not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"not an absolute module name: {name!r}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be None or >= 0, got {timeout!r}")
    path = tuple(p for p in sys.path if isinstance(p, str))
    unique = list(dict.fromkeys(names))
    outcomes: list[list[_Chain | BaseException]] = [[] for _ in unique]
    threads = [
        threading.Thread(
            target=_check_into,
            args=(name, path, outcome),
            name=f"interpool-check-modules-{name}",
        )
        for name, outcome in zip(unique, outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    end = None if timeout is None else time.monotonic() + timeout
    for thread in threads:
        thread.join(None if end is None else max(0.0, end - time.monotonic()))
    return {
        name: _judge(name, outcome[0]) if outcome else _timed_out(name, timeout)
        for name, outcome in zip(unique, outcomes, strict=True)
    }


def _check_into(name: str, path: tuple[str, ...], outcome: list[_Chain | BaseException]) -> None:
    """Thread body: append the probe's chain, or what went wrong around it."""
    try:
        outcome.append(_probe(name, path))
    except BaseException as exc:  # noqa: BLE001 - reported in the module's ModuleCheck
        outcome.append(exc)


def _probe(name: str, path: tuple[str, ...]) -> _Chain:
    interp = interpreters.create()
    try:
        queue = interpreters.create_queue()
        interp.prepare_main(_name=name, _path=path, _qid=queue.id)
        interp.exec(_PROBE)
        chain = queue.get_nowait()  # the probe put it there, or exec() raised
        assert isinstance(chain, tuple)
        return chain
    finally:
        interp.close()


def _judge(name: str, outcome: _Chain | BaseException) -> ModuleCheck:
    if isinstance(outcome, BaseException):  # the check itself failed
        error = _describe(type(outcome).__qualname__, str(outcome))
        return ModuleCheck(
            name,
            ok=False,
            error=error,
            advice=f"the check could not run ({error}); try importing {name} in a worker",
        )
    if not outcome:
        return ModuleCheck(name, ok=True)
    for _, message, _ in outcome:
        refusal = _REFUSAL.search(message)
        if refusal is not None:
            return _incompatible(name, refusal.group(1), f"ImportError: {refusal.group(0)}")
    type_name, message, missing = outcome[0]
    error = _describe(type_name, message)
    if missing is not None:
        if missing == name or name.startswith(f"{missing}."):
            advice = (
                f"no module named {missing!r} is found on sys.path: install it (the "
                f"package that provides it, for {sys.executable}), or check the name"
            )
        else:
            advice = f"{name} needs {missing}, which is not found on sys.path: install it"
        return ModuleCheck(name, ok=False, error=error, advice=advice)
    return ModuleCheck(
        name,
        ok=False,
        error=error,
        advice=(
            f"importing {name} failed, not with the sub-interpreter refusal: if "
            f'`python -c "import {name}"` works, {name} does not work in a '
            'sub-interpreter anyway: run the tasks that need it with Pool(fallback="'
            'processes"); otherwise fix that error'
        ),
    )


def _incompatible(name: str, blocker: str, error: str) -> ModuleCheck:
    package = blocker.partition(".")[0]  # what to upgrade: the refusing extension's package
    which = name if blocker == name else f"{name} (through {blocker})"
    return ModuleCheck(
        name,
        ok=False,
        error=error,
        incompatible=True,
        advice=(
            f"{which} cannot be loaded in a sub-interpreter: use "
            'Pool(fallback="processes"), which runs the tasks that import it in a '
            "process worker, or run those tasks in processes"
            + (
                ""  # part of Python itself: no release of its own to upgrade to
                if package in sys.stdlib_module_names
                else f", or upgrade {package} if a newer release supports sub-interpreters"
            )
        ),
    )


def _timed_out(name: str, timeout: float | None) -> ModuleCheck:
    return ModuleCheck(
        name,
        ok=False,
        error=f"TimeoutError: importing {name} took more than {timeout} s",
        advice=(
            "check again with a larger timeout (the import goes on in the background; "
            'if it never ends in a sub-interpreter, use Pool(fallback="processes"))'
        ),
    )


def _describe(type_name: str, message: str) -> str:
    return f"{type_name}: {message}" if message else type_name

"""Exception types, and how an exception raised in a worker is rebuilt in the caller."""

from __future__ import annotations

import pickle
from concurrent.futures import BrokenExecutor

__all__ = [
    "BrokenPool",
    "IncompatibleModuleError",
    "RemoteError",
    "RemoteTraceback",
    "rebuild_exception",
]


class BrokenPool(BrokenExecutor):
    """The pool can no longer run tasks (for example a worker's ``initializer``
    failed, or a worker interpreter died).  Pending and running tasks fail with it."""


class IncompatibleModuleError(ImportError):
    """A task imported an extension module that refuses to load in a sub-interpreter
    (for example numpy, orjson, msgspec, pydantic-core: CPython's ``ImportError:
    module X does not support loading in subinterpreters``).

    ``name`` is the module that refused.  An ``ImportError``, so ``except ImportError``
    still catches it.  The way out: ``Pool(fallback="processes")`` (such tasks then
    run in a process worker), the processes backend, or a release of the package that
    supports sub-interpreters.
    """

    def __init__(self, name: str, detail: str = "") -> None:
        message = (
            f"module {name!r} cannot be imported in a sub-interpreter"
            f"{f' ({detail})' if detail else ''}. Run such tasks with "
            'Pool(fallback="processes"), which sends them to a process worker, or '
            "upgrade the package if a newer release supports sub-interpreters; "
            "interpool.check_modules() tells which modules load."
        )
        super().__init__(message, name=name)
        self.detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.name, self.detail))


class RemoteTraceback(Exception):
    """Carries the worker's formatted traceback; set as ``__cause__`` of a re-raised error."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


class RemoteError(Exception):
    """An exception raised in a worker that could not be sent back as itself
    (its type or its arguments cannot be pickled, or unpickled here).

    Attributes: ``type_name`` (the qualified name of the original type),
    ``message`` (``str()`` of the original) and ``traceback`` (its formatted
    traceback in the worker).
    """

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.type_name, self.message, self.traceback))


def rebuild_exception(info: tuple[bytes | None, str, str, str]) -> BaseException:
    """Turn the worker's ``(pickled_exc, type_name, message, traceback)`` back into an
    exception: the original type when it survives pickling, else :class:`RemoteError`.
    The worker's traceback text becomes the ``__cause__``."""
    blob, type_name, message, tb = info
    exc: BaseException | None = None
    if blob is not None:
        try:
            loaded = pickle.loads(blob)
        except Exception:  # noqa: BLE001 - any failure means "send a RemoteError"
            loaded = None
        if isinstance(loaded, BaseException):
            exc = loaded
    if exc is None:
        exc = RemoteError(type_name, message, tb)
    exc.__cause__ = RemoteTraceback(tb)
    return exc

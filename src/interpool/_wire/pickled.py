"""Calls pickled to run in another process (a process worker, a Dask worker): both
sides.

The caller pickles ``(fn, args, kwargs)`` (or a ``map`` chunk) with :func:`dump_sent`:
plain pickle when the pickle does not mention ``__main__``; otherwise, or when plain
pickle cannot (lambdas, closures, nested functions, classes defined in a function),
cloudpickle, which sends them by value.  The other side runs it with :func:`run_call`
or :func:`run_chunk`, which never raise: a result comes back pickled the same way, an
error encoded as interpool's workers encode it (``errors.encode_error``).  The
caller turns the reply into a value or an exception with :func:`decode_reply` or
:func:`decode_chunk`: the exception is rebuilt with ``errors.rebuild_exception``, so
it arrives as a worker interpreter's would (type, message, and an
``interpool.RemoteTraceback`` cause), and a result the caller cannot unpickle fails
that task alone with ``TypeError``.
"""

from __future__ import annotations

import pickle
import types
from typing import Any, Protocol

from interpool._wire.errors import (
    encode_error,
    rebuild_exception,
    unrebuildable_result,
    unsendable_result,
)
from interpool._wire.functions import code_with_file

__all__ = [
    "ERROR",
    "OK",
    "awaited",
    "decode_chunk",
    "decode_reply",
    "dump",
    "dump_sent",
    "run_call",
    "run_chunk",
]

#: What ``errors.encode_error`` makes of an exception (opaque here).
ErrorInfo = Any

#: The status of :func:`run_call` 's reply.
OK = 0
ERROR = 1
#: What :func:`run_chunk` sends to ``progress`` after each call but the last.
NEXT = 2


class _Progress(Protocol):
    def send(self, obj: Any) -> None: ...


def dump(value: Any) -> bytes:
    """``value`` pickled for the other side: plain pickle if it can and the pickle does
    not mention ``__main__`` (whose objects the other side may not find by name),
    else cloudpickle, by value.  Raises the error of the pickler that was tried last."""
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception:  # noqa: BLE001 - cloudpickle may still manage
        data = None
    if data is not None and b"__main__" not in data:
        return data
    import cloudpickle  # type: ignore[import-untyped]

    try:
        by_value: bytes = cloudpickle.dumps(value, protocol=5)
    except Exception:
        if data is None:
            raise
        return data  # a __main__ that the other side loads, as multiprocessing does
    return by_value


def dump_sent(value: Any, what: str, where: str = "a process worker") -> bytes:
    """:func:`dump`, or ``TypeError`` naming ``what`` cannot be sent to ``where``, and
    the fix."""
    try:
        return dump(value)
    except Exception as exc:
        raise TypeError(
            f"interpool: cannot send {what} to {where}: {type(exc).__name__}: {exc}. "
            f"{where[0].upper()}{where[1:]} receives a pickled copy of the callable and "
            "its arguments: create locks, sockets, open files and the like inside the "
            "task instead."
        ) from exc


#: Where :func:`run_call` and :func:`run_chunk` run, as the errors name it.
_WHERE = "the process worker"


def decode_reply(reply: tuple[int, Any]) -> tuple[bool, Any]:
    """``(True, value)`` or ``(False, exception)`` from :func:`run_call` 's reply."""
    status, payload = reply
    if status == ERROR:
        return False, rebuild_exception(payload)
    try:
        return True, pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - e.g. a class the caller cannot import
        return False, unrebuildable_result(exc, _WHERE)


def decode_chunk(reply: tuple[bytes, ErrorInfo | None]) -> tuple[bool, Any]:
    """``(True, (values, exception or None))``, or ``(False, TypeError)`` if the
    values cannot be rebuilt here, from :func:`run_chunk` 's reply."""
    data, info = reply
    try:
        values = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - e.g. a class the caller cannot import
        return False, unrebuildable_result(exc, _WHERE)
    return True, (values, None if info is None else rebuild_exception(info))


# -- the other side ----------------------------------------------------------------------

#: The caller's script, for the functions of it that arrive by value (see
#: :func:`set_main_file`).
_main_file: list[str | None] = [None]


def set_main_file(path: str | None) -> None:
    """In a worker process: the caller's script is ``path``.  cloudpickle sends the
    script's functions with ``"<dynamic-code>"`` as their code's file name; they get
    ``path`` back, so that their tracebacks and warnings name the script's file and
    lines."""
    _main_file[0] = path


def _own_file(fn: Any) -> Any:
    path = _main_file[0]
    if (
        path is not None
        and type(fn) is types.FunctionType
        and fn.__code__.co_filename == "<dynamic-code>"
        and fn.__module__ == "__main__"
    ):
        fn.__code__ = code_with_file(fn.__code__, path)
    return fn


def awaited(value: Any) -> Any:
    """``value``, or what it returns if it is a coroutine (an ``async def`` task),
    run to completion on an event loop of its own: a task holds its process anyway."""
    if isinstance(value, types.CoroutineType):
        import asyncio

        return asyncio.run(value)
    return value


def run_call(blob: bytes) -> tuple[int, Any]:
    """Run a call: ``(OK, pickled result)`` or ``(ERROR, error info)``.  Never
    raises: what the task raises (``SystemExit`` and ``KeyboardInterrupt`` too) fails
    that task only."""
    try:
        fn, args, kwargs = pickle.loads(blob)
        value = awaited(_own_file(fn)(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        return ERROR, encode_error(exc)
    try:
        return OK, dump(value)
    except Exception as exc:  # noqa: BLE001 - sent back to the caller
        return ERROR, encode_error(unsendable_result(value, exc, _WHERE))


def run_chunk(
    fn_blob: bytes, chunk_blob: bytes, progress: _Progress | None = None
) -> tuple[bytes, ErrorInfo | None]:
    """Run a chunk: ``(pickled list of results, error info or None)``, stopping at
    the first error.  With ``progress``, ``NEXT`` is sent there after each call but
    the last (the caller's time limit is per call)."""
    results: list[Any] = []
    error = None
    try:
        fn = _own_file(pickle.loads(fn_blob))
        chunk = pickle.loads(chunk_blob)
        last = len(chunk) - 1
        for i, args in enumerate(chunk):
            results.append(awaited(fn(*args)))
            if progress is not None and i < last:
                progress.send(NEXT)
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        error = encode_error(exc)
    try:
        return dump(results), error
    except Exception:
        # As for a call that raised: the results before the first one that cannot
        # be sent back, then the error for that one.
        for i, value in enumerate(results):
            try:
                dump(value)
            except Exception as exc:  # noqa: BLE001 - becomes the item's error
                return dump(results[:i]), encode_error(unsendable_result(value, exc, _WHERE))
        raise

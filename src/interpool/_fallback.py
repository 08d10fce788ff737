"""Process workers, for the tasks that cannot run in a sub-interpreter.

Some extension modules (numpy, orjson, msgspec, pydantic-core...) refuse to load in a
sub-interpreter.  :class:`ProcessFallback` runs what an interpool worker runs (one
call, or a ``map`` chunk) in a process of a ``concurrent.futures.ProcessPoolExecutor``
instead, with the same results and errors:

* Callables and arguments: pickled in the caller.  Plain pickle when the pickle does
  not mention ``__main__``; otherwise, or when plain pickle cannot (lambdas, closures,
  nested functions, classes defined in a function), cloudpickle, which sends them by
  value.  So functions of the REPL, ``python -c``, stdin or a script run with
  ``python -m pkg`` work too.  The executor itself only carries ``bytes`` to a
  module-level trampoline of this module.
* Results: pickled the same way in the process, unpickled in the caller (where a
  failure fails that task only, with a ``TypeError``, instead of breaking the executor).
* Errors: encoded as interpool's workers do (``_transport.encode_error``) and rebuilt
  with ``_errors.rebuild_exception``, so they arrive exactly as a worker
  interpreter's would: the original type and message, with an
  ``interpool.RemoteTraceback`` holding the process's traceback, or an
  ``interpool.RemoteError`` if the exception cannot be sent back.

Processes are started with the "forkserver" method ("spawn" where it does not exist):
never "fork", because the caller runs threads (those of the worker interpreters)
that a forked child would inherit in an arbitrary state.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from ._errors import rebuild_exception
from ._transport import encode_error

__all__ = ["ProcessFallback"]

#: What ``_transport.encode_error`` makes of an exception, for
#: ``_errors.rebuild_exception`` (opaque here).
ErrorInfo = Any

_OK = 0
_ERROR = 1


class ProcessFallback:
    """A lazily started pool of processes that runs interpool tasks.

    Args:
        max_workers: the most processes it runs at once (started on demand, the
            first at the first :meth:`submit`).
        path: the ``sys.path`` of the processes; by default the caller's, as it is
            now (a snapshot, as for the worker interpreters).
        initializer: called with ``*initargs`` once in each process before its first
            task (sent like a task's callable and arguments).  If it raises, the
            executor is broken: pending and later tasks fail with
            ``concurrent.futures.process.BrokenProcessPool``.

    Nothing is started until the first :meth:`submit` or :meth:`submit_chunk`: a
    fallback that is never used costs no process.  The processes also get the
    caller's current directory, and load the caller's ``__main__`` script as
    ``multiprocessing`` does (its top-level code runs again, its
    ``if __name__ == "__main__":`` block does not).  The forkserver process itself is
    ``multiprocessing``'s, shared by the whole program, and stays until it exits.

    Thread-safe.  If a process dies (a task crashed it), the executor is broken: the
    tasks in flight fail with ``BrokenProcessPool`` (a
    ``concurrent.futures.BrokenExecutor``), and so do later submissions.
    """

    def __init__(
        self,
        max_workers: int,
        *,
        path: Iterable[str] | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive int, got {max_workers!r}")
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be callable, got {type(initializer).__name__}")
        self._max_workers = max_workers
        self._path = tuple(p for p in (sys.path if path is None else path) if isinstance(p, str))
        self._init = None
        if initializer is not None:
            self._init = _dump_sent((initializer, tuple(initargs)), "the initializer")
        # Reentrant: a future's callbacks may run at once, in the thread that submits,
        # and submit again.
        self._lock = threading.RLock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self._stopper: threading.Thread | None = None
        self._pending: set[_FallbackFuture[Any]] = set()

    @property
    def max_workers(self) -> int:
        """The most processes run at once."""
        return self._max_workers

    @property
    def started(self) -> bool:
        """Whether the process pool was started (by a first submission)."""
        return self._executor is not None or self._stopper is not None

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a process; return its future.

        Raises ``TypeError`` at once if ``fn`` or an argument cannot be pickled (a
        lock, a socket...), ``RuntimeError`` after :meth:`shutdown`,
        ``BrokenProcessPool`` once the executor is broken.  A process receives copies:
        a ``memoryview`` argument arrives as ``bytes`` (a worker interpreter would
        share the caller's memory, and its writes would be seen by the caller).

        The future can be cancelled until the executor hands the call to a process's
        queue (it queues up to ``max_workers + 1`` calls ahead; those count as
        running, as in ``ProcessPoolExecutor``).  Its exception, if the call raised,
        is the original one (see the module docstring).
        """
        blob = _dump_sent((fn, tuple(args), dict(kwargs or {})), "the call")
        return self._submit(_run_call, blob, _decode_call)

    def submit_chunk(
        self, fn: Callable[..., Any], chunk: tuple[tuple[Any, ...], ...]
    ) -> Future[tuple[list[Any], BaseException | None]]:
        """Run ``fn(*args)`` for each argument tuple of ``chunk``, in order, in one
        process; the future's result is ``(results, error)``: the results of the
        calls up to the first that raised (or that returned a value that cannot be
        sent back), and that exception, or ``None`` if every call succeeded.

        As :meth:`submit` otherwise; if the results cannot be rebuilt in the caller,
        the future fails with ``TypeError``.
        """
        blob = _dump_sent((fn, tuple(chunk)), "the chunk")
        return self._submit(_run_chunk, blob, _decode_chunk)

    def _submit[T](
        self,
        trampoline: Callable[[bytes], Any],
        blob: bytes,
        decode: Callable[[Any], tuple[bool, Any]],
    ) -> Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self._max_workers,
                    mp_context=multiprocessing.get_context(_START_METHOD),
                    initializer=_init_process,
                    initargs=(self._path, self._init),
                )
            # (The executor starts processes inside submit(), when it needs more.)
            with _main_file_hidden():
                inner = self._executor.submit(trampoline, blob)
            future: _FallbackFuture[T] = _FallbackFuture(inner)
            self._pending.add(future)
            # Under the lock, so that shutdown(cancel_futures=True) only sees futures
            # whose callback is in place.
            inner.add_done_callback(lambda inner: self._settle(future, decode, inner))
        return future

    def _settle(
        self,
        future: _FallbackFuture[Any],
        decode: Callable[[Any], tuple[bool, Any]],
        inner: Future[Any],
    ) -> None:
        """Complete ``future`` from the executor's ``inner`` (in the executor's thread,
        or at once in the submitting one).

        Without taking ``self._lock``: the executor may call this while it holds its
        own lock, which :meth:`_submit` takes (in ``executor.submit``) under ours.
        (``set.discard`` is atomic.)"""
        self._pending.discard(future)
        if inner.cancelled():
            Future.cancel(future)
            future.set_running_or_notify_cancel()
            return
        error = inner.exception()
        if error is not None:  # BrokenProcessPool, or the trampoline itself failed
            future.set_exception(error)
            return
        try:
            ok, value = decode(inner.result())
        except BaseException as exc:  # noqa: BLE001 - a bug here must not hang the caller
            ok, value = False, exc
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks; the processes exit once the tasks queued are done.

        Args:
            wait: block until every submitted task has finished and the processes
                have exited.  With ``False`` this happens in the background.
            cancel_futures: cancel the tasks that no process has taken yet (see
                :meth:`submit` for when that is).

        Calling it again is harmless (and a later ``wait=True`` waits);
        :meth:`submit` afterwards raises ``RuntimeError``.  A fallback that was
        never used has nothing to stop.
        """
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            if executor is not None:
                # The executor's own shutdown(wait=True), in a thread, so that a later
                # shutdown(wait=True) can still wait for it.
                self._stopper = threading.Thread(
                    target=executor.shutdown,
                    kwargs={"wait": True, "cancel_futures": cancel_futures},
                    name="interpool-fallback-shutdown",
                )
                self._stopper.start()
            stopper = self._stopper
            pending = list(self._pending) if cancel_futures else []
        for future in pending:
            future.cancel()
        if wait and stopper is not None:
            stopper.join()


_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


@contextlib.contextmanager
def _main_file_hidden() -> Iterator[None]:
    """Hide ``__main__.__file__`` while processes may start, if it names no file.

    ``multiprocessing`` makes each new process (and the forkserver) run the file that
    ``__main__.__file__`` names, and the process dies if there is none: a program
    read from stdin has ``__file__ == "<stdin>"``.  Such a ``__main__`` is not needed:
    what refers to it is sent by value (see :func:`_dump`).  Only ``submit()`` calls
    of this module start processes, under the fallback's lock; another thread reading
    ``__main__.__file__`` meanwhile would miss it, a small price for such programs."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if spec is not None or not isinstance(path, str) or os.path.isfile(path):
        yield
        return
    del main.__file__  # type: ignore[union-attr]
    try:
        yield
    finally:
        main.__file__ = path  # type: ignore[union-attr]


class _FallbackFuture[T](Future[T]):
    """The caller's future of a task, completed from the executor's future
    (``inner``) once its result is decoded; cancelling it cancels ``inner``."""

    def __init__(self, inner: Future[Any]) -> None:
        super().__init__()
        self._inner = inner

    def cancel(self) -> bool:
        """Cancel the task if no process has taken it yet (see
        :meth:`ProcessFallback.submit`)."""
        # If that succeeds, inner's done callback has cancelled this future.
        return self._inner.cancel()

    def running(self) -> bool:
        return not self.done() and self._inner.running()


# -- pickling, both sides ----------------------------------------------------------------


def _dump(value: Any) -> bytes:
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


def _dump_sent(value: Any, what: str) -> bytes:
    try:
        return _dump(value)
    except Exception as exc:
        raise TypeError(
            f"interpool: cannot send {what} to a process worker: {type(exc).__name__}: "
            f"{exc}. A process receives a pickled copy of the callable and its "
            "arguments: create locks, sockets, open files and the like inside the "
            "task instead."
        ) from exc


def _unsendable_result(value: Any, exc: Exception) -> TypeError:
    t = type(value)
    return TypeError(
        f"interpool: the task's result ({t.__module__}.{t.__qualname__}) cannot be "
        f"sent back from the process worker: {exc}. Return a picklable value."
    )


def _unrebuildable_result(exc: Exception) -> TypeError:
    error = TypeError(
        f"interpool: the task's result cannot be rebuilt in the caller: {exc}. Return "
        "values whose classes the caller can import (defined in a module, not only in "
        "the process worker), and whose unpickling works outside the worker."
    )
    error.__cause__ = exc
    return error


# -- caller side: decoding what a process sent ---------------------------------------


def _decode_call(reply: tuple[int, Any]) -> tuple[bool, Any]:
    status, payload = reply
    if status == _ERROR:
        return False, rebuild_exception(payload)
    try:
        return True, pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - e.g. a class the caller cannot import
        return False, _unrebuildable_result(exc)


def _decode_chunk(reply: tuple[bytes, ErrorInfo | None]) -> tuple[bool, Any]:
    data, info = reply
    try:
        values = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - e.g. a class the caller cannot import
        return False, _unrebuildable_result(exc)
    return True, (values, None if info is None else rebuild_exception(info))


# -- process side ------------------------------------------------------------------------


def _init_process(path: tuple[str, ...], init: bytes | None) -> None:
    """The executor's initializer: the caller's ``sys.path``, then the pool's own
    initializer, if any."""
    sys.path[:] = path
    if init is not None:
        fn, args = pickle.loads(init)
        fn(*args)


def _awaited(value: Any) -> Any:
    """``value``, or what it returns if it is a coroutine (an ``async def`` task),
    run to completion on an event loop of its own: in a process, a task holds its
    worker anyway."""
    if isinstance(value, types.CoroutineType):
        import asyncio

        return asyncio.run(value)
    return value


def _run_call(blob: bytes) -> tuple[int, Any]:
    """Run a call sent by :meth:`ProcessFallback.submit`: ``(_OK, pickled result)`` or
    ``(_ERROR, error info)``.  Never raises: what the task raises (``SystemExit`` and
    ``KeyboardInterrupt`` too) fails that task only."""
    try:
        fn, args, kwargs = pickle.loads(blob)
        value = _awaited(fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        return _ERROR, encode_error(exc)
    try:
        return _OK, _dump(value)
    except Exception as exc:  # noqa: BLE001 - sent back to the caller
        return _ERROR, encode_error(_unsendable_result(value, exc))


def _run_chunk(blob: bytes) -> tuple[bytes, ErrorInfo | None]:
    """Run a chunk sent by :meth:`ProcessFallback.submit_chunk`: ``(pickled list of
    results, error info or None)``, stopping at the first error."""
    results: list[Any] = []
    error = None
    try:
        fn, chunk = pickle.loads(blob)
        for args in chunk:
            results.append(_awaited(fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        error = encode_error(exc)
    try:
        return _dump(results), error
    except Exception:
        # As for a call that raised: the results before the first one that cannot
        # be sent back, then the error for that one.
        for i, value in enumerate(results):
            try:
                _dump(value)
            except Exception as exc:  # noqa: BLE001 - becomes the item's error
                return _dump(results[:i]), encode_error(_unsendable_result(value, exc))
        raise

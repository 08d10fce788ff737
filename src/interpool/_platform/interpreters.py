"""The interpreters API interpool is built on, on every supported Python.

On Python 3.14 and later this is ``concurrent.interpreters``, re-exported.  Python 3.13
has the same machinery (``_interpreters``, ``_interpqueues``, a GIL per interpreter)
but not the public module, so this module rebuilds the part interpool uses over the
private ones: ``Interpreter`` (``prepare_main``, ``exec``, ``close``), ``create``,
``get_current``, ``get_main``, ``list_all``, ``Queue`` (``put``/``get`` with timeouts,
``put_nowait``/``get_nowait``, ``qsize``, ``empty``, ``full``, ``maxsize``),
``create_queue``, ``QueueEmpty``, ``QueueFull``, ``ExecutionFailed`` and
``InterpreterError``, with 3.14's behaviour.

Also here, for the hot paths (``_platform.queues``, ``_api.channel``): ``queue_put(qid, obj)`` and
``queue_get(qid) -> (obj, unbound)``, the raw queue operations with one signature on
every version (``unbound`` is ``None``, or a flag when the item's interpreter is gone).

Imported in the caller's interpreter and in every worker: on 3.13 importing it
registers its queue types with ``_interpqueues`` in that interpreter, which must
happen before a queue object arrives there natively (so a pool passes its workers
queue ids, not queue objects, and ``prepare_main`` takes no queues on 3.13).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is slow to import, and every worker imports this
if TYPE_CHECKING:
    from typing import Any, Final

__all__ = [
    "ExecutionFailed",
    "Interpreter",
    "InterpreterError",
    "Queue",
    "QueueEmpty",
    "QueueFull",
    "create",
    "create_queue",
    "get_current",
    "get_main",
    "list_all",
    "queue_get",
    "queue_put",
]

#: ``True`` where ``concurrent.interpreters`` exists (3.14+); ``False`` on 3.13.
HAVE_STDLIB_MODULE = sys.version_info >= (3, 14)

if sys.version_info >= (3, 14):
    import _interpqueues
    from concurrent.interpreters import (
        ExecutionFailed,
        Interpreter,
        InterpreterError,
        Queue,
        QueueEmpty,
        QueueFull,
        create,
        create_queue,
        get_current,
        get_main,
        list_all,
    )

    # The C functions themselves (no wrapper on the hot path): ``put(qid, obj)``
    # shares ``obj`` natively or pickles it, with the queue's default for unbound
    # items; ``get(qid) -> (obj, unbound)``.  Typeshed describes an older
    # signature of these: type them loosely.
    queue_put: Any = _interpqueues.put
    queue_get: Any = _interpqueues.get

else:  # Python 3.13
    import _interpqueues
    import _interpreters
    import contextlib
    import pickle
    import queue as _queue_module
    import time
    import weakref
    from _interpreters import InterpreterError, InterpreterNotFoundError, NotShareableError

    _SHARED: Final = 0  # 3.13's item formats: the object itself, or a pickle of it
    _PICKLED = 1
    _UNBOUND_REPLACE: Final = 3  # an unbound item reads as a placeholder (3.14's default)
    _POLL = 0.010  # what the blocking put/get of 3.14's Queue sleep between tries

    _c_put: Any = _interpqueues.put
    _c_get: Any = _interpqueues.get

    def queue_put(qid: int, obj: Any) -> None:
        """Put ``obj`` on queue ``qid`` (shareable objects natively, others pickled)."""
        try:
            _c_put(qid, obj, _SHARED, _UNBOUND_REPLACE)
        except (NotShareableError, OverflowError):  # OverflowError: an int over 64 bits
            _c_put(qid, pickle.dumps(obj), _PICKLED, _UNBOUND_REPLACE)

    def queue_get(qid: int) -> tuple[Any, Any]:
        """The next item of queue ``qid`` and its unbound flag (``None`` if bound);
        raises ``QueueEmpty``."""
        obj, fmt, unbound = _c_get(qid)
        if fmt == _PICKLED and unbound is None:
            obj = pickle.loads(obj)
        return obj, unbound

    class ExecutionFailed(InterpreterError):
        """An unhandled exception happened during ``Interpreter.exec()``."""

        def __init__(self, excinfo: Any) -> None:
            msg = excinfo.formatted or f"{excinfo.type.__name__}: {excinfo.msg}"
            super().__init__(msg)
            self.excinfo = excinfo

        def __str__(self) -> str:
            try:
                shown = self.excinfo.errdisplay
            except Exception:  # noqa: BLE001
                return super().__str__()
            return f"{super().__str__()}\n\nUncaught in the interpreter:\n\n{shown}"

    _known_interpreters: weakref.WeakValueDictionary[int, Interpreter] = (
        weakref.WeakValueDictionary()
    )

    class Interpreter:
        """One interpreter, as ``concurrent.interpreters.Interpreter``: one object per
        id; one made by ``create()`` owns a reference and destroys its interpreter on
        ``close()`` or when the last reference goes."""

        _id: int
        _ownsref: bool

        def __new__(
            cls, id: int, /, _whence: Any = None, _ownsref: bool | None = None
        ) -> Interpreter:
            if not isinstance(id, int):
                raise TypeError(f"id must be an int, got {id!r}")
            try:
                return _known_interpreters[id]
            except KeyError:
                pass
            self = super().__new__(cls)
            self._id = int(id)
            if _ownsref is None:
                _ownsref = _interpreters.whence(id) == _interpreters.WHENCE_STDLIB
            self._ownsref = bool(_ownsref)
            if self._ownsref:
                _interpreters.incref(id)  # may raise InterpreterNotFoundError
            _known_interpreters[id] = self
            return self

        def __repr__(self) -> str:
            return f"{type(self).__name__}({self._id})"

        def __hash__(self) -> int:
            return hash(self._id)

        def __del__(self) -> None:
            if self._ownsref:
                self._ownsref = False
                with contextlib.suppress(InterpreterNotFoundError):
                    _interpreters.decref(self._id)

        def __reduce__(self) -> tuple[Any, ...]:
            return (type(self), (self._id,))

        @property
        def id(self) -> int:
            return self._id

        def is_running(self) -> bool:
            return bool(_interpreters.is_running(self._id))

        def close(self) -> None:
            """Finalize and destroy the interpreter."""
            _interpreters.destroy(self._id, restrict=True)

        def prepare_main(self, ns: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
            """Bind shareable values in the interpreter's ``__main__``.  (3.13 cannot
            unpack a memoryview there before ``_interpreters`` is imported in it, so
            it is imported first, as 3.14's own ``prepare_main`` needs no help.)"""
            ns = dict(ns, **kwargs) if ns is not None else kwargs
            self.exec("import _interpreters")
            _interpreters.set___main___attrs(self._id, ns, restrict=True)

        def exec(self, code: str, /) -> None:
            """Run ``code`` in the interpreter's ``__main__``; raises ``ExecutionFailed``
            for an exception it did not handle."""
            excinfo = _interpreters.exec(self._id, code, restrict=True)
            if excinfo is not None:
                raise ExecutionFailed(excinfo)

    def create() -> Interpreter:
        """A new interpreter with the isolated configuration."""
        interp_id = _interpreters.create(reqrefs=True)
        return Interpreter(interp_id, _ownsref=True)

    def get_current() -> Interpreter:
        return Interpreter(_interpreters.get_current()[0])

    def get_main() -> Interpreter:
        return Interpreter(_interpreters.get_main()[0])

    def list_all() -> list[Interpreter]:
        found = []
        for interp_id, _whence in _interpreters.list_all(require_ready=True):
            with contextlib.suppress(InterpreterNotFoundError):  # destroyed since
                found.append(Interpreter(interp_id))
        return found

    class QueueEmpty(_interpqueues.QueueError, _queue_module.Empty):
        """Raised from ``get_nowait()`` (or ``get()`` past its timeout) on an empty queue."""

    class QueueFull(_interpqueues.QueueError, _queue_module.Full):
        """Raised from ``put_nowait()`` (or ``put()`` past its timeout) on a full queue."""

    _known_queues: weakref.WeakValueDictionary[int, Queue] = weakref.WeakValueDictionary()

    class Queue:
        """A cross-interpreter queue, as ``concurrent.interpreters.Queue``: one object
        per id, each holding a binding that keeps the queue alive."""

        _id: int

        def __new__(cls, id: int, /) -> Queue:
            if not isinstance(id, int):
                raise TypeError(f"id must be an int, got {id!r}")
            try:
                return _known_queues[id]
            except KeyError:
                pass
            self = super().__new__(cls)
            self._id = int(id)
            _interpqueues.bind(self._id)
            _known_queues[self._id] = self
            return self

        def __del__(self) -> None:
            with contextlib.suppress(_interpqueues.QueueNotFoundError):
                _interpqueues.release(self._id)

        def __repr__(self) -> str:
            return f"{type(self).__name__}({self._id})"

        def __hash__(self) -> int:
            return hash(self._id)

        def __reduce__(self) -> tuple[Any, ...]:
            return (type(self), (self._id,))

        @property
        def id(self) -> int:
            return self._id

        @property
        def maxsize(self) -> int:
            return int(_interpqueues.get_maxsize(self._id))

        def empty(self) -> bool:
            return self.qsize() == 0

        def full(self) -> bool:
            return bool(_interpqueues.is_full(self._id))

        def qsize(self) -> int:
            return int(_interpqueues.get_count(self._id))

        def put_nowait(self, obj: Any) -> None:
            queue_put(self._id, obj)

        def get_nowait(self) -> Any:
            obj, unbound = queue_get(self._id)
            return None if unbound is not None else obj

        def put(self, obj: Any, timeout: float | None = None) -> None:
            """Put ``obj``, waiting (polling) while the queue is full."""
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    return self.put_nowait(obj)
                except QueueFull:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise
                    time.sleep(_POLL)

        def get(self, timeout: float | None = None) -> Any:
            """The next item, waiting (polling) while the queue is empty."""
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    return self.get_nowait()
                except QueueEmpty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise
                    time.sleep(_POLL)

    def create_queue(maxsize: int = 0) -> Queue:
        """A new queue (``maxsize`` 0: unbounded)."""
        # As 3.14's create_queue(): the queue is bound by create() and by Queue().
        return Queue(_interpqueues.create(maxsize, _SHARED, _UNBOUND_REPLACE))

    # In this interpreter, queues arriving natively become ``Queue`` objects, and
    # ``_interpqueues`` raises these ``QueueEmpty``/``QueueFull``.
    _register: Any = _interpqueues._register_heap_types  # type: ignore[attr-defined]
    _register(Queue, QueueEmpty, QueueFull)

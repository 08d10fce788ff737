"""The caller's side of forwarding (issue 19): what workers print, log and warn
(``_worker.forwarding`` sends it) is handed to the caller's *current*
``sys.stdout``/``sys.stderr``, its ``logging`` and its ``warnings``, as if the task
had run here; and the caller's logger levels and warning filters are kept in the
workers (:class:`CallerSettings`), so that a worker does not even make a record the
caller would drop, and a warning the caller turns into an error is raised in the
task.

* **Output** (:meth:`Delivery.output`): written as it comes, whole lines at a time; a
  worker's unfinished line (an ``end=""`` print, flushed) is ended with a newline
  before another worker's text goes to the same stream, so two workers' text never
  share a line.
* **Logs** (:meth:`Delivery.log`): the record is rebuilt (``logging.makeLogRecord``)
  and handled by the caller's logger of the same name if it is enabled for the
  record's level: the caller's filters, handlers and formatters apply.  The record
  carries ``interpool_worker`` (the worker's name, such as ``interpool-worker-2`` or
  ``interpool-process-3``), which is also its ``threadName`` (worker interpreters)
  or its ``processName`` (worker processes).
* **Warnings** (:meth:`Delivery.warning`): re-issued with ``warnings.warn_explicit``
  at the task's file and line, so the caller's filters decide (recorded by
  ``catch_warnings(record=True)``, shown once per location by ``"default"``...).

The caller's settings are re-read only when they changed: a key put in the root
logger's level cache disappears when any logger level changes (``logging`` clears
every cache then), and the warning filters are compared by identity, length and
first entry.  That check costs about 0.1 µs per task.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import sys
import threading
import warnings
from typing import Any

from interpool._wire.protocol import (
    FORWARD_LOGS,
    FORWARD_OUTPUT,
    FORWARD_WARNINGS,
    LOG,
    OUTPUT,
    WARNING,
)
from interpool._worker.forwarding import loaded_category

__all__ = ["CallerSettings", "Delivery", "flags", "tag_thread_records"]

#: The key put in ``logging.root``'s level cache: gone once any level changed.
_KEY = "interpool: levels sent"

#: The room for the caller's settings in the memory shared with worker interpreters.
SETTINGS_CAPACITY = 1 << 16
#: Header of that memory: the settings' generation (odd while being written) and size.
HEADER_BYTES = 16

_ALL = FORWARD_OUTPUT | FORWARD_LOGS | FORWARD_WARNINGS
_NAMES = {"output": FORWARD_OUTPUT, "logs": FORWARD_LOGS, "warnings": FORWARD_WARNINGS}


def flags(forward: object) -> int:
    """``Pool(forward=...)`` as a sum of ``_wire.protocol``'s ``FORWARD_*`` flags:
    ``True`` (everything), ``False`` (nothing) or an iterable of ``"output"``,
    ``"logs"``, ``"warnings"``; ``TypeError``/``ValueError`` otherwise."""
    if forward is True:
        return _ALL
    if forward is False:
        return 0
    if isinstance(forward, str) or not hasattr(forward, "__iter__"):
        raise TypeError(
            "forward must be True, False or a collection of 'output', 'logs', 'warnings', "
            f"got {forward!r}"
        )
    what = 0
    for name in forward:
        if name not in _NAMES:
            raise ValueError(
                f"forward: unknown {name!r}; choose among 'output', 'logs' and 'warnings'"
            )
        what |= _NAMES[name]
    return what


class CallerSettings:
    """The caller's logger levels and warning filters, as the workers of one pool
    forwarding ``what`` need them: :attr:`current` is ``(generation, blob)`` (for
    worker processes, sent in a message), and :attr:`view` the same in memory shared
    with worker interpreters (header: generation, size; then the blob).

    :meth:`refresh` (called as tasks are submitted) re-reads them when they changed."""

    __slots__ = (
        "_buffer",
        "_cache",
        "_filters",
        "_first",
        "_header",
        "_length",
        "_lock",
        "current",
        "view",
        "what",
    )

    def __init__(self, what: int) -> None:
        self.what = what
        self._buffer = bytearray(HEADER_BYTES + SETTINGS_CAPACITY)
        self.view = memoryview(self._buffer)
        self._header = self.view[:HEADER_BYTES].cast("q")
        self._lock = threading.Lock()
        # The root logger's level cache (see the module docstring).
        self._cache: dict[Any, Any] = vars(logging.root)["_cache"]
        self._filters: Any = None
        self._length = -1
        self._first: Any = None
        self.current: tuple[int, bytes] = (0, b"")
        self._update()

    def refresh(self) -> None:
        """Re-read the settings if they may have changed (the hot path: two lookups
        and three comparisons when they have not)."""
        what = self.what
        if what & FORWARD_LOGS and _KEY not in self._cache:
            self._update()
            return
        if what & FORWARD_WARNINGS:
            filters = warnings.filters
            if (
                filters is not self._filters
                or len(filters) != self._length
                or (filters and filters[0] is not self._first)
            ):
                self._update()

    def _update(self) -> None:
        with self._lock:
            levels = None
            if self.what & FORWARD_LOGS:
                self._cache[_KEY] = True  # before reading: a change after it is seen
                levels = _levels()
            filters = None
            if self.what & FORWARD_WARNINGS:
                self._filters = filters_now = warnings.filters
                self._length = len(filters_now)
                self._first = filters_now[0] if filters_now else None
                filters = _filters(filters_now)
            blob = pickle.dumps((levels, filters), protocol=5)
            if len(blob) > SETTINGS_CAPACITY and levels is not None:
                # Too many loggers with a level of their own: keep the root's.
                blob = pickle.dumps(((levels[0], levels[1], ()), filters), protocol=5)
            if len(blob) > SETTINGS_CAPACITY or blob == self.current[1]:
                return
            generation = self.current[0] + 2
            header = self._header
            header[0] = generation - 1  # odd: being written
            self.view[HEADER_BYTES : HEADER_BYTES + len(blob)] = blob
            header[1] = len(blob)
            header[0] = generation
            self.current = (generation, blob)


def _levels() -> tuple[int, int, tuple[tuple[str, int], ...]]:
    """The root logger's level, ``logging.disable``'s, and every logger's own."""
    manager = logging.root.manager
    named = tuple(
        (name, logger.level)
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and logger.level
    )
    return logging.root.level, manager.disable, named


def _filters(filters: Any) -> tuple[tuple[Any, ...], ...]:
    """The warning filters as plain tuples (see ``_worker.forwarding._apply_filters``)."""
    return tuple(
        (
            action,
            getattr(message, "pattern", message) or "",
            category.__module__,
            category.__qualname__,
            getattr(module, "pattern", module) or "",
            lineno,
        )
        for action, message, category, module, lineno in filters
    )


class Delivery:
    """Hands forwarded events (see ``_wire.protocol``) to the caller's streams,
    ``logging`` and ``warnings``.  Thread-safe; a pool delivers one worker's events
    in the order they were sent, before that worker's next result."""

    __slots__ = ("_lock", "_open", "_registries", "_worker_is")

    def __init__(self, worker_is: str) -> None:
        #: What the worker's name replaces on a record: ``"threadName"`` or
        #: ``"processName"``.
        self._worker_is = worker_is
        self._lock = threading.Lock()
        #: stream -> the worker whose line is unfinished there, and the stream's id.
        self._open: dict[int, tuple[str, int]] = {}
        self._registries: dict[str, dict[Any, Any]] = {}

    def deliver(self, event: tuple[Any, ...], worker: str) -> None:
        """Hand ``event``, from the worker named ``worker``, to the caller.  Never
        raises: a failing stream or handler is reported on ``sys.stderr``."""
        try:
            kind = event[0]
            if kind == OUTPUT:
                self.output(event[1], event[2], worker)
            elif kind == LOG:
                self.log(event[1], worker)
            else:
                self.warning(event, worker)
        except Exception as exc:  # noqa: BLE001 - reported, never lost silently
            _report(f"interpool: could not forward {worker}'s {_KINDS.get(event[0])}: {exc!r}\n")

    def output(self, stream: int, text: str, worker: str) -> None:
        """Write ``text`` to the current ``sys.stdout`` (``stream`` 1) or
        ``sys.stderr``."""
        target = sys.stdout if stream == 1 else sys.stderr
        if target is None:
            return
        with self._lock:
            # (The stream is told by identity: sys.stdout may have been replaced.)
            owner = self._open.get(stream)
            if owner is not None and owner[0] != worker and owner[1] == id(target):
                target.write("\n")
            target.write(text)
            if text.endswith("\n"):
                self._open.pop(stream, None)
            else:
                self._open[stream] = (worker, id(target))

    def log(self, fields: bytes, worker: str) -> None:
        """Handle a worker's record (its attributes, pickled) with the caller's logger
        of the same name."""
        attributes = pickle.loads(fields)
        name = attributes["name"]
        logger = logging.root if name == "root" else logging.getLogger(name)
        if not logger.isEnabledFor(attributes["levelno"]):
            return
        attributes["interpool_worker"] = worker
        attributes[self._worker_is] = worker
        logger.handle(logging.makeLogRecord(attributes))

    def warning(self, event: tuple[Any, ...], worker: str) -> None:
        """Re-issue a worker's warning at its file and line."""
        _, text, module, name, filename, lineno = event
        category = loaded_category(module, name)
        if category is None:
            category = UserWarning
            text = f"{module}.{name}: {text}"
        registry = self._registries.setdefault(filename, {})
        try:
            warnings.warn_explicit(text, category, filename, lineno, registry=registry)
        except Warning as exc:
            # The caller's filters turned it into an error after the task ran (they
            # changed meanwhile): the task is not failed after the fact; say it.
            _report(warnings.formatwarning(exc, category, filename, lineno))


_KINDS = {OUTPUT: "output", LOG: "log record", WARNING: "warning"}


def tag_thread_records() -> None:
    """For the threads backend, whose tasks log through the caller's ``logging``
    itself: give the records made in its worker threads (``interpool-thread-N``) the
    ``interpool_worker`` attribute the other backends set, by wrapping the record
    factory (once; a factory installed later replaces the wrapper)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "interpool_tags", False):
        return

    def tagging_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        name = record.threadName
        if name and name.startswith("interpool-thread-"):
            record.interpool_worker = name
        return record

    tagging_factory.interpool_tags = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(tagging_factory)


def _report(text: str) -> None:
    stream = sys.__stderr__
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(text)

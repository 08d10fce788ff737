"""A worker's side of forwarding (issue 19): what its tasks print, log and warn is
sent to the caller, which hands it to its own ``sys.stdout``/``sys.stderr``,
``logging`` and ``warnings`` (``_engine.forwarding``).

Used in worker interpreters (``_worker.loop``) and in worker processes
(``_backends.processes``); each gives :class:`Forwarder` a ``send`` function that
takes one event (see ``_wire.protocol``: :data:`OUTPUT`, :data:`LOG`,
:data:`WARNING`).

* **Output.**  ``sys.stdout`` and ``sys.stderr`` become :class:`LineWriter` objects:
  complete lines are sent as soon as they are written; a line's start waits for its
  end, for ``flush()``, or for the end of the task (:meth:`Forwarder.task_ended`).
  ``fileno()`` and ``buffer`` are still the worker's own descriptor and binary
  stream: what is written through them takes the raw path.
* **Logs.**  ``logging`` is not imported for this (a worker pays nothing until its
  tasks import it): an import hook (:class:`_LoggingHook`) adds a handler to the
  worker's root logger when a task first imports ``logging``.  The worker's logger
  levels follow the caller's (:meth:`Forwarder.apply`), so a record the caller would
  drop is not even made.  The handler sends the record's attributes, its message
  already formatted (``getMessage()``) and its traceback as text.
* **Warnings.**  ``warnings.showwarning`` is replaced: a warning that passes the
  worker's filters, which follow the caller's (:meth:`Forwarder.apply`), is sent.
  Under an ``"error"`` filter it is raised in the task, as it would be in the caller.

The caller's settings (its logger levels and warning filters) arrive as a pickled
tuple (``_engine.forwarding.CallerSettings``): through shared memory for worker
interpreters (read between tasks when its generation changed), in a message for
worker processes.

Imported in every worker: only standard modules a worker has already loaded.
"""

from __future__ import annotations

import _thread
import io
import pickle
import sys
import warnings

from interpool._wire.protocol import (
    FORWARD_LOGS,
    FORWARD_OUTPUT,
    FORWARD_WARNINGS,
    LOG,
    OUTPUT,
    WARNING,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

__all__ = ["Forwarder", "LineWriter", "loaded_category"]

#: Attributes of a ``logging.LogRecord`` that are sent as they are (``msg`` is sent
#: formatted, ``args`` and ``exc_info`` are not sent; ``exc_text`` is).
_RECORD_FIELDS = (
    "name",
    "levelno",
    "levelname",
    "pathname",
    "filename",
    "module",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "relativeCreated",
    "thread",
    "threadName",
    "process",
    "processName",
    "taskName",
    "stack_info",
)
_NOT_EXTRA = frozenset((*_RECORD_FIELDS, "msg", "args", "exc_info", "exc_text", "message"))
_NATIVE = (str, int, float, bool, type(None))


class Forwarder:
    """Forwards one worker's output, logs and warnings (``what``: the
    ``FORWARD_*`` flags of ``_wire.protocol``) through ``send(event)``."""

    __slots__ = ("_levels", "_named", "_out", "generation", "logging_ready", "send", "what")

    def __init__(self, send: Callable[[tuple[Any, ...]], None], what: int) -> None:
        self.send = send
        self.what = what
        #: The generation of the caller's settings last applied (see ``apply``).
        self.generation = 0
        self.logging_ready = False
        self._levels: Any = None  # the caller's levels, kept until logging is imported
        self._named: set[str] = set()  # loggers whose level we set
        self._out: tuple[LineWriter, ...] = ()

    def install(self) -> None:
        """Take over ``sys.stdout``/``sys.stderr``, ``warnings.showwarning`` and the
        import of ``logging``, as ``what`` says."""
        if self.what & FORWARD_OUTPUT:
            out = []
            for number, name in ((1, "stdout"), (2, "stderr")):
                original = getattr(sys, name)
                writer = LineWriter(self, number, original)
                setattr(sys, name, writer)
                out.append(writer)
            self._out = tuple(out)
        if self.what & FORWARD_WARNINGS:
            warnings.showwarning = self._show_warning
        if self.what & FORWARD_LOGS:
            logging = sys.modules.get("logging")
            if logging is not None:
                self._install_logging(logging)
            else:
                sys.meta_path.insert(0, _LoggingHook(self))

    def task_ended(self) -> None:
        """Send the start of a line a task left unfinished (it is not held back for
        the next task)."""
        for writer in self._out:
            if writer.partial:
                writer.flush()

    # -- the caller's settings -------------------------------------------------------

    def sync(self, shared: memoryview, header: memoryview) -> None:
        """Apply the caller's settings from the memory it shares with this worker
        interpreter (``header``: ``shared``'s first 16 bytes as two ``q``), if their
        generation changed; a generation being written is read at the next task."""
        generation = header[0]
        if generation & 1 or generation == self.generation:
            return
        blob = bytes(shared[16 : 16 + header[1]])
        if header[0] != generation:
            return  # rewritten meanwhile
        self.generation = generation
        self.apply(blob)

    def apply(self, blob: bytes) -> None:
        """Apply the caller's settings (``_engine.forwarding.CallerSettings.encode``):
        its logger levels and its warning filters."""
        levels, filters = pickle.loads(blob)
        if levels is not None and self.what & FORWARD_LOGS:
            self._levels = levels
            if self.logging_ready:
                self._apply_levels(sys.modules["logging"])
        if filters is not None and self.what & FORWARD_WARNINGS:
            _apply_filters(filters)

    def _apply_levels(self, logging: ModuleType) -> None:
        root_level, disabled, named = self._levels
        logging.root.setLevel(root_level)
        logging.disable(disabled)
        seen = set()
        for name, level in named:
            logging.getLogger(name).setLevel(level)
            seen.add(name)
        for name in self._named - seen:  # set before, no longer set in the caller
            logging.getLogger(name).setLevel(logging.NOTSET)
        self._named = seen

    # -- logs ------------------------------------------------------------------------

    def _install_logging(self, logging: ModuleType) -> None:
        forwarder = self

        class ForwardingHandler(logging.Handler):  # type: ignore[name-defined,misc]
            """Sends each record to the caller's ``logging``."""

            def emit(self, record: Any) -> None:
                try:
                    forwarder.send((LOG, pickle.dumps(_record_fields(record), 5)))
                except Exception:  # noqa: BLE001 - as logging's handlers do
                    self.handleError(record)

        logging.root.addHandler(ForwardingHandler())
        self.logging_ready = True
        if self._levels is not None:
            self._apply_levels(logging)

    # -- warnings --------------------------------------------------------------------

    def _show_warning(  # noqa: PLR0917 - warnings.showwarning's signature
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if file is not None:  # an explicit destination: as the standard function does
            file.write(warnings.formatwarning(message, category, filename, lineno, line))
            return
        self.send(
            (WARNING, str(message), category.__module__, category.__qualname__, filename, lineno)
        )


class LineWriter(io.TextIOBase):
    """A worker's ``sys.stdout`` (``number`` 1) or ``sys.stderr`` (2): sends whole
    lines to the caller (see the module docstring); ``original`` is the stream it
    replaces, whose descriptor and binary buffer it exposes."""

    def __init__(self, forwarder: Forwarder, number: int, original: Any) -> None:
        super().__init__()
        self._forwarder = forwarder
        self._number = number
        self._original = original
        self._lock = _thread.allocate_lock()
        #: The start of a line, not sent yet.
        self.partial = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._original, "errors", None)

    @property
    def buffer(self) -> Any:
        """The worker's own binary stream (the raw path: not forwarded)."""
        return self._original.buffer

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self._original is not None and self._original.isatty())

    def fileno(self) -> int:
        """The worker's own descriptor (the raw path: not forwarded)."""
        return int(self._original.fileno())

    def write(self, text: str) -> int:
        if type(text) is not str:
            if not isinstance(text, str):
                raise TypeError(f"write() argument must be str, not {type(text).__name__}")
            text = str(text)
        with self._lock:
            if "\n" not in text:
                self.partial += text
                return len(text)
            whole = self.partial + text
            end = whole.rfind("\n") + 1
            self.partial = whole[end:]
            self._forwarder.send((OUTPUT, self._number, whole[:end]))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self.partial:
                text, self.partial = self.partial, ""
                self._forwarder.send((OUTPUT, self._number, text))


class _LoggingHook:
    """A meta path finder that installs the forwarding handler once ``logging`` is
    imported, then removes itself."""

    def __init__(self, forwarder: Forwarder) -> None:
        self._forwarder = forwarder

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenInstall(spec.loader, self._forwarder)  # type: ignore[assignment]
        return spec


class _ThenInstall:  # a Loader (importlib.abc is not imported for it)
    """A loader that runs ``loader``, then installs the forwarding handler."""

    def __init__(self, loader: Any, forwarder: Forwarder) -> None:
        self._loader = loader
        self._forwarder = forwarder

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._forwarder._install_logging(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package...: the loader's
        return getattr(self._loader, name)


def _record_fields(record: Any) -> dict[str, Any]:
    """A log record's attributes, as plain values (so that unpickling them imports
    nothing): the standard attributes, the formatted message, the traceback as text,
    and the ``extra`` attributes (``repr`` of values that are not plain)."""
    d = record.__dict__
    fields = {name: d.get(name) for name in _RECORD_FIELDS}
    fields["msg"] = record.getMessage()
    if record.exc_info and not record.exc_text:
        import logging

        record.exc_text = logging.Formatter().formatException(record.exc_info)
    fields["exc_text"] = record.exc_text
    for name, value in d.items():
        if name not in _NOT_EXTRA:
            fields[name] = value if type(value) in _NATIVE else repr(value)
    return fields


def _apply_filters(filters: tuple[tuple[Any, ...], ...]) -> None:
    """Make the worker's warning filters the caller's ``filters`` (see
    ``_engine.forwarding``): ``(action, message, category module, category name,
    module, lineno)``.  A filter whose category's module this worker has not
    imported is left out (no warning of that category can be raised here yet)."""
    rebuilt = []
    for action, message, cat_module, cat_name, module, lineno in filters:
        category = loaded_category(cat_module, cat_name)
        if category is not None:
            rebuilt.append((action, message, category, module, lineno))
    warnings.resetwarnings()
    for action, message, category, module, lineno in reversed(rebuilt):
        warnings.filterwarnings(action, message, category, module, lineno)


def loaded_category(module: str, name: str) -> type[Warning] | None:
    """The warning class ``module.name`` if that module is loaded here (in this
    interpreter), else None."""
    obj: Any = sys.modules.get(module)
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and issubclass(obj, Warning) else None

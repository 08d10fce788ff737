"""How worker interpreters are created: :class:`InterpreterOptions`.

CPython creates an interpreter from a config (``PyInterpreterConfig``; from Python,
``_interpreters.new_config()`` and ``_interpreters.create(config)``) that decides its
GIL, its allocator, what ``threading``, ``os.fork`` and ``os.exec*`` may do in it, and
which extension modules it may import.  ``concurrent.interpreters.create()`` always
uses the ``"isolated"`` config; a pool can use another one, checked here before any
worker starts (``Pool(interpreter=...)``).

The rules come from CPython itself:

* ``Python/pylifecycle.c`` (``init_interp_settings``): an interpreter with its own
  allocator (``use_main_obmalloc=False``) must refuse single-phase init extension
  modules (``check_multi_interp_extensions=True``): "per-interpreter obmalloc does
  not support single-phase init extension modules"; on the free-threaded build every
  sub-interpreter must refuse them.
* ``Doc/c-api/init.rst`` (``PyInterpreterConfig``): with ``use_main_obmalloc=True``
  the GIL must not be the interpreter's own.  CPython does *not* check this one (the
  interpreter is created, and two GILs then use one allocator at once), so we do.
* ``Python/interpconfig.c``: the flags are ``True``/``False`` (not truthy values),
  ``gil`` is ``"default"``, ``"shared"`` or ``"own"`` (``"default"`` means shared).

And one rule of interpool: every worker runs threads of its own (its watchdog, and
the event loop of ``async def`` tasks), so ``allow_threads`` must stay ``True``.

:func:`create_interpreter` is the one place that creates a worker interpreter.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, Self

if TYPE_CHECKING:
    from interpool._platform.interpreters import Interpreter

__all__ = ["InterpreterOptions", "create_interpreter", "resolve"]

#: The names ``Pool(interpreter=...)`` accepts besides an :class:`InterpreterOptions`.
Preset = Literal["isolated", "legacy"]

_GILS = ("own", "shared", "default")
_FLAGS = (
    "use_main_obmalloc",
    "allow_fork",
    "allow_exec",
    "allow_threads",
    "allow_daemon_threads",
    "check_multi_interp_extensions",
)

#: The free-threaded build refuses sub-interpreters that load single-phase init modules.
_FREE_THREADED = "t" in getattr(sys, "abiflags", "")

#: Whether a worker may have daemon threads.  CPython 3.13 aborts the whole process
#: ("Fatal Python error: Py_EndInterpreter: not the last thread") when an interpreter
#: is destroyed while one of its daemon threads is alive; 3.14 made that safe.
DAEMON_THREADS_SUPPORTED = sys.version_info >= (3, 14)


@dataclass(frozen=True, slots=True, kw_only=True)
class InterpreterOptions:
    """The options every worker interpreter of a pool is created with
    (``Pool(interpreter=InterpreterOptions(...))``).  The fields are CPython's
    (``PyInterpreterConfig``); the defaults are the ``"isolated"`` preset, what
    ``concurrent.interpreters.create()`` uses, and what a pool uses unless told.
    Start from a preset and change what you need::

        InterpreterOptions.isolated(allow_daemon_threads=True)
        InterpreterOptions.legacy()

    Each field, and what it costs:

    Attributes:
        gil: ``"own"``: the worker has a GIL of its own, so it runs Python code at
            the same time as the caller and the other workers: the parallelism
            interpool exists for.  ``"shared"``: it uses the main interpreter's GIL,
            like a thread: only one of the caller and all such workers runs Python
            code at a time (code that releases the GIL, I/O and many C calls, still
            overlaps), so CPU-bound tasks gain nothing from a second worker; what
            is left is the isolation (separate modules, globals, ``sys.path``).
            ``"default"`` is CPython's name for ``"shared"`` and becomes it.
        use_main_obmalloc: ``False``: the worker has its own small-object
            allocator, which an own GIL requires.  ``True``: it uses the main
            interpreter's, which loading single-phase init extension modules
            requires (see the next field); only with ``gil="shared"``.
        check_multi_interp_extensions: ``True``: an extension module that does
            not declare support for sub-interpreters (numpy, orjson, msgspec,
            pydantic-core... at the time of writing) refuses to load: the task
            fails with ``IncompatibleModuleError`` (or runs in a process with
            ``fallback="processes"``).  ``False``: such modules load, at your own
            risk: they did not declare support because sharing their state between
            interpreters is not safe.  We saw numpy 2.x load in one interpreter per
            process only (a second one, the main interpreter included, then gets
            ``ImportError: cannot load module more than once per process``), and
            orjson crash the process when a worker imported it after another one
            that had imported it was destroyed.  Needs ``use_main_obmalloc=True``.
        allow_threads: whether ``threading`` may start threads.  Must be ``True``:
            every worker runs a watchdog thread (which interrupts a task that
            timed out or was cancelled) and, for ``async def`` tasks, an event-loop
            thread.
        allow_daemon_threads: ``False``: ``threading.Thread(daemon=True).start()``
            raises ``RuntimeError: daemon threads are disabled in this
            (sub)interpreter``, which breaks libraries that start daemon threads
            (background flushers, connection-pool reapers...).  ``True``: they
            start.  A worker's interpreter is destroyed when it leaves (shutdown,
            ``max_tasks_per_worker``, ``idle_timeout``, a task timed out or
            cancelled) without waiting for its daemon threads, and CPython (3.14,
            3.15) may then crash the process if one of them is running Python code
            at that moment; one that waits (on a lock, a queue, a socket, a sleep)
            was safe in our runs.  On Python 3.13, destroying an interpreter with a
            live daemon thread always aborts the process, so a pool refuses
            ``True`` there (``ValueError``) and the ``legacy`` preset has ``False``.
        allow_fork: whether ``os.fork()`` works in the worker (``subprocess`` works
            either way).  Forking a process that runs several interpreters is
            rarely a good idea.
        allow_exec: whether ``os.exec*()`` works in the worker (``subprocess``
            works either way).

    A combination CPython refuses, or that interpool cannot work with, raises
    ``ValueError`` (a flag that is not a bool: ``TypeError``) naming the problem and
    the way out: here for CPython's rules, at ``Pool(...)`` for interpool's, before
    any worker starts.
    """

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    gil: Literal["own", "shared", "default"] = "own"
    use_main_obmalloc: bool = False
    allow_fork: bool = False
    allow_exec: bool = False
    allow_threads: bool = True
    allow_daemon_threads: bool = False
    check_multi_interp_extensions: bool = True

    def __post_init__(self) -> None:
        if self.gil not in _GILS:
            raise ValueError(
                f'InterpreterOptions.gil must be "own", "shared" or "default" (which '
                f'means "shared"), got {self.gil!r}'
            )
        if self.gil == "default":
            object.__setattr__(self, "gil", "shared")
        for name in _FLAGS:
            value = getattr(self, name)
            if type(value) is not bool:
                raise TypeError(
                    f"InterpreterOptions.{name} must be True or False, got {value!r} "
                    f"({type(value).__name__})"
                )
        if self.gil == "own" and self.use_main_obmalloc:
            raise ValueError(
                'InterpreterOptions: gil="own" needs use_main_obmalloc=False. An '
                "interpreter with its own GIL runs at the same time as the main one, "
                "whose allocator is not safe to use from two GILs at once (CPython "
                "documents the rule but does not check it: memory would be corrupted). "
                'Use gil="shared" to keep the main allocator (the "legacy" preset), or '
                "use_main_obmalloc=False to keep an own GIL."
            )
        if not self.use_main_obmalloc and not self.check_multi_interp_extensions:
            raise ValueError(
                "InterpreterOptions: use_main_obmalloc=False needs "
                "check_multi_interp_extensions=True. CPython refuses to create such an "
                'interpreter ("per-interpreter obmalloc does not support single-phase '
                'init extension modules"). Set check_multi_interp_extensions=True, or '
                'use_main_obmalloc=True with gil="shared" (the "legacy" preset) to load '
                "modules that do not support sub-interpreters."
            )
        if _FREE_THREADED and not self.check_multi_interp_extensions:
            raise ValueError(
                "InterpreterOptions: check_multi_interp_extensions=False is refused by "
                "the free-threaded build of CPython, which cannot load single-phase "
                "init extension modules in a sub-interpreter. Set "
                "check_multi_interp_extensions=True."
            )

    @classmethod
    def isolated(cls, **changes: Any) -> Self:
        """The ``"isolated"`` preset (the default): own GIL (parallel), own
        allocator, only modules that support sub-interpreters, threads but no
        daemon threads, no fork or exec.  ``changes`` override fields."""
        return cls(**changes)

    @classmethod
    def legacy(cls, **changes: Any) -> Self:
        """The ``"legacy"`` preset, CPython's settings for ``Py_NewInterpreter()``:
        the main interpreter's GIL (no parallelism) and allocator, every extension
        module may load, daemon threads, fork and exec allowed.  ``changes``
        override fields.  On Python 3.13 daemon threads are off in this preset (see
        ``allow_daemon_threads``)."""
        fields: dict[str, Any] = {
            "gil": "shared",
            "use_main_obmalloc": True,
            "allow_fork": True,
            "allow_exec": True,
            "allow_threads": True,
            "allow_daemon_threads": DAEMON_THREADS_SUPPORTED,
            "check_multi_interp_extensions": False,
        }
        return cls(**{**fields, **changes})

    @classmethod
    def from_config(cls, config: Any) -> Self:
        """The options of CPython's config object, for example
        ``_interpreters.get_config(interpreter_id)`` (what a worker really got)."""
        names = ("gil", *_FLAGS)
        if isinstance(config, dict):
            return cls(**{name: config[name] for name in names})
        return cls(**{name: getattr(config, name) for name in names})

    @property
    def parallel(self) -> bool:
        """True if workers with these options run Python code in parallel (own GIL)."""
        return self.gil == "own"

    def as_dict(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``_interpreters.new_config()``."""
        return asdict(self)


def resolve(interpreter: object) -> InterpreterOptions:
    """``Pool(interpreter=...)`` as options, checked for interpool's own needs.

    Raises ``TypeError`` for something that is neither a preset name nor an
    :class:`InterpreterOptions`, ``ValueError`` for an unknown name or options a
    worker cannot run with."""
    if isinstance(interpreter, str):
        if interpreter == "isolated":
            return InterpreterOptions.isolated()
        if interpreter == "legacy":
            return InterpreterOptions.legacy()
        hint = ' ("empty" allows no threads, which workers need)' if interpreter == "empty" else ""
        raise ValueError(
            f'interpreter must be "isolated", "legacy" or an interpool.InterpreterOptions, '
            f"got {interpreter!r}{hint}"
        )
    if not isinstance(interpreter, InterpreterOptions):
        raise TypeError(
            'interpreter must be "isolated", "legacy" or an interpool.InterpreterOptions, '
            f"got {type(interpreter).__name__}"
        )
    if not interpreter.allow_threads:
        raise ValueError(
            "interpool workers need allow_threads=True: each worker runs a watchdog "
            "thread, which interrupts a task that timed out or was cancelled, and an "
            "event-loop thread for async def tasks. Keep allow_threads=True (both "
            "presets do); to stop tasks from starting threads, do not start any in them."
        )
    if interpreter.allow_daemon_threads and not DAEMON_THREADS_SUPPORTED:
        raise ValueError(
            "allow_daemon_threads=True is refused on Python 3.13: CPython 3.13 aborts "
            'the process ("Py_EndInterpreter: not the last thread") when a worker '
            "interpreter is destroyed while one of its daemon threads is alive, and "
            "workers are destroyed on shutdown, recycling and interruption. Use "
            "Python 3.14 or later, or allow_daemon_threads=False (a library that "
            "starts a daemon thread then raises RuntimeError in the worker)."
        )
    return interpreter


def create_interpreter(options: InterpreterOptions) -> Interpreter:
    """Create an interpreter with ``options``, as ``concurrent.interpreters.create()``
    does with the ``"isolated"`` ones: an interpreter object that owns a reference,
    so the interpreter is destroyed by ``close()`` (or when the object goes).
    Raises ``concurrent.interpreters.InterpreterError`` if CPython refuses."""
    import _interpreters

    from interpool._platform import interpreters

    config = _interpreters.new_config("isolated", **options.as_dict())
    interp_id = _interpreters.create(config, reqrefs=True)
    try:
        return interpreters.Interpreter(interp_id, _ownsref=True)
    except BaseException:
        _interpreters.destroy(interp_id)
        raise

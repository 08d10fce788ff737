"""Hand a large ``bytes`` result from a worker to the caller without copying it.

A ``bytes`` object of more than 512 bytes is one block from the process-wide raw
allocator (``malloc``): CPython's per-interpreter small-object allocator only serves
smaller blocks and sends the rest to ``PyMem_RawMalloc``/``PyMem_RawFree``, and the
``bytes`` type is a static type shared by every interpreter.  So such an object does
not depend on the interpreter that made it, and the main interpreter can free it
safely, even after that interpreter is gone.

What must hold is that exactly one interpreter uses the object's reference count at a
time.  A worker therefore hands a result over only if nothing else in the worker
refers to it (its reference count shows the worker loop's own reference only: a
``bytes`` the task also kept, in a global or a cache, is copied instead): it takes an
extra reference for the handover, forgets the object, and sends its address on the
result queue.  The main interpreter adopts it (:func:`adopt`): it takes a reference
of its own, then drops the handover one.  From then on the ``bytes`` is an ordinary
object of the main interpreter.

Handing over is used only where that reasoning holds: CPython with the GIL (not the
free-threaded build, whose reference counts are per-thread), objects of at least
:data:`MIN_SIZE` bytes, and the standard allocators (``PYTHONMALLOC`` unset,
``pymalloc``, ``malloc`` or their ``_debug`` variants).  ``INTERPOOL_HANDOFF=0``
turns it off; results are then copied once by the caller.
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MIN_SIZE", "adopt", "enabled", "give", "import_ctypes", "prepare"]

#: Smaller ``bytes`` are copied: the handover saves nothing below this size.
MIN_SIZE = 64 * 1024

_ALLOCATORS = frozenset({"", "pymalloc", "pymalloc_debug", "malloc", "malloc_debug", "debug"})


def _supported() -> bool:
    if sys.implementation.name != "cpython" or os.environ.get("INTERPOOL_HANDOFF") == "0":
        return False
    if os.environ.get("PYTHONMALLOC", "") not in _ALLOCATORS:
        return False
    # Not the free-threaded build (per-thread reference counts), nor a trace-refs
    # build (per-interpreter lists of live objects).
    return "t" not in sys.abiflags and not hasattr(sys, "getobjects")


#: Whether this process hands large ``bytes`` results over (see the module docstring).
enabled = _supported()

_lock = threading.Lock()
_api: Any = None  # (ctypes, Py_IncRef, Py_DecRef), made once per interpreter
_base_refs = -1
_failed = False  # ctypes could not be loaded here: never try again


def _load() -> Any:
    """Import ctypes (only when a large result appears), make private prototypes of
    ``Py_IncRef``/``Py_DecRef`` (so that nobody else's ``argtypes`` on
    ``ctypes.pythonapi`` can change how we call them), and calibrate :func:`give`."""
    global _api, _base_refs
    api = _api
    if api is not None:
        return api
    with _lock:
        if _api is None:
            ctypes = import_ctypes()
            prototype = ctypes.PYFUNCTYPE(None, ctypes.py_object)
            incref = prototype(("Py_IncRef", ctypes.pythonapi))
            decref = prototype(("Py_DecRef", ctypes.pythonapi))
            probe, _base_refs = _pop_counted([bytes(MIN_SIZE)], ctypes)
            del probe
            _api = (ctypes, incref, decref)  # published last: other threads may read it
        return _api


def import_ctypes() -> Any:
    """``import ctypes``, tried twice: on 3.15.2 its first import in a worker
    interpreter has been seen to fail once ("class must define a '_type_' attribute")
    while other interpreters imported it at the same time."""
    try:
        import ctypes
    except Exception:  # noqa: BLE001 - a half-made module is dropped; try once more
        for name in [m for m in sys.modules if m == "ctypes" or m.startswith("ctypes.")]:
            del sys.modules[name]
        import ctypes
    return ctypes


def prepare() -> None:
    """Main side, when a pool starts: import ctypes now, before any worker runs, so
    that :func:`adopt` never imports it while workers do."""
    if enabled:
        _load()


def _pop_counted(box: list[bytes], ctypes: Any) -> tuple[bytes, int]:
    """Take the only item of ``box``; return it and its reference count as seen here.

    The count for an object that nothing else refers to is measured once, on a fresh
    object, through this same function, so the comparison in :func:`give` does not
    depend on how the running CPython counts references held by its stack."""
    obj = box.pop()
    return obj, ctypes.c_ssize_t.from_address(id(obj)).value


def give(box: list[bytes]) -> int | None:
    """Worker side: hand over the ``bytes`` object in ``box`` (a one-item list that
    holds the only reference the caller has).  Return its address for :func:`adopt`,
    or ``None`` (and leave it in ``box``) if something else still refers to it."""
    global _failed
    if _failed:
        return None
    try:
        ctypes, incref, _ = _load()
    except Exception:  # noqa: BLE001 - no handover in this interpreter: results are copied
        _failed = True
        return None
    obj, refs = _pop_counted(box, ctypes)
    if refs != _base_refs:
        box.append(obj)
        return None
    incref(obj)  # the handover reference, dropped by adopt()
    return id(obj)


def adopt(address: int) -> bytes:
    """Main side: take ownership of the ``bytes`` object a worker handed over."""
    ctypes, _, decref = _load()
    obj: bytes = ctypes.cast(address, ctypes.py_object).value
    decref(obj)
    return obj

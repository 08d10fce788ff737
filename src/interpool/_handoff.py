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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MIN_SIZE", "adopt", "enabled", "give"]

#: Smaller ``bytes`` are copied: the handover saves nothing below this size.
MIN_SIZE = 64 * 1024

_ALLOCATORS = frozenset({"", "pymalloc", "pymalloc_debug", "malloc", "malloc_debug", "debug"})


def _supported() -> bool:
    if sys.implementation.name != "cpython" or os.environ.get("INTERPOOL_HANDOFF") == "0":
        return False
    if os.environ.get("PYTHONMALLOC", "") not in _ALLOCATORS:
        return False
    import sysconfig

    return not sysconfig.get_config_var("Py_GIL_DISABLED")


#: Whether this process hands large ``bytes`` results over (see the module docstring).
enabled = _supported()

_ctypes: Any = None
_base_refs = -1


def _load() -> Any:
    """Import ctypes (only when a large result appears) and calibrate :func:`give`."""
    global _ctypes, _base_refs
    if _ctypes is None:
        import ctypes

        _ctypes = ctypes
        _ctypes.pythonapi.Py_IncRef.argtypes = [ctypes.py_object]
        _ctypes.pythonapi.Py_DecRef.argtypes = [ctypes.py_object]
        probe, _base_refs = _pop_counted([bytes(MIN_SIZE)])
        del probe
    return _ctypes


def _pop_counted(box: list[bytes]) -> tuple[bytes, int]:
    """Take the only item of ``box``; return it and its reference count as seen here.

    The count for an object that nothing else refers to is measured once, on a fresh
    object, through this same function, so the comparison in :func:`give` does not
    depend on how the running CPython counts references held by its stack."""
    obj = box.pop()
    return obj, _ctypes.c_ssize_t.from_address(id(obj)).value


def give(box: list[bytes]) -> int | None:
    """Worker side: hand over the ``bytes`` object in ``box`` (a one-item list that
    holds the only reference the caller has).  Return its address for :func:`adopt`,
    or ``None`` (and leave it in ``box``) if something else still refers to it."""
    ctypes = _load()
    obj, refs = _pop_counted(box)
    if refs != _base_refs:
        box.append(obj)
        return None
    ctypes.pythonapi.Py_IncRef(obj)  # the handover reference, dropped by adopt()
    return id(obj)


def adopt(address: int) -> bytes:
    """Main side: take ownership of the ``bytes`` object a worker handed over."""
    ctypes = _load()
    obj: bytes = ctypes.cast(address, ctypes.py_object).value
    ctypes.pythonapi.Py_DecRef(obj)
    return obj

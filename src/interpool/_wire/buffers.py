"""Pickling with out-of-band buffers: large binary data crosses without being copied.

:func:`dumps` pickles a value (protocol 5) but leaves the memory of its large buffers
out of the pickle: ``bytearray``, ``memoryview`` and ``array.array`` objects of at
least :data:`OUT_OF_BAND_MIN` bytes, and every ``pickle.PickleBuffer`` (what
numpy-style objects reduce to), wherever they sit in the value.  Those buffers travel
beside the pickle as ``memoryview`` objects, which ``concurrent.interpreters`` shares
between interpreters without a copy: the receiver reads the sender's memory.

Who owns the memory decides what the receiver may keep:

* Caller -> worker (arguments): the memory belongs to the main interpreter, which
  outlives every worker, and the shared view keeps the caller's object alive.  A
  worker rebuilds ``bytearray`` and ``array`` arguments by copying once (they must
  own their memory); a ``memoryview`` argument, and a user's ``PickleBuffer``, stay
  views of the caller's memory (zero-copy, and writable if the caller's was: the
  worker's writes are seen by the caller).
* Worker -> caller (results): the memory belongs to a worker interpreter, which may
  be destroyed (recycled, shut down) while the caller still holds the result, so the
  caller copies every buffer once into memory of its own before it rebuilds the value
  (:func:`loads` with ``foreign=True``).  Large ``bytes`` results avoid even that copy:
  see ``handoff``.

Exact ``bytes`` inside lists or dicts stay in the pickle (the C pickler does not let
a reducer see them); ``bytes`` given as an argument, or in a tuple of arguments,
cross natively, copied once by the worker.

Both interpreters import this module; it must stay free of heavy imports.
"""

from __future__ import annotations

import array
import contextlib
import io
import pickle
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "OUT_OF_BAND_MIN",
    "PACKED_VIEWS",
    "Packed",
    "by_value",
    "by_value_in_band",
    "by_value_needed",
    "dumps",
    "dumps_in_band",
    "loads",
    "script_unloadable",
]

#: Smaller buffers are copied into the pickle: below this, sharing a view costs more
#: than copying the bytes.
OUT_OF_BAND_MIN = 64 * 1024

#: ``(pickle, views, kinds)``: the pickle, the out-of-band buffers (``memoryview``
#: objects in the sender's memory), and the kind of each (:data:`OURS`,
#: :data:`USER`, :data:`BYTEARRAY`).
Packed = tuple[bytes, tuple[memoryview, ...], tuple[int, ...]]
#: Where the views are in a :data:`Packed`.
PACKED_VIEWS = 1


#: Kinds of out-of-band buffers, beside each view in a :data:`Packed`.
OURS = 0  #: from a standard type this module reduces (its rebuild copies it once)
USER = 1  #: a user's ``PickleBuffer`` (numpy-style): its rebuild may keep it
BYTEARRAY = 2  #: a ``bytearray``, by persistent id (not in pickle's buffer order)


class _Buffers:
    """The buffer callback of the picklers: collects the out-of-band buffers.
    (Apart from the pickler, so that the two do not form a reference cycle, which
    would keep the caller's buffers exported until the next garbage collection.)"""

    def __init__(self, in_band: bool = False) -> None:
        self.views: list[memoryview] = []
        self.kinds: list[int] = []
        self.ours: dict[int, pickle.PickleBuffer] = {}
        self.in_band = in_band

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        if self.in_band:
            return True
        try:
            view = buffer.raw()
        except BufferError:  # not contiguous: let pickle copy it in-band
            return True
        self.views.append(view)
        self.kinds.append(OURS if id(buffer) in self.ours else USER)
        return False

    def packed(self, data: bytes) -> bytes | Packed:
        if not self.views:
            return data
        return (data, tuple(self.views), tuple(self.kinds))


def _reduce_buffer(ours: dict[int, pickle.PickleBuffer], obj: Any) -> Any:
    """The reducer_override of both picklers: large standard buffers out of band."""
    t = type(obj)
    if t is memoryview:
        meta = (obj.format, obj.shape, obj.readonly)
        if not obj.c_contiguous or obj.nbytes < OUT_OF_BAND_MIN:
            return _rebuild_memoryview, (obj.tobytes(), *meta)
        return _rebuild_memoryview, (_own(ours, obj), *meta)
    if t is array.array and obj.itemsize * len(obj) >= OUT_OF_BAND_MIN:
        return _rebuild_array, (obj.typecode, _own(ours, obj))
    return NotImplemented


def _own(ours: dict[int, pickle.PickleBuffer], obj: Any) -> pickle.PickleBuffer:
    buffer = pickle.PickleBuffer(obj)
    ours[id(buffer)] = buffer  # alive until pickled, so ids stay unique
    return buffer


class _Pickler(pickle.Pickler):
    """Protocol 5, with large standard buffers reduced to out-of-band ``PickleBuffer``s."""

    def __init__(self, file: io.BytesIO, buffers: _Buffers) -> None:
        super().__init__(file, protocol=5, buffer_callback=buffers)
        self._ours = buffers.ours

    def reducer_override(self, obj: Any) -> Any:
        return _reduce_buffer(self._ours, obj)


class _BytearrayPickler(_Pickler):
    """:class:`_Pickler` that also sends every large ``bytearray`` out of band, by
    persistent id (see :func:`dumps`)."""

    def __init__(self, file: io.BytesIO, buffers: _Buffers) -> None:
        super().__init__(file, buffers)
        self._buffers = buffers
        self._index: dict[int, int] = {}

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is not bytearray or len(obj) < OUT_OF_BAND_MIN:
            return None
        index = self._index.get(id(obj))
        if index is None:  # the same bytearray twice: one buffer, one object
            index = self._index[id(obj)] = len(self._buffers.views)
            self._buffers.views.append(memoryview(obj))
            self._buffers.kinds.append(BYTEARRAY)
        return index


class _Cached(threading.local):
    """One reusable pickler per thread: making one costs more than a small pickle."""

    def __init__(self) -> None:
        self.file = io.BytesIO()
        self.buffers = _Buffers()
        self.pickler = _Pickler(self.file, self.buffers)
        self.busy = False


_cached = _Cached()


#: The protocol-5 opcode of an in-band ``bytearray``.
_BYTEARRAY8 = pickle.BYTEARRAY8


def dumps(value: Any) -> bytes | Packed:
    """The pickle of ``value``, with its large buffers beside it (a :data:`Packed`), or
    just the pickle if it has none.

    The C pickler writes a ``bytearray`` itself, without asking ``reducer_override``;
    only ``persistent_id`` sees it, at the cost of a Python call for every object.  So
    a value is pickled the fast way first, and again with :class:`_BytearrayPickler`
    only if that pickle is large and may hold a ``bytearray`` (its opcode appears).

    What plain pickle cannot send (lambdas, closures, instances of classes defined in
    a function or in a script-less ``__main__``) is pickled by value with cloudpickle
    (:func:`by_value`); if that fails too, the first error is raised."""
    try:
        result = _dumps(value)
        data: bytes = result if isinstance(result, bytes) else result[0]
        if len(data) >= OUT_OF_BAND_MIN and _BYTEARRAY8 in data:
            return _fresh(_BytearrayPickler, value)
        return result
    except Exception as exc:  # noqa: BLE001 - any pickling error: try by value
        try:
            return by_value(value)
        except Exception:  # noqa: BLE001 - report the plain pickle's error
            raise exc from None


#: False once workers are known not to load the caller's script (see
#: :func:`script_unloadable`).
_script_loads = [True]


def script_unloadable() -> None:
    """Workers cannot load the caller's script (``functions.script_unloadable``): from
    now on its functions, classes and objects are pickled by value (cloudpickle's
    class tracking gives an object that comes back its caller's class)."""
    _script_loads[0] = False


def _main_has_script() -> bool:
    """Whether a worker can load the caller's ``__main__`` (see ``functions.main_ref``):
    a script file, or a module run with ``python -m``, that loads there."""
    if not _script_loads[0]:
        return False
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return True
    path = getattr(main, "__file__", None)
    return isinstance(path, str) and path.endswith(".py")


def by_value_needed(data: bytes) -> bool:
    """True if the caller's pickle ``data`` refers to ``__main__`` by name while the
    caller has no script a worker could load (REPL, ``python -c``, notebooks)."""
    return b"__main__" in data and not _main_has_script()


def by_value(value: Any) -> bytes | Packed:
    """:func:`dumps` with cloudpickle (imported on first need), which pickles by value
    what cannot be imported by name.  Large buffers still go out of band, and objects
    of a ``__main__`` script still go by name (workers load the script), so that a
    class keeps one identity in a worker."""
    return _fresh(_cloud_pickler(), value)


def by_value_in_band(value: Any, itself: bool = False) -> bytes:
    """:func:`by_value`, all in the pickle (for a function key, which must be bytes);
    with ``itself``, ``value`` goes by value even if it is found by name in the
    script (one that workers do not find there).  Raises ``ImportError`` if
    cloudpickle is not installed."""
    file, buffers = io.BytesIO(), _Buffers(True)
    pickler = _cloud_pickler()(file, buffers)
    if itself:
        pickler.itself = value
    pickler.dump(value)
    data = buffers.packed(file.getvalue())
    assert isinstance(data, bytes)  # in band: no buffers beside it
    return data


def dumps_in_band(value: Any) -> bytes:
    """``value`` pickled as :func:`dumps` does (memoryviews and arrays included), but
    with every buffer inside the pickle: for a value read after its sender may be gone
    (a channel's item)."""
    data = _fresh(_Pickler, value, in_band=True)
    assert isinstance(data, bytes)  # in band: no buffers beside it
    return data


def _fresh(pickler: Any, value: Any, in_band: bool = False) -> bytes | Packed:
    """``value`` pickled by a new ``pickler(file, buffers)``."""
    file, buffers = io.BytesIO(), _Buffers(in_band)
    pickler(file, buffers).dump(value)
    return buffers.packed(file.getvalue())


_CloudPickler: Any = None


def _cloud_pickler() -> Any:
    global _CloudPickler
    if _CloudPickler is None:
        import types

        import cloudpickle  # type: ignore[import-untyped]

        class CloudPickler(cloudpickle.Pickler):  # type: ignore[misc]
            itself: Any = None  # see by_value_in_band

            def __init__(self, file: io.BytesIO, buffers: _Buffers) -> None:
                super().__init__(file, protocol=5, buffer_callback=buffers)
                self._ours = buffers.ours

            def reducer_override(self, obj: Any) -> Any:
                reduced = _reduce_buffer(self._ours, obj)
                if reduced is not NotImplemented:
                    return reduced
                if isinstance(obj, io.IOBase):
                    # cloudpickle would send a copy of a file's contents: refuse, as
                    # plain pickle does.
                    raise pickle.PicklingError(
                        f"cannot send an open file ({type(obj).__qualname__}); pass its "
                        "path and open it in the task"
                    )
                if (
                    isinstance(obj, (type, types.FunctionType))
                    and getattr(obj, "__module__", None) == "__main__"
                    and _main_has_script()
                    and _found_in_main(obj)
                    and obj is not self.itself
                ):
                    return NotImplemented  # by name, as plain pickle does
                return super().reducer_override(obj)

        _CloudPickler = CloudPickler
    return _CloudPickler


def _found_in_main(obj: Any) -> bool:
    found: Any = sys.modules["__main__"]
    try:
        for part in obj.__qualname__.split("."):
            found = getattr(found, part)
    except AttributeError:
        return False
    return found is obj


def _dumps(value: Any) -> bytes | Packed:
    cached = _cached
    if cached.busy:  # re-entered (a __reduce__ that pickles): use a fresh pickler
        return _fresh(_Pickler, value)
    cached.busy = True
    try:
        cached.pickler.dump(value)
        return cached.buffers.packed(cached.file.getvalue())
    finally:
        _reset(cached)


def _reset(cached: _Cached) -> None:
    file = cached.file
    file.seek(0)
    file.truncate()
    cached.pickler.clear_memo()
    buffers = cached.buffers
    if buffers.views or buffers.ours:
        buffers.views.clear()
        buffers.kinds.clear()
        buffers.ours.clear()
    cached.busy = False


#: True in a worker: the views it receives are of the main interpreter's memory, which
#: outlives it, so a rebuilt ``memoryview`` may keep sharing it.
keep_views = False


def loads(packed: Packed, unpickler: Any = pickle.Unpickler, foreign: bool = False) -> Any:
    """Rebuild a value from :func:`dumps`'s :data:`Packed` form, with
    ``unpickler(file, buffers=...)``.

    ``foreign``: the views are of memory this interpreter does not own (a worker's),
    so every buffer is copied once and nothing keeps a view of it."""
    data, views, kinds = packed
    buffers: list[Any] = []
    for view, kind in zip(views, kinds, strict=True):
        if kind == USER and foreign:
            buffers.append(view.tobytes() if view.readonly else bytearray(view))
        elif kind != BYTEARRAY:
            buffers.append(view)
    loader = unpickler(io.BytesIO(data), buffers=buffers)
    if BYTEARRAY in kinds:
        rebuilt: dict[int, bytearray] = {}

        def persistent_load(index: int) -> bytearray:
            found = rebuilt.get(index)
            if found is None:
                found = rebuilt[index] = bytearray(views[index])
            return found

        loader.persistent_load = persistent_load
    return loader.load()


def _rebuild_bytearray(buffer: Any) -> bytearray:
    return bytearray(buffer)


def _rebuild_array(typecode: str, buffer: Any) -> array.array[Any]:
    result = array.array(typecode)
    result.frombytes(buffer)
    return result


def _rebuild_memoryview(
    buffer: Any, format: str, shape: tuple[int, ...], readonly: bool
) -> memoryview:
    if keep_views and type(buffer) is memoryview:
        view = buffer if not buffer.readonly or readonly else memoryview(bytearray(buffer))
    else:
        view = memoryview(bytearray(buffer))
    with contextlib.suppress(TypeError, ValueError):  # a format cast() rejects: bytes
        view = view.cast("B").cast(_native_format(format), shape)  # type: ignore[call-overload]
    return view.toreadonly() if readonly else view


def _native_format(format: str) -> str:
    """``format`` as ``memoryview.cast`` accepts it: ``"<i"`` (what ctypes exports)
    is ``"i"`` when it means the same on this machine."""
    if len(format) == 2 and format[0] in "@=<>!":
        import struct

        code = format[1]
        with contextlib.suppress(struct.error):
            if struct.calcsize(format) == struct.calcsize(code) and (
                format[0] in "@=" or (format[0] == "<") == (sys.byteorder == "little")
            ):
                return code
    return format

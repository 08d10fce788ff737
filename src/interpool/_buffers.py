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
  own their memory); a ``memoryview`` argument stays a view of the caller's memory
  (zero-copy, and writable if the caller's was: the worker's writes are seen by the
  caller).
* Worker -> caller (results): the memory belongs to a worker interpreter, which may
  be destroyed (recycled, shut down) while the caller still holds the result, so the
  caller copies every buffer once into memory of its own before it rebuilds the value
  (:func:`loads` with ``foreign=True``).  Large ``bytes`` results avoid even that copy:
  see ``_handoff``.

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

__all__ = ["OUT_OF_BAND_MIN", "Packed", "by_value", "by_value_needed", "dumps", "loads"]

#: Smaller buffers are copied into the pickle: below this, sharing a view costs more
#: than copying the bytes.
OUT_OF_BAND_MIN = 64 * 1024

#: ``(pickle, views, copy_flags)``: the pickle, the out-of-band buffers (``memoryview``
#: objects in the sender's memory), and for each one whether it belongs to a user's
#: ``PickleBuffer`` (a receiver that must not keep foreign memory copies those before
#: unpickling; the buffers of the types this module reduces are copied by their
#: rebuild function, exactly once).
Packed = tuple[bytes, tuple[memoryview, ...], tuple[bool, ...]]


class _Buffers:
    """The buffer callback of :class:`_Pickler`: collects the out-of-band buffers.
    (Apart from the pickler, so that the two do not form a reference cycle, which
    would keep the caller's buffers exported until the next garbage collection.)"""

    def __init__(self) -> None:
        self.views: list[memoryview] = []
        self.user: list[bool] = []
        self.ours: dict[int, pickle.PickleBuffer] = {}

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        try:
            view = buffer.raw()
        except BufferError:  # not contiguous: let pickle copy it in-band
            return True
        self.views.append(view)
        self.user.append(id(buffer) not in self.ours)
        return False


class _Pickler(pickle.Pickler):
    """Protocol 5, with large standard buffers reduced to out-of-band ``PickleBuffer``s."""

    def __init__(self, file: io.BytesIO, buffers: _Buffers) -> None:
        super().__init__(file, protocol=5, buffer_callback=buffers)
        self._ours = buffers.ours

    def reducer_override(self, obj: Any) -> Any:
        t = type(obj)
        if t is memoryview:
            return self._reduce_memoryview(obj)
        if t is bytearray and len(obj) >= OUT_OF_BAND_MIN:
            return _rebuild_bytearray, (self._own(obj),)
        if t is array.array and obj.itemsize * len(obj) >= OUT_OF_BAND_MIN:
            return _rebuild_array, (obj.typecode, self._own(obj))
        return NotImplemented

    def _reduce_memoryview(self, view: memoryview) -> Any:
        meta = (view.format, view.shape, view.readonly)
        if not view.c_contiguous or view.nbytes < OUT_OF_BAND_MIN:
            raw: Any = view.tobytes()
        else:
            raw = self._own(view)
        return _rebuild_memoryview, (raw, *meta)

    def _own(self, obj: Any) -> pickle.PickleBuffer:
        buffer = pickle.PickleBuffer(obj)
        self._ours[id(buffer)] = buffer  # alive until pickled, so ids stay unique
        return buffer


class _Cached(threading.local):
    """One reusable pickler per thread: making one costs more than a small pickle."""

    def __init__(self) -> None:
        self.file = io.BytesIO()
        self.buffers = _Buffers()
        self.pickler = _Pickler(self.file, self.buffers)
        self.busy = False


_cached = _Cached()


def dumps(value: Any) -> bytes | Packed:
    """The pickle of ``value``, with its large buffers beside it (a :data:`Packed`), or
    just the pickle if it has none.

    What plain pickle cannot send (lambdas, closures, instances of classes defined in
    a function or in a script-less ``__main__``) is pickled by value with cloudpickle,
    in-band; if that fails too, the first error is raised."""
    try:
        return _dumps(value)
    except Exception as exc:  # noqa: BLE001 - any pickling error: try by value
        try:
            return by_value(value)
        except Exception:  # noqa: BLE001 - report the plain pickle's error
            raise exc from None


def by_value_needed(data: bytes) -> bool:
    """True if the caller's pickle ``data`` refers to ``__main__`` by name while the
    caller has no script a worker could load (REPL, ``python -c``, notebooks)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return False  # python -m: workers import it by name
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path.endswith(".py"):
        return False  # a script: workers load it (see _functions.main_ref)
    return b"__main__" in data


def by_value(value: Any) -> bytes:
    """``value`` pickled by value with cloudpickle (imported on first need)."""
    import cloudpickle  # type: ignore[import-untyped]

    data: bytes = cloudpickle.dumps(value, protocol=5)
    return data


def _dumps(value: Any) -> bytes | Packed:
    cached = _cached
    if cached.busy:  # re-entered (a __reduce__ that pickles): use a fresh pickler
        file, buffers = io.BytesIO(), _Buffers()
        _Pickler(file, buffers).dump(value)
    else:
        file, buffers = cached.file, cached.buffers
        cached.busy = True
        try:
            cached.pickler.dump(value)
        except BaseException:
            _reset(cached)
            raise
        cached.busy = False
    data = file.getvalue()
    result = data if not buffers.views else (data, tuple(buffers.views), tuple(buffers.user))
    if file is cached.file:
        _reset(cached)
    return result


def _reset(cached: _Cached) -> None:
    file = cached.file
    file.seek(0)
    file.truncate()
    cached.pickler.clear_memo()
    buffers = cached.buffers
    if buffers.views or buffers.ours:
        buffers.views.clear()
        buffers.user.clear()
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
    data, views, user = packed
    buffers: list[Any] = list(views)
    if foreign:
        for i, is_user in enumerate(user):
            if is_user:
                view = views[i]
                buffers[i] = view.tobytes() if view.readonly else bytearray(view)
    return unpickler(io.BytesIO(data), buffers=buffers).load()


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
        view = view.cast("B").cast(format, shape)  # type: ignore[call-overload]
    return view.toreadonly() if readonly else view

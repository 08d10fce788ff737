"""Pickling with out-of-band buffers: large binary data crosses without being copied
into the pickle.

:func:`dumps` pickles a value (protocol 5) but leaves the memory of its large
bytes-like objects out of the pickle, wherever they sit in the value (inside lists,
dicts, tuples, objects): ``bytes``, ``bytearray``, ``memoryview`` and ``array.array``
objects of at least :data:`OUT_OF_BAND_MIN` bytes, and every ``pickle.PickleBuffer``
(what numpy-style objects reduce to).  Those buffers travel beside the pickle as
``memoryview`` objects, which ``concurrent.interpreters`` shares between interpreters
without a copy: the receiver reads the sender's memory, and copies it at most once.

How they are found, exactly and without a second pass: the C pickler writes into a
file object whose ``write`` is ``list.append`` (:class:`_Sink`), and its
``buffer_callback`` is the same ``append``.  Protocol 5 frames its output in 64 KiB
frames, and it hands any ``bytes``/``bytearray`` data of 64 KiB or more
(``FRAME_SIZE_TARGET``, equal to :data:`OUT_OF_BAND_MIN`) to ``write`` as the object
itself, right after flushing the frames and the opcode header that announces it; a
``PickleBuffer`` it hands to the callback.  So the list ends up holding, in stream
order, the flushed frames, each large ``bytes``/``bytearray`` object, and each
``PickleBuffer``; :func:`_assemble` walks it (a few steps per 64 KiB, in Python, and
nothing per object), replaces each large object's header with the protocol's
``NEXT_BUFFER`` opcode and puts a view of the object beside the pickle.  No callback
runs per pickled object (no ``persistent_id``, no ``reducer_override`` on the fast
path), and nothing is scanned for opcodes, so no byte of the data can be mistaken for
one.  (A large ``str`` is handed to ``write`` the same way, as its UTF-8 encoding: it
stays in the pickle.)

``memoryview`` objects (which plain pickle refuses) and large ``array.array`` objects
(which plain pickle would copy twice) are reduced by a second pickler with a
``reducer_override`` (:class:`_Hooked`): a value is pickled with it only when the
plain pickler failed, or when the plain pickle names ``array._array_reconstructor``
and has a large buffer beside it.

Who owns the memory decides what the receiver may keep:

* Caller -> worker (arguments): the memory belongs to the main interpreter, which
  outlives every worker, and the shared view keeps the caller's object alive.  A
  worker rebuilds ``bytes``, ``bytearray`` and ``array`` arguments by copying once
  (they must own their memory); a ``memoryview`` argument, and a user's
  ``PickleBuffer``, stay views of the caller's memory (zero-copy, and writable if the
  caller's was: the worker's writes are seen by the caller).
* Worker -> caller (results): the memory belongs to a worker interpreter, which may
  be destroyed (recycled, shut down) while the caller still holds the result, so the
  caller copies every buffer once into memory of its own before it rebuilds the value
  (:func:`loads` with ``foreign=True``).  A large ``bytes`` result (not nested) avoids
  even that copy: see ``handoff``.

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
#: than copying the bytes.  It is also the C pickler's ``FRAME_SIZE_TARGET``: the size
#: from which it hands ``bytes``/``bytearray`` data to ``write`` whole (see above).
OUT_OF_BAND_MIN = 64 * 1024

#: ``(pickle, views, kinds)``: the pickle, the out-of-band buffers (``memoryview``
#: objects in the sender's memory) in the order of the pickle's ``NEXT_BUFFER``
#: opcodes, and the kind of each (:data:`OURS`, :data:`USER`, :data:`BYTEARRAY`,
#: :data:`BYTES`).
Packed = tuple[bytes, tuple[memoryview, ...], tuple[int, ...]]
#: Where the views are in a :data:`Packed`.
PACKED_VIEWS = 1


#: Kinds of out-of-band buffers, beside each view in a :data:`Packed`.
OURS = 0  #: from a memoryview or array this module reduces (its rebuild copies it once)
USER = 1  #: a user's ``PickleBuffer`` (numpy-style): its rebuild may keep it
BYTEARRAY = 2  #: a ``bytearray``: rebuilt as a copy
BYTES = 3  #: a ``bytes``: rebuilt as a copy

# The protocol's opcodes that _assemble reads and writes.
_FRAME = pickle.FRAME[0]
_BINBYTES = pickle.BINBYTES[0]
_BINBYTES8 = pickle.BINBYTES8[0]
_BYTEARRAY8 = pickle.BYTEARRAY8[0]
_NEXT_BUFFER = pickle.NEXT_BUFFER
_PICKLE_BUFFER = pickle.PickleBuffer
#: In a pickle that rebuilds an ``array.array`` (see :func:`dumps`).
_ARRAY_MARK = b"_array_reconstructor"


def _reduce_buffer(ours: dict[int, pickle.PickleBuffer], obj: Any) -> Any:
    """The reducer_override of :class:`_Hooked` and of the cloudpickle pickler: large
    memoryviews and arrays out of band, as one ``PickleBuffer`` each."""
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
    ours[id(buffer)] = buffer  # alive until assembled, so ids stay unique
    return buffer


class _Sink:
    """The file the picklers write to: each write (a flushed frame, or a large
    ``bytes``/``bytearray`` object itself) is appended to a list."""

    __slots__ = ("write",)

    def __init__(self, out: list[Any]) -> None:
        self.write = out.append


class _Plain(pickle.Pickler):
    """The C pickler, protocol 5, with no per-object hook: the fast path."""

    def __init__(self, file: Any, callback: Any, ours: dict[int, pickle.PickleBuffer]) -> None:
        super().__init__(file, protocol=5, buffer_callback=callback)


class _Hooked(_Plain):
    """:class:`_Plain`, with large memoryviews and arrays reduced to out-of-band
    ``PickleBuffer`` s (a Python call per object that is not of a built-in type)."""

    def __init__(self, file: Any, callback: Any, ours: dict[int, pickle.PickleBuffer]) -> None:
        super().__init__(file, callback, ours)
        self._ours = ours

    def reducer_override(self, obj: Any) -> Any:
        return _reduce_buffer(self._ours, obj)


class _Cached(threading.local):
    """One reusable plain pickler per thread: making one costs more than a small
    pickle."""

    def __init__(self) -> None:
        self.out: list[Any] = []
        self.pickler = _Plain(_Sink(self.out), self.out.append, {})
        self.busy = False


_cached = _Cached()


def _assemble(out: list[Any], ours: dict[int, pickle.PickleBuffer]) -> bytes | Packed:
    """The pickle, and its buffers beside it, from what a pickler wrote to a
    :class:`_Sink` whose list is ``out`` (see the module docstring).

    ``out`` holds, in stream order: the ``bytes`` the pickler flushed, each made of
    the protocol header (first flush only), at most one frame (or, unframed, a frame
    of under 4 bytes) and, when a large object follows, that object's opcode header,
    unframed, at the very end; each large ``bytes``/``bytearray`` object right after
    the flush that announces it; and each out-of-band ``PickleBuffer``, when the
    pickler met it (its ``NEXT_BUFFER`` opcode is in the next flush).  Whatever is
    not recognised as a large ``bytes``/``bytearray`` header (a large ``str``'s)
    stays in the pickle: the concatenation of what was written is always a valid
    pickle."""
    n = len(out)
    if n == 1 and type(out[0]) is bytes:
        return out[0]
    pieces: list[bytes] = []
    views: list[memoryview] = []
    kinds: list[int] = []
    start = 2  # the first flush begins with the PROTO opcode
    i = 0
    while i < n:
        chunk = out[i]
        i += 1
        if type(chunk) is _PICKLE_BUFFER:
            views.append(chunk.raw())
            kinds.append(OURS if id(chunk) in ours else USER)
            continue
        pos, start = start, 0
        size = len(chunk)
        while pos < size and chunk[pos] == _FRAME:
            pos += 9 + int.from_bytes(chunk[pos + 1 : pos + 9], "little")
        if size - pos >= 5 and i < n:  # a header ends this flush: its data is next
            data = out[i]
            i += 1
            kind, header = _large(chunk, size - pos, data)
            if kind < 0:
                pieces += (chunk, data)
            else:
                pieces += (chunk[:-header], _NEXT_BUFFER)
                views.append(memoryview(data))
                kinds.append(kind)
            continue
        pieces.append(chunk)
    data = b"".join(pieces)
    return (data, tuple(views), tuple(kinds)) if views else data


def _large(chunk: bytes, tail: int, data: Any) -> tuple[int, int]:
    """``(kind, header size)`` if ``chunk`` ends with the header of the ``bytes`` or
    ``bytearray`` object ``data``; else ``(-1, 0)``.  ``tail``: how many bytes of
    ``chunk`` follow its frame."""
    t = type(data)
    size = len(data)
    if t is bytearray:
        if tail >= 9 and chunk[-9] == _BYTEARRAY8 and _le(chunk, 8) == size:
            return BYTEARRAY, 9
    elif t is bytes:
        if size <= 0xFFFFFFFF:
            if chunk[-5] == _BINBYTES and _le(chunk, 4) == size:
                return BYTES, 5
        elif tail >= 9 and chunk[-9] == _BINBYTES8 and _le(chunk, 8) == size:
            return BYTES, 9
    return -1, 0


def _le(chunk: bytes, width: int) -> int:
    """The little-endian unsigned int in the last ``width`` bytes of ``chunk``."""
    return int.from_bytes(chunk[-width:], "little")


def dumps(value: Any) -> bytes | Packed:
    """The pickle of ``value``, with its large buffers beside it (a :data:`Packed`), or
    just the pickle if it has none.

    Pickled by the plain pickler first; by :class:`_Hooked` if that fails (a
    ``memoryview``), or if the pickle rebuilds an ``array.array`` and has a large
    ``bytes`` beside it (so that the array's memory crosses once, not as a copy made by
    its ``__reduce__``).  What neither can send (lambdas, closures, instances of
    classes defined in a function or in a script-less ``__main__``) is pickled by
    value with cloudpickle (:func:`by_value`); if that fails too, :class:`_Hooked`'s
    error is raised."""
    try:
        result = _dumps(value)
    except Exception:  # noqa: BLE001 - a memoryview, or worse: try the others
        try:
            return _fresh(_Hooked, value)
        except Exception as exc:  # noqa: BLE001 - any pickling error: try by value
            try:
                return by_value(value)
            except Exception:  # noqa: BLE001 - report our own pickler's error
                raise exc from None
    if type(result) is tuple and BYTES in result[2] and _ARRAY_MARK in result[0]:
        return _fresh(_Hooked, value)
    return result


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
    file = io.BytesIO()
    pickler = _cloud_pickler()(file, None, {})
    if itself:
        pickler.itself = value
    pickler.dump(value)
    return file.getvalue()


def dumps_in_band(value: Any) -> bytes:
    """``value`` pickled as :func:`dumps` does (memoryviews and arrays included), but
    with every buffer inside the pickle: for a value read after its sender may be gone
    (a channel's item)."""
    data = _fresh(_Hooked, value, in_band=True)
    assert isinstance(data, bytes)  # in band: no buffers beside it
    return data


def _fresh(pickler: Any, value: Any, in_band: bool = False) -> bytes | Packed:
    """``value`` pickled by a new ``pickler(file, buffer_callback, ours)``; with
    ``in_band``, every buffer inside the pickle."""
    ours: dict[int, pickle.PickleBuffer] = {}
    if in_band:
        file = io.BytesIO()
        pickler(file, None, ours).dump(value)
        return file.getvalue()
    out: list[Any] = []
    pickler(_Sink(out), out.append, ours).dump(value)
    return _assemble(out, ours)


_CloudPickler: Any = None


def _cloud_pickler() -> Any:
    global _CloudPickler
    if _CloudPickler is None:
        import types

        import cloudpickle  # type: ignore[import-untyped]

        class CloudPickler(cloudpickle.Pickler):  # type: ignore[misc]
            itself: Any = None  # see by_value_in_band

            def __init__(
                self, file: Any, callback: Any, ours: dict[int, pickle.PickleBuffer]
            ) -> None:
                super().__init__(file, protocol=5, buffer_callback=callback)
                self._ours = ours

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
        return _fresh(_Plain, value)
    cached.busy = True
    try:
        cached.pickler.dump(value)
        return _assemble(cached.out, {})
    finally:
        cached.out.clear()
        cached.pickler.clear_memo()
        cached.busy = False


#: True in a worker: the views it receives are of the main interpreter's memory, which
#: outlives it, so a rebuilt ``memoryview`` may keep sharing it.
keep_views = False


def loads(packed: Packed, unpickler: Any = pickle.Unpickler, foreign: bool = False) -> Any:
    """Rebuild a value from :func:`dumps`'s :data:`Packed` form, with
    ``unpickler(file, buffers=...)``.

    ``bytes`` and ``bytearray`` buffers are copied once into objects of their type
    (the pickle's ``NEXT_BUFFER`` pushes them as they are).  ``foreign``: the views
    are of memory this interpreter does not own (a worker's), so a user's
    ``PickleBuffer`` is copied too, and nothing keeps a view of it."""
    data, views, kinds = packed
    buffers: list[Any] = []
    for view, kind in zip(views, kinds, strict=True):
        if kind == BYTES:
            buffers.append(view.tobytes())
        elif kind == BYTEARRAY:
            buffers.append(bytearray(view))
        elif kind == USER and foreign:
            buffers.append(view.tobytes() if view.readonly else bytearray(view))
        else:
            buffers.append(view)
    return unpickler(io.BytesIO(data), buffers=buffers).load()


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

"""Task functions for the buffer tests (imported by the workers by name)."""

from __future__ import annotations

import array
import hashlib
import pickle
from typing import Any

#: ``id()`` of the last ``bytes`` made by :func:`make_bytes` in this worker.
LAST_ID = 0
KEPT = b""


def make_bytes(n: int, fill: int = 0xAA) -> bytes:
    """A fresh ``bytes`` of ``n`` bytes; remembers its id."""
    global LAST_ID
    data = bytes([fill]) * n
    LAST_ID = id(data)
    return data


def last_id() -> int:
    return LAST_ID


def kept_bytes(n: int) -> bytes:
    """A ``bytes`` the worker keeps a reference to (it must be copied, not handed over)."""
    global KEPT
    if len(KEPT) != n:
        KEPT = bytes(range(256)) * (n // 256)
    return KEPT


def kept_digest() -> str:
    return hashlib.sha256(KEPT).hexdigest()


def digest(data: Any) -> tuple[str, str, int]:
    """What the worker saw: type name, sha256 of the bytes, and the length."""
    return type(data).__name__, hashlib.sha256(memoryview(data).cast("B")).hexdigest(), len(data)


def describe_view(view: memoryview) -> tuple[str, tuple[int, ...], bool, bool, int]:
    return view.format, view.shape, view.readonly, view.c_contiguous, view.nbytes


def fill_view(view: memoryview, value: int) -> int:
    """Write ``value`` into every byte of ``view`` (shared with the caller)."""
    raw = view.cast("B")
    raw[:] = bytes([value]) * len(raw)
    return len(raw)


def make_bytearray(n: int, fill: int = 0x55) -> bytearray:
    return bytearray([fill]) * n


def make_array(typecode: str, n: int) -> array.array[Any]:
    return array.array(typecode, range(n))


def make_view(n: int) -> memoryview:
    """A writable 2-D memoryview of doubles, made in the worker."""
    data = array.array("d", [float(i) for i in range(n * 4)])
    return memoryview(data).cast("B").cast("d", (n, 4))


def same_object_twice(items: list[Any]) -> bool:
    return items[0] is items[1]


def echo(value: Any) -> Any:
    return value


def nested(n: int) -> dict[str, Any]:
    return {
        "ba": bytearray(b"x" * n),
        "views": [memoryview(bytearray(b"y" * n))],
        "arr": array.array("i", range(n // 4)),
        "small": bytearray(b"z" * 10),
    }


class Blob:
    """A user type that pickles its payload out of band, as numpy arrays do."""

    def __init__(self, data: bytearray) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: Any) -> Any:
        if protocol >= 5:
            return Blob._rebuild, (pickle.PickleBuffer(self.data),)
        return Blob, (self.data,)

    @staticmethod
    def _rebuild(buffer: Any) -> Blob:
        return Blob(bytearray(buffer))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blob) and self.data == other.data

    __hash__ = None  # type: ignore[assignment]


def make_blob(n: int) -> Blob:
    return Blob(bytearray(b"q" * n))


def blob_size(blob: Blob) -> int:
    return len(blob.data)


def make_many(count: int, n: int) -> list[bytes]:
    return [bytes([i % 256]) * n for i in range(count)]


STASH: list[Any] = []


def stash(view: memoryview) -> int:
    """Keep a view of the caller's memory after the task (the caller's buffer stays
    exported until :func:`drop_stash`)."""
    STASH.append(view)
    return len(view)


def drop_stash() -> int:
    n = len(STASH)
    STASH.clear()
    return n


def break_handoff() -> None:
    """Make this worker's handover machinery fail to load (as a failed ctypes import
    would)."""
    from interpool._wire import handoff

    def fail() -> None:
        raise ImportError("simulated: ctypes cannot be imported")

    handoff._api = None
    handoff._load = fail  # type: ignore[assignment]

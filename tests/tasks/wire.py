"""Task functions for the wire tests (``tests/unit/test_wire_out_of_band.py``)."""

from __future__ import annotations

import hashlib
from typing import Any

MIB = 1024 * 1024


class Record:
    """A user object that holds a large bytes-like in an attribute."""

    def __init__(self, name: str, payload: Any) -> None:
        self.name = name
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Record
            and self.name == other.name
            and type(self.payload) is type(other.payload)
            and self.payload == other.payload
        )

    __hash__ = None  # type: ignore[assignment]


class Tagged(bytes):
    """A ``bytes`` subclass: it must keep its type across."""


def deep(n: int) -> dict[str, Any]:
    """Large bytes-likes at several depths, made in the worker."""
    return {
        "top": b"a" * n,
        "list": [1, [2, (3, bytearray(b"b" * n))]],
        "record": Record("r", b"c" * n),
        "tagged": Tagged(b"d" * n),
        "text": "e" * n,
        "small": b"f" * 10,
    }


def types_and_digests(value: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """What the worker received at each place of a :func:`deep` value."""
    places = {
        "top": value["top"],
        "list": value["list"][1][1][1],
        "record": value["record"].payload,
        "tagged": value["tagged"],
        "text": value["text"].encode(),
        "small": value["small"],
    }
    return {
        key: (type(obj).__name__, hashlib.sha256(obj).hexdigest()) for key, obj in places.items()
    }


def same_twice(items: list[Any]) -> bool:
    return items[0] is items[1]


def echo(value: Any) -> Any:
    return value


class Dummy:
    """A result that can be weakly referenced (see ``test_map_free_reference``)."""

    def __init__(self, i: int) -> None:
        self.i = i


def make_dummy(i: int) -> Dummy:
    return Dummy(i)

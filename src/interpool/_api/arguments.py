"""Checks of the user's arguments shared by the API's entry points, with errors that
name the argument and the fix.

The standard library's conventions: ``TypeError`` for a value of the wrong type,
``ValueError`` for a value of the right type out of range, with
``concurrent.futures``' own wording where it has the same check (``buffersize must be
an integer or None``, ``buffersize must be None or > 0``, ``max_workers must be
greater than 0``).  A ``bool`` is refused where a number is expected (``TypeError``).

Imported by channels in every worker interpreter: it must stay free of imports beyond
``time``.
"""

from __future__ import annotations

import time

__all__ = ["check_count", "check_max_workers", "check_seconds", "deadline"]

_monotonic = time.monotonic


def check_seconds(name: str, value: float | None) -> float | None:
    """``value`` as a positive float of seconds, or ``None``.  For a time limit set up
    front (a pool's or actor's ``task_timeout``, ``idle_timeout``).  ``TypeError``
    unless a number (an ``int`` or ``float``, not a ``bool``), ``ValueError`` unless
    positive and finite."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be None or a positive number of seconds, got {value!r}")
    return float(value)


def check_count(name: str, value: int | None) -> None:
    """For a count that may be left out (``buffersize``, ``chunksize``, ``window``,
    ``max_tasks_per_worker``): ``TypeError`` unless ``None`` or an ``int`` (not a
    ``bool``), ``ValueError`` unless positive; in ``Executor.map``'s words."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be None or > 0, got {value!r}")


def check_max_workers(value: int | None) -> None:
    """``max_workers``: ``None`` or an ``int`` greater than 0, in the words of the
    standard library's executors (``TypeError`` for another type, ``bool`` included)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_workers must be an integer or None, got {value!r}")
    if value < 1:
        raise ValueError(f"max_workers must be greater than 0, got {value!r}")


def deadline(
    timeout: float | None, bool_hint: str = "", *, negative_ok: bool = False
) -> float | None:
    """The ``time.monotonic()`` at which ``timeout`` seconds from now pass, or ``None``
    for no limit.  For the ``timeout`` of a call that waits (channels' ``get`` and
    ``put``, ``map``'s and ``imap``'s results).

    ``TypeError`` unless a number (``bool_hint`` ends the message for a bool, taken
    for a ``block`` flag), ``ValueError`` if negative or NaN, unless ``negative_ok``
    (``concurrent.futures``' rule for ``map``: such a deadline has passed already)."""
    if timeout is None:
        return None
    if type(timeout) is bool or not isinstance(timeout, (int, float)):
        hint = bool_hint if type(timeout) is bool else ""
        raise TypeError(
            f"interpool: timeout must be a number of seconds or None, not "
            f"{type(timeout).__name__}{hint}"
        )
    if not negative_ok and not timeout >= 0:  # also NaN
        raise ValueError(f"interpool: timeout must be >= 0 seconds (or None), not {timeout!r}")
    return _monotonic() + timeout

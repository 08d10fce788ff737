"""Checks of the user's arguments shared by the API's entry points, with errors that
name the argument and the fix."""

from __future__ import annotations

__all__ = ["check_seconds"]


def check_seconds(name: str, value: float | None) -> float | None:
    """``value`` as a positive float of seconds, or ``None``; ``ValueError`` if not."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or value == float("inf")
    ):
        raise ValueError(f"{name} must be None or a positive number of seconds, got {value!r}")
    return float(value)

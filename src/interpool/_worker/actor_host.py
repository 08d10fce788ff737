"""The worker side of actors (see ``_api.actor``): where their instances live.

An actor's interpreter imports this module when it runs the actor's first task
(``create``); every later call of a method is an ordinary pool task, ``call``.
Instances are kept in a registry by actor id for the interpreter's life.  A call
that finds no instance (this interpreter is not the one that made it: the actor's
worker was replaced after a call was interrupted; or ``__init__`` raised) raises
:class:`ActorGone`, which the caller turns into ``interpool.ActorLost``: a call must
never run on a fresh, silently re-made instance.

Imported in worker interpreters: it must stay free of heavy imports.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is slow to import, and every worker would pay for it
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ActorGone", "call", "create", "forget"]

#: actor id -> its instance, in this interpreter.
_instances: dict[int, Any] = {}
#: actor id -> why its creation failed here (``"ValueError: ..."``).
_failed: dict[int, str] = {}


class ActorGone(LookupError):
    """This interpreter holds no instance for the actor.  Internal: the caller turns
    it into ``interpool.ActorLost``, with what it knows of the reason."""


def create(actor_id: int, cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Make ``cls(*args, **kwargs)`` the instance of actor ``actor_id``.  Its error,
    if any, is the task's error."""
    try:
        _instances[actor_id] = cls(*args, **kwargs)
    except BaseException as exc:
        try:
            _failed[actor_id] = f"{type(exc).__qualname__}: {exc}"
        except BaseException:  # noqa: BLE001 - a broken __str__
            _failed[actor_id] = type(exc).__qualname__
        raise


def call(actor_id: int, name: str, /, *args: Any, **kwargs: Any) -> Any:
    """Call method ``name`` of actor ``actor_id``'s instance (positional-only
    parameters: the method's own keyword arguments may use any name)."""
    try:
        instance = _instances[actor_id]
    except KeyError:
        raise _gone(actor_id) from None
    return getattr(instance, name)(*args, **kwargs)


def forget(actor_id: int) -> None:
    """Drop the actor's instance (the threads backend, whose instances live in the
    caller's interpreter, calls it when the actor is closed)."""
    _instances.pop(actor_id, None)
    _failed.pop(actor_id, None)


def _gone(actor_id: int) -> ActorGone:
    failed = _failed.get(actor_id)
    if failed is not None:
        return ActorGone(f"its creation failed: {failed}")
    return ActorGone(
        "its instance is not in this worker interpreter: the interpreter it lived in "
        "was replaced (a call was interrupted or the worker failed) and its state is lost"
    )

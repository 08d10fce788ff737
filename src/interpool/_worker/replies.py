"""The result messages a worker sends (see ``_wire.protocol``), and the memory they
share with the caller.

Both senders use it: the worker loop (``_worker.loop``) and, for coroutines, the
worker's event loop (``_worker.coroutines``).  A result is encoded with
``transport.dump``; a large ``bytes`` result is handed over whole (``_wire.handoff``);
a :data:`~interpool._wire.protocol.BUFFERS` payload's views are of this interpreter's
memory, and are held (:func:`hold_views`) until the caller has copied them
(:func:`release_views`).

Imported in worker interpreters: it must stay free of heavy imports.
"""

from __future__ import annotations

from interpool._wire import handoff
from interpool._wire.buffers import PACKED_VIEWS
from interpool._wire.errors import encode_error, unsendable_result
from interpool._wire.protocol import BUFFERS, NATIVE, R_STATUS, R_VALUE
from interpool._wire.transport import dump

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "HANDOFF_MIN",
    "RELEASE_POLL_SECONDS",
    "call_reply",
    "chunk_reply",
    "hold_views",
    "release_views",
    "value_reply",
]

#: The smallest ``bytes`` result handed over whole, or ``-1`` when hand-over is off.
HANDOFF_MIN = handoff.MIN_SIZE if handoff.enabled else -1

#: How often a worker checks whether the caller is done with its results' buffers.
RELEASE_POLL_SECONDS = 0.002


def value_reply(task_id: int, value: Any) -> tuple[int, int, Any, tuple[Any, ...]]:
    """The result message of a call that returned ``value``; raises ``TypeError`` if
    ``value`` cannot be sent."""
    try:
        return (task_id, *dump(value), ())
    except Exception as exc:
        raise unsendable_result(value, exc) from exc


def call_reply(task_id: int, box: list[Any]) -> tuple[int, int, Any, Any]:
    """The result message of a call whose value is ``box``'s only item (in a list so
    that a large ``bytes`` value, referred to by nothing else, can be handed over
    whole: see ``_wire.handoff``)."""
    if type(box[0]) is bytes and HANDOFF_MIN > 0:
        handed = _hand_over(box)  # may take it whole
        if handed:
            return (task_id, NATIVE, None, handed)
    return value_reply(task_id, box.pop())


def chunk_reply(task_id: int, results: list[Any], error: Any) -> tuple[int, int, Any, Any]:
    """The result message of a ``map`` chunk: its ``results``, up to the first call
    that raised, and that call's encoded ``error`` (or ``None``)."""
    handed = _hand_over(results)
    try:
        return (task_id, *dump((tuple(results), error)), handed)
    except Exception as exc:
        for i, address in handed:  # take back what was handed over, or it leaks
            results[i] = handoff.adopt(address)
        # As for a call that raised: the results before the first one that cannot
        # cross, then the error for that one.
        for i, value in enumerate(results):
            try:
                dump(value)
            except Exception as inner:  # noqa: BLE001 - becomes the item's error
                error = encode_error(unsendable_result(value, inner))
                return (task_id, *dump((tuple(results[:i]), error)), ())
        raise unsendable_result(results, exc) from exc


def _hand_over(results: list[Any]) -> tuple[tuple[int, int], ...]:
    """Hand over (see ``_wire.handoff``) each large ``bytes`` in ``results`` that
    nothing else in this interpreter refers to; its place in ``results`` then holds
    ``None``.  Return the ``(index, address)`` pairs of what was handed over."""
    if HANDOFF_MIN < 0:
        return ()
    handed = []
    for i in range(len(results)):
        if type(results[i]) is bytes and len(results[i]) >= HANDOFF_MIN:
            box = [results[i]]
            results[i] = None
            address = handoff.give(box)
            if address is None:
                results[i] = box.pop()
            else:
                handed.append((i, address))
    return tuple(handed)


def hold_views(message: Any, held: list[memoryview]) -> None:
    """Add the out-of-band views of a sent result ``message`` to ``held``: the caller
    reads them until it has copied them (see :func:`release_views`)."""
    if message[R_STATUS] == BUFFERS:
        held.extend(message[R_VALUE][PACKED_VIEWS])


def release_views(held: list[memoryview]) -> None:
    """Release the views in ``held`` that the caller no longer reads; keep the rest."""
    kept = []
    for view in held:
        try:
            view.release()
        except BufferError:
            kept.append(view)
    held[:] = kept

"""Timelines of a pool's tasks, in the Chrome trace-event JSON format.

``Pool(trace="run.json")`` records from the pool's start to its shutdown;
``with pool.trace("run.json"):`` records the tasks that end inside the block.  Each
is a :class:`Trace`: it asks the pool's recorder (``_engine.stats``) for the spans
of the tasks that end meanwhile, and writes them once, when closed, as a JSON object
(``{"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}``) that
ui.perfetto.dev and chrome://tracing open:

* a ``process_name`` metadata event naming the pool, and per worker (lane) a
  ``thread_name`` and a ``thread_sort_index`` event: ``tid`` is the worker's number
  in ``Pool.stats()``; coroutines (``async def`` tasks on a worker's event loop,
  which overlap) get a lane of their own per worker, ``tid`` 1000 + the number;
* per task a complete event (``"ph": "X"``), named after its function, with ``ts``
  and ``dur`` in microseconds since the pool started, and in ``args``: ``kind``
  (``"call"`` or ``"map"``: a ``map`` chunk is one task), ``failed``, and
  ``sent_bytes`` and ``received_bytes``, the size of its arguments and of its
  result as they crossed (see :func:`interpool._engine.stats.wire_size`), ``null``
  where nothing was encoded (the threads backend).

The file is written whole (to a temporary file renamed over ``path``) when the trace
closes; a process that dies first (a crash, ``SIGKILL``) writes nothing.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from interpool._engine.stats import Recorder, Span

__all__ = ["COROUTINE_LANES", "Trace"]

#: The ``tid`` of worker N's coroutines is ``COROUTINE_LANES + N``.
COROUTINE_LANES = 1000


class Trace:
    """A trace recording from ``recorder`` into ``path`` until :meth:`close`."""

    def __init__(self, recorder: Recorder, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._recorder = recorder
        self._lock = threading.Lock()
        self._spans: list[Span] | None = recorder.trace_begin()

    def close(self) -> None:
        """Stop recording and write the file (once: later calls do nothing)."""
        with self._lock:
            spans, self._spans = self._spans, None
            if spans is None:
                return
            self._recorder.trace_end(spans)
            events = trace_events(self._recorder, spans)
            partial = f"{self.path}.partial"
            with open(partial, "w", encoding="utf-8") as out:
                json.dump(events, out)
            os.replace(partial, self.path)


def trace_events(recorder: Recorder, spans: list[Span]) -> dict[str, Any]:
    """The JSON object of a trace of ``spans`` (see the module docstring)."""
    pid = os.getpid()
    born = recorder.born
    describe = recorder.name
    names: dict[Any, str] = {}
    events: list[dict[str, Any]] = [
        {
            "name": "process_name",
            "ph": "M",
            "pid": pid,
            "tid": 0,
            "args": {"name": f"interpool {recorder.backend} pool (pid {pid})"},
        }
    ]
    worker_names = recorder.worker_names()
    lanes = set(worker_names)
    for span in spans:
        lane = span.worker + (COROUTINE_LANES if span.coroutine else 0)
        lanes.add(lane)
        name = names.get(span.function)
        if name is None:
            name = names[span.function] = describe(span.function)
        events.append(
            {
                "name": name,
                "cat": span.kind,
                "ph": "X",
                "ts": round((span.start - born) * 1e6, 3),
                "dur": round(max(0.0, span.end - span.start) * 1e6, 3),
                "pid": pid,
                "tid": lane,
                "args": {
                    "kind": span.kind,
                    "failed": span.failed,
                    "sent_bytes": span.sent,
                    "received_bytes": span.received,
                },
            }
        )
    for lane in sorted(lanes):
        number = lane % COROUTINE_LANES
        name = worker_names.get(number) or f"{recorder.noun} {number}"
        if lane >= COROUTINE_LANES:
            name += " (coroutines)"
        events.append(
            {"name": "thread_name", "ph": "M", "pid": pid, "tid": lane, "args": {"name": name}}
        )
        events.append(
            {
                "name": "thread_sort_index",
                "ph": "M",
                "pid": pid,
                "tid": lane,
                "args": {"sort_index": lane},
            }
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"backend": recorder.backend, "max_workers": recorder.max_workers},
    }

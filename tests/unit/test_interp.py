"""``interpool._platform.interpreters``: the interpreters API interpool uses, the same on every
supported Python (``concurrent.interpreters`` on 3.14+, rebuilt on 3.13)."""

from __future__ import annotations

import sys

import pytest

from interpool._platform import interpreters as _interp

VALUES = [
    None,
    True,
    7,
    -(2**100),  # wider than 64 bits: 3.13's queues cannot share it, so it is pickled
    2.5,
    "text",
    b"bytes",
    (1, ("nested", None), b"x"),
    {"a": [1, 2]},  # not shareable: pickled
]


def test_the_module_matches_the_running_python() -> None:
    assert (sys.version_info >= (3, 14)) == _interp.HAVE_STDLIB_MODULE
    if _interp.HAVE_STDLIB_MODULE:
        from concurrent import interpreters

        assert _interp.Queue is interpreters.Queue
        assert _interp.Interpreter is interpreters.Interpreter


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_cross_a_queue(value: object) -> None:
    queue = _interp.create_queue()
    queue.put_nowait(value)
    assert queue.qsize() == 1
    assert queue.get_nowait() == value
    _interp.queue_put(queue.id, value)
    assert _interp.queue_get(queue.id) == (value, None)


def test_empty_and_full() -> None:
    queue = _interp.create_queue(1)
    assert queue.maxsize == 1
    assert queue.empty()
    with pytest.raises(_interp.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait("a")
    assert queue.full()
    with pytest.raises(_interp.QueueFull):
        queue.put_nowait("b")
    with pytest.raises(_interp.QueueFull):
        queue.put("b", timeout=0.05)
    assert queue.get(timeout=1) == "a"
    with pytest.raises(_interp.QueueEmpty):
        queue.get(timeout=0.05)


def test_one_queue_object_per_id() -> None:
    queue = _interp.create_queue()
    assert _interp.Queue(queue.id) is queue


def test_an_interpreter_runs_code_and_reports_errors() -> None:
    interp = _interp.create()
    try:
        assert interp.id in {i.id for i in _interp.list_all()}
        assert _interp.get_current().id == _interp.get_main().id != interp.id
        queue = _interp.create_queue()
        shared = bytearray(b"abc")
        # A memoryview into a fresh interpreter (3.13 needs _interpreters there first).
        interp.prepare_main(path=tuple(sys.path), qid=queue.id, n=20, view=memoryview(shared))
        interp.exec(
            "import sys\n"
            "sys.path[:] = path\n"
            "from interpool._platform.interpreters import get_current, queue_put\n"
            "queue_put(qid, (get_current().id, sum(range(n)), bytes(view)))\n"
            "del view\n"
        )
        assert queue.get_nowait() == (interp.id, 190, b"abc")
        with pytest.raises(_interp.ExecutionFailed, match="ZeroDivisionError"):
            interp.exec("1 / 0")
    finally:
        interp.close()
    assert interp.id not in {i.id for i in _interp.list_all()}

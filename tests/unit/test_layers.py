"""The worker side stays light: what a worker interpreter imports to run the loop
(``interpool._worker.loop``) loads neither the caller's machinery (asyncio, typing,
concurrent.futures) nor the caller's layers (engine, backends, API).

The import contracts in pyproject.toml (``lint-imports``) check the static imports;
this checks what a fresh sub-interpreter really has in ``sys.modules`` afterwards, lazy
and indirect imports included.  The interpreters module is interpool's own shim, as in
the code: ``concurrent.interpreters`` on 3.14+, rebuilt on 3.13."""

from __future__ import annotations

import sys

import pytest

from interpool._platform import interpreters

pytestmark = pytest.mark.timeout(60)

#: What only the caller needs: a worker pays for each of them in its start-up time.
CALLER_MODULES = ("asyncio", "typing", "concurrent.futures")

#: The caller's layers (``_worker`` and ``_wire`` never import them).
CALLER_LAYERS = ("interpool._api", "interpool._backends", "interpool._engine", "interpool._tools")


def loaded_in_a_fresh_interpreter(module: str) -> tuple[list[str], list[str]]:
    """Import ``module`` in a new sub-interpreter (default config, the caller's
    ``sys.path``); return the modules it had before the import and those it has after."""
    interp = interpreters.create()
    try:
        queue = interpreters.create_queue()
        interp.prepare_main(path=tuple(sys.path), qid=queue.id, module=module)
        interp.exec(
            "import sys\n"
            "sys.path[:] = path\n"
            "before = tuple(sys.modules)\n"
            "__import__(module)\n"
            "from interpool._platform.interpreters import queue_put\n"
            "queue_put(qid, (before, tuple(sys.modules)))\n"
        )
        before, after = queue.get(timeout=10)
    finally:
        interp.close()
    return list(before), list(after)


def test_the_worker_loop_loads_none_of_the_callers_modules() -> None:
    before, after = loaded_in_a_fresh_interpreter("interpool._worker.loop")
    assert "interpool._worker.loop" in after
    assert not [name for name in CALLER_MODULES if name in before], "loaded at start-up"
    assert [name for name in CALLER_MODULES if name in after] == []


def test_the_worker_loop_loads_none_of_the_callers_layers() -> None:
    _, after = loaded_in_a_fresh_interpreter("interpool._worker.loop")
    loaded = [name for name in after if name.startswith(CALLER_LAYERS)]
    assert loaded == []
    assert "interpool.dask_worker" not in after

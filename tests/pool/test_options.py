"""``Pool(interpreter=...)``: how worker interpreters are created.

What each preset does to the workers (their config as CPython reports it, parallel or
not, which imports and threads work), the checks made before any worker starts, and
the whole API on a pool of shared-GIL ("legacy") workers."""

from __future__ import annotations

import _interpreters
import asyncio
import concurrent.futures as cf
import functools
import importlib.util
import itertools
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import interpool
from interpool._engine.interpreter_options import (
    DAEMON_THREADS_SUPPORTED,
    InterpreterOptions,
    create_interpreter,
)
from interpool._wire import handoff as _handoff

from ..support import (
    PATIENCE,
    assert_clean_stderr,
    interpreter_ids,
    pool_threads,
    run_python,
    run_together,
    wait_until,
)
from ..tasks import basic as tasks
from ..tasks import buffers as bt
from ..tasks import coroutines as at
from ..tasks import interrupts as it
from ..tasks import options as ot

MIB = 1024 * 1024

ISOLATED = InterpreterOptions.isolated()
LEGACY = InterpreterOptions.legacy()
ISOLATED_DAEMONS = InterpreterOptions.isolated(allow_daemon_threads=True)
NEEDS_DAEMONS = pytest.mark.skipif(
    not DAEMON_THREADS_SUPPORTED, reason="Python 3.13 aborts on destroying a daemon thread"
)


@pytest.fixture(scope="module")
def legacy_pool() -> Iterator[interpool.Pool]:
    """A warm two-worker pool of "legacy" (shared-GIL) workers."""
    with interpool.Pool(2, interpreter="legacy") as p:
        run_together(p)
        yield p


# -- the options ----------------------------------------------------------------------


def test_presets_are_cpythons_named_configs() -> None:
    assert ISOLATED.as_dict() == vars(_interpreters.new_config("isolated"))
    legacy = vars(_interpreters.new_config("legacy"))
    if not DAEMON_THREADS_SUPPORTED:  # 3.13: off in the preset (see the next test)
        legacy["allow_daemon_threads"] = False
    assert LEGACY.as_dict() == legacy
    assert InterpreterOptions() == ISOLATED
    assert ISOLATED.parallel
    assert not LEGACY.parallel


def test_presets_take_changes() -> None:
    options = InterpreterOptions.isolated(allow_daemon_threads=True)
    assert options == InterpreterOptions(allow_daemon_threads=True)
    assert options.gil == "own"
    assert InterpreterOptions.legacy(check_multi_interp_extensions=True).gil == "shared"


def test_options_are_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        ISOLATED.gil = "shared"  # type: ignore[misc]
    assert len({ISOLATED, InterpreterOptions(), LEGACY}) == 2


def test_default_gil_means_shared() -> None:
    options = InterpreterOptions(gil="default")
    assert options.gil == "shared"
    assert options == InterpreterOptions(gil="shared")


def test_own_gil_needs_its_own_allocator() -> None:
    """Documented by CPython (``PyInterpreterConfig.gil``), not checked by it."""
    with pytest.raises(ValueError, match=r'gil="own" needs use_main_obmalloc=False') as info:
        InterpreterOptions(gil="own", use_main_obmalloc=True)
    assert 'gil="shared"' in str(info.value)  # the ways out
    assert "legacy" in str(info.value)
    with pytest.raises(ValueError, match="use_main_obmalloc=False"):
        InterpreterOptions.legacy(gil="own")


def test_own_allocator_needs_the_extension_check() -> None:
    """CPython's ``init_interp_settings`` refuses it; we say so before it can."""
    with pytest.raises(
        ValueError, match="use_main_obmalloc=False needs check_multi_interp_extensions=True"
    ) as info:
        InterpreterOptions(check_multi_interp_extensions=False)
    assert "single-phase init" in str(info.value)
    assert "legacy" in str(info.value)
    with pytest.raises(ValueError, match="check_multi_interp_extensions"):
        InterpreterOptions(gil="shared", check_multi_interp_extensions=False)


@pytest.mark.parametrize(
    "field", ["use_main_obmalloc", "allow_fork", "allow_daemon_threads", "allow_threads"]
)
def test_flags_must_be_bools(field: str) -> None:
    """As in CPython's ``interpconfig.c``: ``True`` or ``False``, not truthy values."""
    with pytest.raises(TypeError, match=f"{field} must be True or False, got 1"):
        InterpreterOptions(**{field: 1})


def test_unknown_gil_is_refused() -> None:
    with pytest.raises(ValueError, match=r'gil must be "own", "shared" or "default"'):
        InterpreterOptions(gil="mine")  # type: ignore[arg-type]


def test_the_rules_match_what_cpython_creates() -> None:
    """Every combination of GIL, allocator and extension check: what we accept, CPython
    creates, with exactly those settings; what we refuse for the allocator rule, CPython
    refuses too.  (An own GIL with the main allocator, which CPython would create and
    which then corrupts memory, is not tried.)"""
    for gil, main_alloc, check in itertools.product(
        ("own", "shared"), (False, True), (False, True)
    ):
        fields: dict[str, Any] = {
            "gil": gil,
            "use_main_obmalloc": main_alloc,
            "check_multi_interp_extensions": check,
        }
        try:
            options = InterpreterOptions(**fields)
        except ValueError:
            if gil == "own" and main_alloc:
                continue
            config = _interpreters.new_config("isolated", **fields)
            with pytest.raises(_interpreters.InterpreterError):
                _interpreters.destroy(_interpreters.create(config))
            continue
        interp = create_interpreter(options)
        try:
            got = InterpreterOptions.from_config(_interpreters.get_config(interp.id))
        finally:
            interp.close()
        assert got == options, fields


def test_from_config_reads_dicts_and_namespaces() -> None:
    config = _interpreters.new_config("legacy")
    cpython_legacy = InterpreterOptions.legacy(allow_daemon_threads=True)  # as on 3.14+
    assert InterpreterOptions.from_config(config) == cpython_legacy
    assert InterpreterOptions.from_config(vars(config)) == cpython_legacy


# -- what Pool accepts ------------------------------------------------------------------


def test_pool_refuses_options_without_threads_before_starting_anything() -> None:
    before_interps, before_threads = interpreter_ids(), pool_threads()
    with pytest.raises(ValueError, match="need allow_threads=True") as info:
        interpool.Pool(1, interpreter=InterpreterOptions(allow_threads=False))
    assert "watchdog" in str(info.value)
    assert "event-loop thread" in str(info.value)
    assert interpreter_ids() == before_interps
    assert pool_threads() == before_threads


@pytest.mark.parametrize("bad", ["empty", "default", "Isolated", ""])
def test_pool_refuses_unknown_preset_names(bad: str) -> None:
    with pytest.raises(ValueError, match='interpreter must be "isolated", "legacy"'):
        interpool.Pool(1, interpreter=bad)  # type: ignore[arg-type]


def test_pool_explains_the_empty_preset() -> None:
    with pytest.raises(ValueError, match="allows no threads"):
        interpool.Pool(1, interpreter="empty")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1, {"gil": "own"}, _interpreters.new_config("isolated")])
def test_pool_refuses_other_types(bad: object) -> None:
    with pytest.raises(TypeError, match="InterpreterOptions"):
        interpool.Pool(1, interpreter=bad)  # type: ignore[arg-type]


def test_the_default_is_isolated(pool: interpool.Pool) -> None:
    assert pool.interpreter_options == ISOLATED
    with interpool.Pool(1, interpreter=None) as default:
        assert default.interpreter_options == ISOLATED


def test_exported_from_the_package() -> None:
    assert interpool.InterpreterOptions is InterpreterOptions
    assert "InterpreterOptions" in interpool.__all__
    assert "InterpreterOptions" in dir(interpool)


# -- what the workers get ---------------------------------------------------------------


def _worker_configs(pool: interpool.Pool) -> dict[int, dict[str, Any]]:
    """Each worker's config, as reported inside it (all workers at once)."""
    found = dict(run_together(pool, ot.config_together))
    assert len(found) == pool.max_workers
    return found


@pytest.mark.parametrize(
    "interpreter",
    ["isolated", "legacy", pytest.param(ISOLATED_DAEMONS, marks=NEEDS_DAEMONS)],
    ids=["isolated", "legacy", "isolated+daemon"],
)
def test_every_worker_gets_the_options(interpreter: Any) -> None:
    with interpool.Pool(2, interpreter=interpreter) as pool:
        expected = pool.interpreter_options
        for interp_id, config in _worker_configs(pool).items():
            assert InterpreterOptions.from_config(config) == expected
            # The same, asked from the caller's side.
            seen = InterpreterOptions.from_config(_interpreters.get_config(interp_id))
            assert seen == expected


def test_replacement_workers_get_the_options_too() -> None:
    """A worker replaced after a time limit (and one recycled) is created the same way."""
    options = InterpreterOptions.legacy(allow_fork=False)
    with interpool.Pool(1, interpreter=options, max_tasks_per_worker=2) as pool:
        first, _ = pool.submit(ot.config).result(timeout=PATIENCE)
        with pytest.raises(TimeoutError):
            pool.options(task_timeout=0.2).submit(it.spin_forever).result(timeout=PATIENCE)
        second, config = pool.submit(ot.config).result(timeout=PATIENCE)
        assert second != first
        assert InterpreterOptions.from_config(config) == options
        pool.submit(ot.config).result(timeout=PATIENCE)  # its 2nd task: recycled after
        fourth, config = pool.submit(ot.config).result(timeout=PATIENCE)
        assert fourth != second
        assert InterpreterOptions.from_config(config) == options


# -- parallel or not --------------------------------------------------------------------


def _spin_pair(pool: interpool.Pool, seconds: float) -> tuple[float, float]:
    """Two CPU-bound calls that start together on the two workers of ``pool``: the CPU
    time they got in all, and the wall time from the first start to the last end."""
    runs = run_together(pool, functools.partial(ot.spin_together, seconds=seconds))
    starts, ends, cpus = zip(*runs, strict=True)
    assert min(ends) - max(starts) > seconds / 2, "the two calls did not overlap"
    return sum(cpus), max(ends) - min(starts)


def test_isolated_workers_run_cpu_bound_calls_at_once(pool: interpool.Pool) -> None:
    """Two CPU-bound calls start together (a rendezvous), each in a worker with a GIL
    of its own."""
    runs = run_together(pool, functools.partial(ot.spin_together, seconds=0.05))
    assert len(runs) == 2
    assert {config["gil"] for config in _worker_configs(pool).values()} == {"own"}


def _gil_rendezvous(pool: interpool.Pool, timeout: float) -> list[bool]:
    """Run ``ot.gil_rendezvous`` on the two workers of ``pool`` at once."""
    shared = bytearray(64 * 1024)  # large enough to cross as a shared view
    with tempfile.TemporaryDirectory() as directory:
        futures = [
            pool.submit(ot.gil_rendezvous, directory, f"w{i}", 2, timeout, memoryview(shared), i)
            for i in range(2)
        ]
        return [f.result(timeout=PATIENCE + timeout) for f in futures]


def test_isolated_workers_run_python_at_the_same_time(pool: interpool.Pool) -> None:
    """Each of two calls sees the other run Python code while it holds its own GIL
    without a break: only possible with a GIL each (not a timing measure: it holds
    on one CPU too)."""
    assert _gil_rendezvous(pool, PATIENCE) == [True, True]


def test_legacy_workers_never_run_python_at_the_same_time() -> None:
    """The same check fails on legacy workers: while one holds the shared GIL, the
    other cannot run.  (In a subprocess: the check holds the shared GIL, the test
    process's own included, for a second per worker.)"""
    code = textwrap.dedent(
        """
        import interpool
        from tests.pool.test_options import _gil_rendezvous
        with interpool.Pool(2, interpreter="legacy") as pool:
            print(_gil_rendezvous(pool, 1.0))
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[False, False]"


def test_legacy_workers_take_turns(legacy_pool: interpool.Pool) -> None:
    """Shared-GIL workers run one at a time: two CPU-bound calls started together get
    one CPU's worth of time in all, however many CPUs are free (an upper bound: a busy
    machine can only lower it)."""
    assert {config["gil"] for config in _worker_configs(legacy_pool).values()} == {"shared"}
    cpu, wall = _spin_pair(legacy_pool, 0.3)
    assert cpu < 1.2 * wall, f"two legacy workers used {cpu / wall:.2f} CPUs"


# -- imports ----------------------------------------------------------------------------

_HAVE_SINGLE_PHASE = importlib.util.find_spec("_testsinglephase") is not None


@pytest.mark.skipif(not _HAVE_SINGLE_PHASE, reason="CPython's _testsinglephase is not built")
def test_a_single_phase_module_loads_only_in_legacy_workers() -> None:
    """CPython's test module without sub-interpreter support: refused by an isolated
    worker, loaded by a legacy one (in a subprocess: the module stays loaded)."""
    code = textwrap.dedent(
        """
        import interpool
        from tests.tasks import options as ot
        with interpool.Pool(1) as pool:
            error = pool.submit(ot.import_name, "_testsinglephase").exception(timeout=60)
            assert type(error) is interpool.IncompatibleModuleError, repr(error)
            assert error.name == "_testsinglephase", error.name
        with interpool.Pool(1, interpreter="legacy") as pool:
            name = pool.submit(ot.import_name, "_testsinglephase").result(timeout=60)
            assert name == "_testsinglephase", name
        print("ok")
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert_clean_stderr(result.stderr)


def test_numpy_is_refused_by_isolated_workers(pool: interpool.Pool) -> None:
    pytest.importorskip("numpy")
    with pytest.raises(interpool.IncompatibleModuleError, match="numpy"):
        pool.submit(ot.import_numpy, 10).result(timeout=PATIENCE)


def test_numpy_loads_in_one_legacy_worker_per_process() -> None:
    """numpy 2.x loads in a legacy worker (with its warning), but in one interpreter
    per process only: the other worker, and then the main interpreter itself, get
    ``ImportError: cannot load module more than once per process``.  In a subprocess,
    since numpy is then lost to the main interpreter."""
    pytest.importorskip("numpy")
    code = textwrap.dedent(
        """
        import interpool
        from tests.tasks import options as ot
        from tests.support import run_together
        with interpool.Pool(2, interpreter="legacy") as pool:
            outcomes = sorted(run_together(pool, ot.import_numpy_together))
        try:
            import numpy
        except ImportError as exc:
            main = str(exc)
        else:
            main = "imported"
        print(outcomes)
        print(main)
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    outcomes, main = result.stdout.strip().splitlines()
    once = "cannot load module more than once per process"
    assert outcomes == str([("ImportError", once), ("ok", "")])
    assert main == once


def test_numpy_warns_in_a_legacy_worker() -> None:
    pytest.importorskip("numpy")
    code = textwrap.dedent(
        """
        import interpool
        from tests.tasks import options as ot
        with interpool.Pool(1, interpreter="legacy") as pool:
            total, warned = pool.submit(ot.import_numpy, 10).result(timeout=60)
        assert total == 45, total
        assert any("sub-interpreter" in w for w in warned), warned
        print("ok")
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("module", ["orjson", "msgspec"])
def test_other_refusing_extensions_load_in_legacy_workers(module: str) -> None:
    """Run when the package is installed (it is not a dev dependency)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    code = textwrap.dedent(
        f"""
        import interpool
        from tests.tasks import options as ot
        with interpool.Pool(1) as pool:
            error = pool.submit(ot.import_name, {module!r}).exception(timeout=60)
            assert type(error) is interpool.IncompatibleModuleError, repr(error)
        with interpool.Pool(1, interpreter="legacy") as pool:
            assert pool.submit(ot.import_name, {module!r}).result(timeout=60) == {module!r}
        print("ok")
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# -- daemon threads ---------------------------------------------------------------------


def test_isolated_workers_refuse_daemon_threads(pool: interpool.Pool) -> None:
    with pytest.raises(RuntimeError, match="daemon threads are disabled"):
        pool.submit(ot.run_daemon_thread).result(timeout=PATIENCE)


@NEEDS_DAEMONS
@pytest.mark.parametrize(
    "interpreter", [ISOLATED_DAEMONS, "legacy"], ids=["isolated+daemon", "legacy"]
)
def test_daemon_threads_where_allowed(interpreter: Any) -> None:
    with interpool.Pool(1, interpreter=interpreter) as pool:
        assert pool.submit(ot.run_daemon_thread).result(timeout=PATIENCE) == "ran"


@pytest.mark.skipif(DAEMON_THREADS_SUPPORTED, reason="Python 3.14+ allows daemon threads")
def test_python_313_refuses_daemon_threads_in_workers() -> None:
    """3.13 aborts the process when an interpreter with a live daemon thread is
    destroyed: a pool refuses the option, and the legacy preset leaves it off."""
    with pytest.raises(ValueError, match=r"allow_daemon_threads=True is refused on Python 3\.13"):
        interpool.Pool(1, interpreter=ISOLATED_DAEMONS)
    assert not LEGACY.allow_daemon_threads
    with (
        interpool.Pool(1, interpreter="legacy") as pool,
        pytest.raises(RuntimeError, match="daemon threads are disabled"),
    ):
        pool.submit(ot.run_daemon_thread).result(timeout=PATIENCE)


@NEEDS_DAEMONS
def test_a_waiting_daemon_thread_does_not_hold_up_workers_leaving() -> None:
    """Daemon threads left waiting (as a library's background thread waits) when their
    worker is recycled and when the pool shuts down: the process goes on and exits
    cleanly."""
    code = textwrap.dedent(
        """
        import interpool
        from interpool import InterpreterOptions
        from tests.tasks import options as ot
        for interpreter in (InterpreterOptions.isolated(allow_daemon_threads=True), "legacy"):
            with interpool.Pool(1, interpreter=interpreter, max_tasks_per_worker=1) as pool:
                for _ in range(3):
                    assert pool.submit(ot.leave_waiting_daemon_thread).result(timeout=60)
        print("ok")
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert_clean_stderr(result.stderr)


# -- the whole API on legacy workers ----------------------------------------------------


def test_legacy_submit_map_and_streams(legacy_pool: interpool.Pool) -> None:
    assert legacy_pool.submit(tasks.add, 1, 2).result(timeout=PATIENCE) == 3
    assert list(legacy_pool.map(tasks.square, range(50))) == [x * x for x in range(50)]
    assert list(legacy_pool.map(tasks.square, range(9), chunksize=1)) == [x * x for x in range(9)]
    lazy = legacy_pool.map(tasks.square, itertools.count(), buffersize=4)
    assert list(itertools.islice(lazy, 20)) == [x * x for x in range(20)]
    lazy.close()  # type: ignore[attr-defined]
    assert list(legacy_pool.imap(tasks.square, range(20), window=3)) == [x * x for x in range(20)]
    assert sorted(legacy_pool.imap_unordered(tasks.square, range(20))) == [x * x for x in range(20)]
    futures = [legacy_pool.submit(ot.cpu_work, 20_000) for _ in range(6)]
    assert len({f.result(timeout=PATIENCE) for f in cf.as_completed(futures)}) == 1


def test_legacy_errors_come_back(legacy_pool: interpool.Pool) -> None:
    with pytest.raises(tasks.CustomError, match="boom"):
        legacy_pool.submit(tasks.raise_custom, "boom", 7).result(timeout=PATIENCE)
    with pytest.raises(ValueError, match="bad item 5"):
        list(legacy_pool.map(tasks.fail_at, range(10), [5] * 10))


def test_legacy_async_api_and_coroutine_tasks(legacy_pool: interpool.Pool) -> None:
    async def main() -> tuple[Any, ...]:
        a = await legacy_pool.run(tasks.add, 2, 3)
        b = await legacy_pool.run(at.add_later, 4, 5, 0.01)
        c = await legacy_pool.run(at.gather_in_worker, 20, 0.01)
        d = [x async for x in legacy_pool.amap(tasks.square, range(10))]
        return a, b, c, d

    assert asyncio.run(main()) == (5, 9, sum(range(20)), [x * x for x in range(10)])
    futures = [legacy_pool.submit(at.add_later, i, 0, 0.05) for i in range(40)]
    assert [f.result(timeout=PATIENCE) for f in futures] == list(range(40))


def test_legacy_time_limits_interrupt_python_and_c_calls(
    legacy_pool: interpool.Pool, tmp_path: Path
) -> None:
    limited = legacy_pool.options(task_timeout=0.3)
    marker = tmp_path / "marker"
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="time limit"):
        limited.submit(it.spin_forever, str(marker)).result(timeout=PATIENCE)
    assert time.monotonic() - start < 5
    assert wait_until(lambda: marker.exists() and marker.read_text().startswith("interrupted"))
    with pytest.raises(TimeoutError):
        limited.submit(it.sleep_then_mark, 1.0, str(tmp_path / "slept")).result(timeout=PATIENCE)
    with pytest.raises(TimeoutError):
        list(limited.map(it.spin_if, range(4), [2] * 4))
    assert legacy_pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2


def test_legacy_cancel_running_and_queued(tmp_path: Path) -> None:
    with interpool.Pool(1, interpreter="legacy") as pool:
        old = pool.submit(it.interp_id).result(timeout=PATIENCE)
        running = pool.submit(ot.spin_marked, str(tmp_path))
        queued = pool.submit(tasks.count_call, "legacy-cancel")
        assert wait_until((tmp_path / "started").exists)
        assert queued.cancel(interrupt=False)
        assert running.cancel()
        with pytest.raises(cf.CancelledError):
            running.result(timeout=0)
        marker = tmp_path / "interrupted"
        assert wait_until(lambda: marker.exists() and marker.read_text() == str(old))
        assert pool.submit(it.interp_id).result(timeout=PATIENCE) != old
        assert pool.submit(tasks.count_call, "legacy-cancel").result(timeout=PATIENCE) == 1


def test_legacy_initializer_and_recycling() -> None:
    with interpool.Pool(
        1,
        interpreter="legacy",
        initializer=tasks.init_set,
        initargs=("ready",),
        max_tasks_per_worker=2,
    ) as pool:
        ids = [pool.submit(tasks.interp_id).result(timeout=PATIENCE) for _ in range(4)]
        assert ids[0] == ids[1] != ids[2] == ids[3]
        assert pool.submit(tasks.get_init_value).result(timeout=PATIENCE) == ("ready", None)


def test_legacy_idle_timeout() -> None:
    with interpool.Pool(1, interpreter="legacy", idle_timeout=0.2) as pool:
        first = pool.submit(tasks.interp_id).result(timeout=PATIENCE)
        assert wait_until(lambda: first not in interpreter_ids())  # it left
        assert pool.submit(tasks.interp_id).result(timeout=PATIENCE) != first


def test_legacy_shutdown_leaves_no_interpreter() -> None:
    before = interpreter_ids()
    pool = interpool.Pool(2, interpreter="legacy")
    assert list(pool.map(tasks.square, range(10))) == [x * x for x in range(10)]
    pool.shutdown(wait=True)
    assert interpreter_ids() == before


def test_legacy_buffers_are_shared_and_copied_as_usual(legacy_pool: interpool.Pool) -> None:
    data = bytearray(MIB)
    assert legacy_pool.submit(bt.fill_view, memoryview(data), 7).result(timeout=PATIENCE) == MIB
    assert data == bytes([7]) * MIB  # the worker wrote into our memory
    data.extend(b"more")  # and its view is released
    result = legacy_pool.submit(bt.make_bytearray, MIB).result(timeout=PATIENCE)
    assert type(result) is bytearray
    assert result == b"\x55" * MIB


@pytest.mark.skipif(not _handoff.enabled, reason="handoff is off in this environment")
def test_legacy_large_bytes_results_are_handed_over() -> None:
    """A legacy worker allocates from the main interpreter's allocator, and a large
    ``bytes`` comes from the process-wide raw allocator either way: the handover is
    as safe as from an isolated worker, and still happens."""
    with interpool.Pool(1, interpreter="legacy") as pool:
        data = pool.submit(bt.make_bytes, 8 * MIB).result(timeout=PATIENCE)
        assert id(data) == pool.submit(bt.last_id).result(timeout=PATIENCE)
    assert data == b"\xaa" * (8 * MIB)


def test_legacy_handoff_survives_churn_in_a_subprocess() -> None:
    """Handed-over results from legacy workers that come and go, dropped in every
    order: the process exits cleanly (a wrong free would crash it)."""
    code = textwrap.dedent(
        """
        import gc, random
        import interpool
        from tests.tasks import buffers as bt
        keep = []
        for round in range(4):
            interpreter = "legacy" if round % 2 else "isolated"
            with interpool.Pool(2, interpreter=interpreter, max_tasks_per_worker=7) as pool:
                got = [f.result() for f in [
                    pool.submit(bt.make_bytes, 256 * 1024 + i, i % 256) for i in range(30)
                ]]
                got += list(pool.map(bt.make_bytes, [300_000] * 10, range(10)))
            random.shuffle(got)
            keep += got[:10]
            del got
            gc.collect()
        for data in keep:
            assert data == data[:1] * len(data)
        print("ok", len(keep))
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 40"
    assert_clean_stderr(result.stderr)


def test_a_legacy_worker_does_not_block_the_caller(legacy_pool: interpool.Pool) -> None:
    """While a legacy worker loops in Python, the caller's threads still run (the
    shared GIL is handed over every switch interval)."""
    future = legacy_pool.submit(it.spin_for, 0.5, "done")
    assert wait_until(future.running)
    ticks = 0
    while not future.done():
        ticks += 1
        time.sleep(0.01)
    assert future.result(timeout=PATIENCE) == "done"
    assert ticks >= 5

"""Task time limits: ``Pool(task_timeout=...)`` and ``pool.options(task_timeout=...)``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import interpool

from ..support import PATIENCE, interpreter_ids, run_together, wait_until
from ..tasks import interrupts as it

pytestmark = pytest.mark.timeout(60)


def test_a_running_task_past_its_limit_fails_with_timeout_error(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with interpool.Pool(2) as pool:
        pool.submit(it.interp_id).result(timeout=PATIENCE)  # the workers are up
        start = time.monotonic()
        future = pool.options(task_timeout=0.3).submit(it.spin_forever, str(marker))
        with pytest.raises(TimeoutError, match=r"time limit of 0\.3 s") as info:
            future.result(timeout=PATIENCE)
        took = time.monotonic() - start
        assert 0.3 <= took < 0.3 + 5.0
        assert "interrupted" in str(info.value)
        # The task was really interrupted in its worker: its finally block ran.
        assert wait_until(lambda: marker.exists() and marker.read_text() != "", timeout=5.0)
        assert marker.read_text().startswith("interrupted")


def test_a_time_limit_says_when_the_task_is_stuck_in_c() -> None:
    with interpool.Pool(1) as pool:
        future = pool.options(task_timeout=0.2).submit(time.sleep, 1.5)
        with pytest.raises(TimeoutError) as info:
            future.result(timeout=PATIENCE)
        message = str(info.value)
        assert "time limit of 0.2 s; it is still running in a C call" in message
        assert "its worker is abandoned" in message
        assert "replaced by a new one" in message
        assert pool.submit(it.interp_id).result(timeout=PATIENCE)  # the replacement


def test_the_pool_keeps_its_capacity_after_a_timeout() -> None:
    with interpool.Pool(2) as pool:
        before = {pool.submit(it.interp_id).result(timeout=PATIENCE) for _ in range(4)}
        for _ in range(3):
            with pytest.raises(TimeoutError):
                pool.options(task_timeout=0.1).submit(it.spin_forever).result(timeout=PATIENCE)
        # Two calls still run at the same time, in two workers.
        assert len(set(run_together(pool))) == 2
        # The interrupted workers were replaced by new interpreters, and reaped.
        after = {pool.submit(it.interp_id).result(timeout=PATIENCE) for _ in range(8)}
        assert len(after) <= 2
        assert after != before
        assert wait_until(lambda: not (before - after) & interpreter_ids())
    assert wait_until(lambda: not after & interpreter_ids())


def test_a_task_that_ends_in_time_keeps_its_worker(pool1: interpool.Pool) -> None:
    timed = pool1.options(task_timeout=5)
    first = timed.submit(it.interp_id).result(timeout=PATIENCE)
    assert timed.submit(it.spin_for, 0.05, "ok").result(timeout=PATIENCE) == "ok"
    assert timed.submit(it.interp_id).result(timeout=PATIENCE) == first


def test_the_limit_counts_from_the_start_of_the_task_not_from_submit(
    pool1: interpool.Pool,
) -> None:
    blocker = pool1.submit(it.spin_for, 0.6, "first")
    # Queued for ~0.6 s behind the blocker, then runs for 0.05 s: within 0.4 s.
    second = pool1.options(task_timeout=0.4).submit(it.spin_for, 0.05, "second")
    assert blocker.result(timeout=PATIENCE) == "first"
    assert second.result(timeout=PATIENCE) == "second"


def test_pool_wide_limit_applies_to_submit_map_and_run() -> None:
    with interpool.Pool(2, task_timeout=0.3) as pool:
        assert pool.submit(it.spin_for, 0.01, 1).result(timeout=PATIENCE) == 1
        with pytest.raises(TimeoutError):
            pool.submit(it.spin_forever).result(timeout=PATIENCE)
        with pytest.raises(TimeoutError):
            list(pool.map(it.spin_if, range(4), [2] * 4, chunksize=1))

        async def main() -> None:
            with pytest.raises(TimeoutError):
                await pool.run(it.spin_forever)

        asyncio.run(main())
        # options(task_timeout=None) lifts the pool's limit for those calls.
        unlimited = pool.options(task_timeout=None)
        assert unlimited.submit(it.spin_for, 0.5, "slow").result(timeout=PATIENCE) == "slow"


def test_map_limit_applies_to_each_call_of_a_chunk(pool: interpool.Pool) -> None:
    timed = pool.options(task_timeout=1.0)
    # Chunks of 8 calls of 0.15 s each: 1.2 s per chunk, 0.15 s per call.
    values = list(timed.map(it.spin_for, [0.15] * 16, range(16), chunksize=8))
    assert values == list(range(16))
    results = timed.map(it.spin_if, range(8), [5] * 8, chunksize=1)
    assert [next(results) for _ in range(5)] == [0, 2, 4, 6, 8]
    with pytest.raises(TimeoutError):
        next(results)


def test_a_task_blocked_in_a_c_call_times_out_and_its_worker_is_reaped_later(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "slept"
    with interpool.Pool(1) as pool:
        old = pool.submit(it.interp_id).result(timeout=PATIENCE)
        start = time.monotonic()
        future = pool.options(task_timeout=0.2).submit(it.sleep_then_mark, 1.5, str(marker))
        with pytest.raises(TimeoutError):
            future.result(timeout=PATIENCE)
        assert time.monotonic() - start < 1.2  # did not wait for the sleep
        # A replacement serves at once, while the old worker still sleeps.
        new = pool.submit(it.interp_id).result(timeout=PATIENCE)
        assert new != old
        assert old in interpreter_ids()
        # The sleep could not be interrupted; when it returned, the interruption
        # fired (the line after it never ran) and the old worker went away.
        assert wait_until(lambda: old not in interpreter_ids())
        assert time.monotonic() - start >= 1.4
        assert not marker.exists()
        assert new in interpreter_ids()
    assert wait_until(lambda: new not in interpreter_ids())


async def _run_timed(pool: interpool.Pool) -> None:
    with pytest.raises(TimeoutError):
        await pool.options(task_timeout=0.2).run(it.spin_forever)
    assert await pool.options(task_timeout=2).run(it.spin_for, 0.01, 7) == 7


def test_async_run_with_a_limit(pool: interpool.Pool) -> None:
    asyncio.run(_run_timed(pool))


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_invalid_limits_are_refused(pool: interpool.Pool, bad: object) -> None:
    with pytest.raises(ValueError, match="task_timeout must be None or a positive number"):
        pool.options(task_timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task_timeout must be None or a positive number"):
        interpool.Pool(1, task_timeout=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["1", True])
def test_limits_of_another_type_are_refused(pool: interpool.Pool, bad: object) -> None:
    with pytest.raises(TypeError, match="task_timeout must be a number of seconds or None"):
        pool.options(task_timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task_timeout must be a number of seconds or None"):
        interpool.Pool(1, task_timeout=bad)  # type: ignore[arg-type]


def test_options_cannot_collide_with_the_functions_keywords(pool: interpool.Pool) -> None:
    # ``timeout`` given to submit goes to the function, never to the pool.
    assert pool.options(task_timeout=5).submit(dict, timeout=1).result(timeout=PATIENCE) == {
        "timeout": 1
    }
    with pytest.raises(TypeError):
        pool.options(5)  # type: ignore[misc]

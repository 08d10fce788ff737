"""What workers print, log and warn reaches the caller (issue 19): its ``logging``
(caplog), its current streams (capsys, ``redirect_stdout``) and its ``warnings``
(``catch_warnings``), on the interpreters and processes backends, and naturally on
threads; ``forward=`` turns it off."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator

import pytest

import interpool

from ..tasks import forwarding as tasks

pytestmark = pytest.mark.timeout(120)

BACKENDS = ["interpreters", "processes", "threads"]


@pytest.fixture(scope="module", params=BACKENDS)
def pool(request: pytest.FixtureRequest) -> Iterator[interpool.Pool]:
    with interpool.Pool(2, backend=request.param) as p:
        yield p


def worker_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == tasks.LOGGER]


# -- logs ------------------------------------------------------------------------------


def test_records_reach_the_callers_logging(
    pool: interpool.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    debug_enabled = pool.submit(tasks.log_levels, "one").result()
    records = worker_records(caplog)
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("INFO", "info one"),
        ("WARNING", "warning one"),
    ]
    # Filtered in the worker by the caller's level: DEBUG was not even made there.
    assert debug_enabled is False
    for record in records:
        assert record.interpool_worker.startswith(  # type: ignore[attr-defined]
            {"interpreters": "interpool-worker-", "processes": "interpool-process-"}.get(
                pool.backend, "interpool-thread-"
            )
        )
        assert record.funcName == "log_levels"
        assert record.pathname == tasks.__file__
    # extra= attributes come along (plain values as they are, others as their repr).
    assert records[1].request == "one"  # type: ignore[attr-defined]
    assert records[1].parts in ([1, 2], "[1, 2]")  # type: ignore[attr-defined]


def test_a_level_changed_after_the_pool_started_is_followed(
    pool: interpool.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=tasks.LOGGER)
    assert pool.submit(tasks.log_levels, "two").result() is True
    assert [r.levelname for r in worker_records(caplog)] == ["DEBUG", "INFO", "WARNING"]
    caplog.clear()
    caplog.set_level(logging.WARNING, logger=tasks.LOGGER)
    assert list(pool.map(tasks.log_levels, ["three", "four"])) == [False, False]
    assert sorted(r.getMessage() for r in worker_records(caplog)) == [
        "warning four",
        "warning three",
    ]


def test_a_logged_exception_keeps_its_traceback(
    pool: interpool.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pool.submit(tasks.log_exception).result()
    (record,) = worker_records(caplog)
    assert record.levelname == "ERROR"
    text = caplog.handler.format(record)
    assert "it failed" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "in log_exception" in text


def test_many_records_from_two_workers_all_arrive_in_order(
    pool: interpool.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert list(pool.map(tasks.log_many, [1000, 1000], ["a", "b"])) == [1000, 1000]
    messages = [r.getMessage() for r in worker_records(caplog)]
    for tag in "ab":
        assert [m for m in messages if m.startswith(tag)] == [
            f"{tag} line {i}" for i in range(1000)
        ]


# -- output ----------------------------------------------------------------------------


def test_prints_reach_capsys_whole_and_in_order(
    pool: interpool.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    tags = [f"task{i}" for i in range(6)]
    assert list(pool.map(tasks.print_lines, tags, [50] * 6)) == tags
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 6 * 50
    for line in lines:
        assert re.fullmatch(r"task\d line \d+", line), line
    for tag in tags:
        assert [line for line in lines if line.startswith(tag + " ")] == [
            f"{tag} line {i}" for i in range(50)
        ]
    assert sorted(err.splitlines()) == [f"{tag} to stderr" for tag in tags]


def test_output_arrives_before_the_result(
    pool: interpool.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(20):
        pool.submit(tasks.print_lines, f"t{i}", 3).result()
        out, _ = capsys.readouterr()
        assert out == "".join(f"t{i} line {j}\n" for j in range(3))


def test_an_unfinished_line_is_flushed_when_the_task_ends(
    pool: interpool.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    pool.submit(tasks.print_unfinished, "x").result()
    assert capsys.readouterr().out == "x unfinished"


def test_prints_follow_redirect_stdout(pool: interpool.Pool) -> None:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        pool.submit(tasks.print_lines, "redirected", 2).result()
    assert buffer.getvalue() == "redirected line 0\nredirected line 1\n"


def test_the_initializers_output_is_forwarded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with interpool.Pool(1, initializer=tasks.initializer_that_prints) as pool:
        pool.submit(tasks.print_unfinished, "then").result()
    assert capsys.readouterr().out == "hello from the initializer\nthen unfinished"


# -- warnings --------------------------------------------------------------------------


def test_warnings_are_recorded_by_the_callers_catch_warnings(pool: interpool.Pool) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pool.submit(tasks.warn, "careful").result() == "careful"
    [warning] = [w for w in caught if str(w.message) == "careful"]
    assert warning.category is UserWarning
    assert warning.filename == tasks.__file__
    assert warning.lineno == tasks.warn.__code__.co_firstlineno + 1


def test_an_error_filter_makes_the_warning_the_tasks_error(pool: interpool.Pool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(UserWarning, match="fatal"):
            pool.submit(tasks.warn, "fatal").result()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        assert pool.submit(tasks.warn, "ignored").result() == "ignored"
    assert not [w for w in caught if str(w.message) == "ignored"]


# -- turned off, and bad input ----------------------------------------------------------


@pytest.mark.parametrize("backend", ["interpreters", "processes"])
def test_forward_false_leaves_the_workers_alone(
    backend: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with interpool.Pool(1, backend=backend, forward=False) as pool:  # type: ignore[arg-type]
        pool.submit(tasks.print_lines, "raw", 1).result()
        pool.submit(tasks.log_levels, "raw").result()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pool.submit(tasks.warn, "raw").result()
    assert "raw line 0" not in capsys.readouterr().out
    assert not worker_records(caplog)
    assert not [w for w in caught if str(w.message) == "raw"]


def test_forward_some(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with interpool.Pool(1, forward=["logs"]) as pool:
        pool.submit(tasks.print_lines, "unforwarded", 1).result()
        pool.submit(tasks.log_levels, "forwarded").result()
    assert "unforwarded" not in capsys.readouterr().out
    assert [r.getMessage() for r in worker_records(caplog)] == [
        "info forwarded",
        "warning forwarded",
    ]


def test_bad_forward_values_say_what_is_allowed() -> None:
    with pytest.raises(TypeError, match="forward must be True, False or a collection"):
        interpool.Pool(1, forward="logs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown 'prints'"):
        interpool.Pool(1, forward=["prints"])  # type: ignore[list-item]


# -- Dask: its own log forwarding -------------------------------------------------------


@pytest.mark.dask
def test_dask_forwards_the_records_its_workers_handle(
    dask_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    from ..support import wait_until

    caplog.set_level(logging.INFO)
    with interpool.Pool(backend="dask", address=dask_address) as pool:
        pool.submit(tasks.log_levels, "dask").result()
        # (They come through Dask's event stream, after the result.)
        assert wait_until(lambda: bool(worker_records(caplog)))
    assert "warning dask" in [r.getMessage() for r in worker_records(caplog)]


def test_a_records_worker_is_named_as_in_stats(
    pool: interpool.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pool.submit(tasks.log_levels, "named").result()
    names = {w.name for w in pool.stats().workers}
    assert {r.interpool_worker for r in worker_records(caplog)} <= names  # type: ignore[attr-defined]

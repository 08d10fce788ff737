"""``python -m interpool bench``: the seed comparison's document, table, chart and
command line, the ``--only`` selection, the skip of ``InterpreterPoolExecutor`` where
Python lacks it (3.13), and that the core and data-plane benchmarks load everywhere.

The comparisons that start executors run in a subprocess (a ``ProcessPoolExecutor``
forked from the test process would inherit its threads), at the ``test`` size: a
few seconds.  No test looks at how fast anything was, only at what was measured."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from interpool.__main__ import main as cli
from interpool._tools.bench import chart, compare, core, data
from interpool._tools.bench.progress import Progress

from ..support import run_python

pytestmark = pytest.mark.version_independent

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HAVE_IPE = sys.version_info >= (3, 14)
POOLS = ["thread", "process", *(["ipe"] if HAVE_IPE else []), "interpool"]


def _assert_png(path: Path) -> None:
    """A PNG file of a chart's size: the signature, then the IHDR chunk's width and
    height (big-endian, at bytes 16-24)."""
    content = path.read_bytes()
    assert content.startswith(PNG_MAGIC), f"{path} is not a PNG"
    assert content[12:16] == b"IHDR"
    width, height = int.from_bytes(content[16:20]), int.from_bytes(content[20:24])
    assert width >= 700 and height >= 400, (width, height)
    assert len(content) > 10_000, f"{path} is too small to hold a chart"


def _assert_cells(document: dict[str, Any], workloads: list[str], executors: list[str]) -> None:
    """Every requested workload x executor is there, with positive timings."""
    assert list(document["workloads"]) == workloads
    for key, wl in document["workloads"].items():
        assert list(wl["executors"]) == executors, key
        for kind, entry in wl["executors"].items():
            for when in ("fresh", "reused"):
                stat = entry[f"{when}_seconds"]
                assert stat["samples"], (key, kind, when)
                assert all(s > 0 for s in stat["samples"]), (key, kind, when)
                assert stat["median"] > 0
                assert entry[f"speedup_vs_loop_{when}"] > 0
            if kind != "loop":
                assert entry["shutdown_seconds"]["median"] >= 0


# -- the whole comparison, test-sized, in a subprocess ---------------------------------


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    """Every workload x every executor at the ``test`` size, one round; the JSON
    document, the directory written, and the text."""
    out = tmp_path_factory.mktemp("bench")
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from interpool._tools.bench import compare
        document, text = compare.run(size="test", workers=2, repeat=1, progress_bar=False)
        paths = compare.write(document, text, Path({str(out)!r}), "test")
        print(text)
        """
    )
    proc = run_python("-c", script, timeout=120)
    assert proc.returncode == 0, proc.stderr
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    document = json.loads((out / f"test-{py}.json").read_text())
    return document, out, proc.stdout


def test_every_workload_and_executor_is_measured(
    full_run: tuple[dict[str, Any], Path, str],
) -> None:
    document, _, _ = full_run
    _assert_cells(document, ["primes", "bytes", "pbkdf2", "tiny"], ["loop", *POOLS])
    assert document["config"]["size"] == "test"
    assert document["config"]["repeat"] == 1
    machine = document["machine"]
    for field in ("cpu_count", "python", "platform", "date", "git"):
        assert field in machine
    assert machine["python"] == sys.version.split()[0]
    # Results were checked against the loop's: the large results had their size.
    assert document["workloads"]["bytes"]["params"]["result_bytes"] == 1024 * 1024
    assert document["workloads"]["primes"]["ceiling_speedup"] > 1


def test_the_comparison_writes_json_text_and_a_png(
    full_run: tuple[dict[str, Any], Path, str],
) -> None:
    _, out, stdout = full_run
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    _assert_png(out / f"test-{py}.png")
    text = (out / f"test-{py}.txt").read_text()
    assert text.strip() == stdout.strip()
    for label in ("for loop", "ThreadPoolExecutor", "ProcessPoolExecutor", "interpool.Pool"):
        assert label in text
    assert ("vs IPE" in text) == HAVE_IPE


@pytest.mark.skipif(HAVE_IPE, reason="Python 3.14+ has InterpreterPoolExecutor")
def test_python_313_skips_interpreter_pool_executor_with_a_note(
    full_run: tuple[dict[str, Any], Path, str],
) -> None:
    document, _, stdout = full_run
    assert "3.13 has none" in document["skipped"]["ipe"]
    assert "InterpreterPoolExecutor  skipped" in stdout
    assert "3.13 has none" in stdout


# -- the command line ---------------------------------------------------------------------


def test_cli_only_selects_workloads_and_executors(tmp_path: Path) -> None:
    proc = run_python(
        "-m",
        "interpool",
        "bench",
        "--quick",
        "--only",
        "tiny",
        "--only",
        "thread,interpool",
        "--repeat",
        "1",
        "--output",
        tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    document = json.loads((tmp_path / f"quick-{py}.json").read_text())
    _assert_cells(document, ["tiny"], ["loop", "thread", "interpool"])
    assert document["config"]["size"] == "quick"
    _assert_png(tmp_path / f"quick-{py}.png")
    assert "4. tiny" not in proc.stdout and "1. tiny: many tiny tasks" in proc.stdout
    # Progress on stderr (not a terminal: one line per step), the table on stdout.
    assert "[bench] 1/3 round 1/1, tiny, loop" in proc.stderr
    assert "[bench]" not in proc.stdout
    assert f"quick-{py}.png" in proc.stderr


def test_cli_rejects_unknown_names_listing_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(["bench", "--quick", "--only", "primes,nope,Thread"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'nope', 'Thread'" in err
    assert "valid workloads: primes, bytes, pbkdf2, tiny" in err
    assert "valid executors: loop, thread, process, ipe, interpool" in err


def test_cli_refuses_only_with_core_or_data(capsys: pytest.CaptureFixture[str]) -> None:
    for mode in ("--core", "--data"):
        with pytest.raises(SystemExit) as exc:
            cli(["bench", mode, "--only", "primes"])
        assert exc.value.code == 2
        assert "--only applies to the seed comparison" in capsys.readouterr().err


def test_cli_modes_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli(["bench", "--quick", "--all"])
    assert "not allowed with" in capsys.readouterr().err


def test_help_states_the_only_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli(["bench", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "comma-separated" in out
    assert "primes, bytes, pbkdf2, tiny" in out
    assert "loop, thread, process, ipe, interpool" in out


# -- --only ---------------------------------------------------------------------------------


def test_parse_only_mixes_workloads_and_executors() -> None:
    everything = compare.parse_only(None)
    assert everything.workloads == ("primes", "bytes", "pbkdf2", "tiny")
    assert everything.executors == compare.EXECUTORS
    # Table order, whatever the order given; the loop always runs.
    picked = compare.parse_only(["interpool, tiny", "primes,thread"])
    assert picked.workloads == ("primes", "tiny")
    assert picked.executors == ("loop", "thread", "interpool")
    only_workloads = compare.parse_only(["pbkdf2"])
    assert only_workloads.executors == compare.EXECUTORS
    only_executors = compare.parse_only(["ipe"])
    assert only_executors.workloads == ("primes", "bytes", "pbkdf2", "tiny")
    assert only_executors.executors == ("loop", "ipe")
    assert compare.parse_only(["loop"]).executors == ("loop",)


def test_parse_only_rejects_unknown_and_empty() -> None:
    with pytest.raises(ValueError, match=r"unknown name for --only: 'prime'; valid workloads"):
        compare.parse_only(["prime"])
    with pytest.raises(ValueError, match="at least one"):
        compare.parse_only([" , "])


# -- InterpreterPoolExecutor missing (3.13), simulated on every Python ------------------------


@pytest.fixture
def loop_only_document(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The comparison as Python 3.13 runs it, asked for the loop and IPE only: no
    executor starts, so it runs in this process."""
    monkeypatch.setattr(compare, "HAVE_IPE", False)
    selection = compare.parse_only(["primes,tiny,loop,ipe"])
    document, text = compare.run(size="test", repeat=2, selection=selection, progress_bar=False)
    document["text"] = text
    return document


def test_missing_ipe_is_skipped_with_a_note(loop_only_document: dict[str, Any]) -> None:
    document = loop_only_document
    assert document["skipped"] == {"ipe": core.IPE_MISSING}
    _assert_cells(document, ["primes", "tiny"], ["loop"])
    for wl in document["workloads"].values():
        assert wl["executors"]["loop"]["speedup_vs_ipe_reused"] is None
    text = document["text"]
    assert "InterpreterPoolExecutor  skipped" in text
    assert core.IPE_MISSING in " ".join(text.split())


def test_chart_notes_a_skipped_executor(loop_only_document: dict[str, Any], tmp_path: Path) -> None:
    _assert_png(chart.write_chart(loop_only_document, tmp_path / "c.png"))


def test_without_matplotlib_json_and_text_are_still_written(
    loop_only_document: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    paths = compare.write(loop_only_document, "table", tmp_path, "test")
    assert [p.suffix for p in paths] == [".json", ".txt"]
    assert not list(tmp_path.glob("*.png"))
    assert "pip install 'interpool[bench]'" in capsys.readouterr().err


# -- progress ---------------------------------------------------------------------------------


def test_progress_without_a_bar_prints_a_line_per_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Progress(2, "bench", bar=False) as progress:
        progress.step("first")
        progress.advance()
        progress.step("second")
        progress.advance()
        progress.note("done")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0].startswith("[bench] 1/2 first (")
    assert lines[1].startswith("[bench] 2/2 second (")
    assert lines[2] == "[bench] done"


def test_progress_bar_uses_tqdm_when_installed(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    with Progress(3, "bench", bar=True) as progress:
        progress.step("one")
        progress.advance()
    err = capsys.readouterr().err
    assert "1/3" in err and "one" in err
    assert "[bench] 1/3" not in err  # the bar, not the lines


# -- the other benchmarks load and skip what this Python lacks --------------------------------


def test_core_and_data_import_everywhere_and_skip_ipe_where_missing() -> None:
    assert ("ipe" in core.KINDS) == HAVE_IPE
    assert ("ipe" in data.THROUGHPUT_KINDS) == HAVE_IPE
    assert ("ipe" in data.ARGUMENT_KINDS) == HAVE_IPE
    assert core.machine_info()["have_interpreter_pool_executor"] == HAVE_IPE


def test_encoding_section_runs_and_skips_queue_rows_where_missing() -> None:
    section = data.bench_encoding(2, 1, loops=20)
    methods = {row.info["method"] for row in section.rows}
    assert {"pickle", "marshal", "interpool"} <= methods
    assert ("queue_native" in methods) == HAVE_IPE
    assert all(row.stat.median > 0 for row in section.rows)


def test_channels_benchmark_runs_and_skips_interpreters_queue_where_missing() -> None:
    from interpool._tools.bench import channels

    result = channels.run(repeat=1, rounds=50)
    assert ("interpreters_queue" in result["samples_us"]) == HAVE_IPE
    assert all(v > 0 for v in result["us_per_round_trip"].values())
    assert "ping-pong" in channels.format_table(result).lower()


# -- where results go, the disturbed note, traces ----------------------------------------


def test_results_go_to_a_folder_of_their_own_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)  # a checkout-like directory
    monkeypatch.chdir(tmp_path)
    assert core.output_dir(None).resolve() == tmp_path / "interpool-bench"
    assert core.output_dir("elsewhere") == Path("elsewhere")


def test_make_bench_writes_the_tracked_results_explicitly() -> None:
    makefile = Path(__file__).resolve().parents[2] / "Makefile"
    if not makefile.is_file():
        pytest.skip("not run from a checkout")
    bench = [line for line in makefile.read_text().splitlines() if "interpool bench --all" in line]
    assert bench and all("--output benchmarks/results" in line for line in bench)


def test_chart_carries_the_disturbed_note(
    loop_only_document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    drawn: list[Any] = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: (drawn.append(fig), close(fig)))
    quiet = {**loop_only_document, "machine": {**loop_only_document["machine"]}}
    quiet["machine"]["other_cpu_percent"] = 1.0
    busy = {**quiet, "machine": {**quiet["machine"], "other_cpu_percent": 42.0}}
    assert chart.disturbed_note(quiet["machine"]) is None
    note = chart.disturbed_note(busy["machine"])
    assert note is not None and "42%" in note
    _assert_png(chart.write_chart(quiet, tmp_path / "quiet.png"))
    _assert_png(chart.write_chart(busy, tmp_path / "busy.png"))
    texts = [[t.get_text() for t in fig.texts] for fig in drawn]
    assert not any("disturbed" in t for t in texts[0])
    assert note in texts[1]
    assert "(disturbed: re-run on a quiet machine)" in compare.render_text(busy)


def test_trace_option_writes_one_timeline_per_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "trace_dir", tmp_path / "traces")
    for _ in range(2):
        with core.make_executor("interpool", 1) as pool:
            pool.submit(abs, -1).result()
    files = sorted((tmp_path / "traces").glob("interpool-*.json"))
    assert len(files) == 2
    for path in files:
        events = json.loads(path.read_text())["traceEvents"]
        assert [e["name"] for e in events if e["ph"] == "X"] == ["abs"]


def test_help_states_the_default_folder_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: ./interpool-bench" in text
    assert "--trace DIR" in text

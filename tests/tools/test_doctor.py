"""``python -m interpool doctor``: statuses, requirements files, output, exit codes."""

from __future__ import annotations

import io
import json
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from interpool._tools import doctor as _doctor
from interpool._tools.doctor import Target, diagnose, requirement_targets

from ..support import run_python, write

pytestmark = [pytest.mark.version_independent, pytest.mark.timeout(120)]

needs_numpy = pytest.mark.skipif(find_spec("numpy") is None, reason="needs numpy (dev extra)")


def doctor_json(*names: str, **options: Any) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    status = _doctor.main(names, json_out=True, out=out, **options)
    return status, json.loads(out.getvalue())


@needs_numpy
def test_numpy_refuses_and_json_is_ok() -> None:
    status, report = doctor_json("numpy", "json")
    assert status == 1
    assert report["ok"] is False
    numpy, json_ = report["modules"]
    assert (json_["module"], json_["status"], json_["ok"], json_["error"]) == (
        "json",
        "ok",
        True,
        None,
    )
    assert (numpy["module"], numpy["status"], numpy["ok"]) == ("numpy", "refuses", False)
    assert numpy["distribution"] == "numpy"
    assert numpy["version"]
    assert "does not support loading in subinterpreters" in numpy["error"]
    assert 'fallback="processes"' in numpy["advice"]
    assert "upgrade numpy" in numpy["advice"]
    assert report["counts"] == {"ok": 1, "refuses": 1, "fails": 0, "missing": 0, "timeout": 0}
    assert report["python"] == sys.version.split()[0]


def test_all_ok_exits_zero() -> None:
    status, report = doctor_json("json", "decimal", "email.message")
    assert status == 0
    assert [m["status"] for m in report["modules"]] == ["ok", "ok", "ok"]


def test_missing_and_failing_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "interpool_doc_needs.py", "import interpool_doc_absent_dependency\n")
    write(tmp_path / "interpool_doc_broken.py", "raise RuntimeError('broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    status, report = doctor_json(
        "interpool_doc_no_such", "interpool_doc_needs", "interpool_doc_broken"
    )
    assert status == 1
    missing, needs, broken = report["modules"]
    assert missing["status"] == "missing"
    assert missing["error"] == "ModuleNotFoundError: No module named 'interpool_doc_no_such'"
    # A module that is there but lacks a dependency fails; it is not "not installed".
    assert needs["status"] == "fails"
    assert "interpool_doc_absent_dependency" in needs["error"]
    assert broken["status"] == "fails"
    assert broken["error"] == "RuntimeError: broken on purpose"
    assert all(m["advice"] for m in report["modules"])


def test_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "interpool_doc_slow.py", "import time\ntime.sleep(1.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    [finding] = diagnose([Target("interpool_doc_slow")], timeout=0.2)
    assert finding.status == "timeout"
    assert finding.error is not None and finding.error.startswith("TimeoutError")


@pytest.mark.timeout(60)
def test_command_line_does_not_wait_for_a_hanging_import(tmp_path: Path) -> None:
    write(tmp_path / "interpool_doc_hangs.py", "import time\ntime.sleep(120)\n")
    done = run_python(
        "-m",
        "interpool",
        "doctor",
        "interpool_doc_hangs",
        "json",
        "--timeout",
        "0.5",
        env={"PYTHONPATH": f"{tmp_path}:{_pythonpath()}"},
        timeout=40,
    )
    assert done.returncode == 1, done.stderr
    assert "TIMEOUT  interpool_doc_hangs" in done.stdout
    assert "1 ok, 1 timed out." in done.stdout


def _pythonpath() -> str:
    """The directories this test run imports interpool from."""
    import interpool

    return str(Path(interpool.__file__).resolve().parent.parent)


@needs_numpy
def test_command_line_table() -> None:
    done = run_python("-m", "interpool", "doctor", "numpy", "json", timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("  REFUSES  numpy") for line in lines), done.stdout
    assert any(line.split() == ["OK", "json"] for line in lines), done.stdout
    assert "advice:" in done.stdout
    assert lines[-1] == "2 modules checked: 1 ok, 1 refuse sub-interpreters."


def test_command_line_json_and_ok_status() -> None:
    done = run_python("-m", "interpool", "doctor", "--json", "json", timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(m["module"], m["status"]) for m in report["modules"]] == [("json", "ok")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name modules to check"),
        (("not a module!",), "neither a module name nor an installed distribution"),
        (("-r", "/nonexistent/requirements.txt"), "No such file"),
    ],
)
def test_usage_errors_exit_two(args: tuple[str, ...], message: str) -> None:
    done = run_python("-m", "interpool", "doctor", *args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr


def test_bad_timeout_is_a_usage_error() -> None:
    done = run_python("-m", "interpool", "doctor", "json", "--timeout", "0", timeout=60)
    assert done.returncode == 2
    assert "positive number of seconds" in done.stderr


def test_requirements_file(tmp_path: Path) -> None:
    write(
        tmp_path / "more.txt",
        """\
        pytest>=8  # an inline comment
        """,
    )
    write(
        tmp_path / "requirements.txt",
        """\
        # a comment
        --index-url https://example.invalid/simple
        -r more.txt
        -c constraints.txt

        cloudpickle[extra1] >= 3.1 ; python_version >= "3.13"
        interpool-doc-not-installed==1.0
        never-here ; python_version < "3"
        Pytest-Timeout \\
            >=2.3
        ./local/path
        https://example.invalid/pkg.whl
        -e git+https://example.invalid/x.git#egg=iniconfig
        """,
    )
    notes: list[str] = []
    targets = requirement_targets(tmp_path / "requirements.txt", notes)
    modules = [t.module for t in targets]
    assert modules[0] in {"py", "pytest"}  # from more.txt: the pytest distribution's modules
    assert "pytest" in modules
    assert [m for m in modules if m not in {"py", "pytest"}] == [
        "cloudpickle",
        "interpool_doc_not_installed",
        "pytest_timeout",
        "iniconfig",
    ]
    text = "\n".join(notes)
    assert "--index-url" in text
    assert "constraints file constraints.txt skipped" in text
    assert "the extras [extra1] of cloudpickle were not followed" in text
    assert "never-here skipped" in text
    assert "./local/path" in text
    assert "https://example.invalid/pkg.whl" in text
    assert "requirements.txt:" in text


def test_requirement_not_installed_is_missing(tmp_path: Path) -> None:
    write(tmp_path / "r.txt", "interpool-doc-not-installed\njson-is-not-a-dist\n")
    status, report = doctor_json(requirements=[str(tmp_path / "r.txt")])
    assert status == 1
    first = report["modules"][0]
    assert (first["module"], first["status"], first["distribution"]) == (
        "interpool_doc_not_installed",
        "missing",
        "interpool-doc-not-installed",
    )
    assert "pip install interpool-doc-not-installed" in first["advice"]


def test_include_cycle_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "-r b.txt\ncloudpickle\n")
    write(tmp_path / "b.txt", "-r a.txt\n")
    notes: list[str] = []
    assert [t.module for t in requirement_targets(tmp_path / "a.txt", notes)] == ["cloudpickle"]
    assert any("included more than once" in note for note in notes)


def test_distribution_name_gives_its_modules() -> None:
    pytest.importorskip("bs4")
    status, report = doctor_json("beautifulsoup4")
    assert status == 0
    assert [(m["module"], m["distribution"]) for m in report["modules"]] == [
        ("bs4", "beautifulsoup4")
    ]
    assert "beautifulsoup4 is a distribution: checked its modules bs4" in report["notes"]


def test_all_lists_installed_distributions() -> None:
    notes: list[str] = []
    targets = _doctor.installed_targets(notes)
    by_module = {t.module: t.distribution for t in targets}
    assert by_module.get("cloudpickle") == "cloudpickle"
    assert by_module.get("pytest") == "pytest"
    assert "__pycache__" not in by_module
    assert all(m.isidentifier() for m in by_module)
    assert len(by_module) == len(targets)


def test_render_wraps_error_and_advice() -> None:
    report = _doctor.Report(
        [
            _doctor.Finding("json", "ok"),
            _doctor.Finding("x", "fails", "x-dist", "1.0", "E: " + "boom " * 30, "do this"),
        ],
        ["a note"],
    )
    text = report.render(width=60)
    assert all(len(line) <= 60 for line in text.splitlines()[1:-1])  # not the title, summary
    assert "  FAILS    x       (x-dist 1.0)" in text
    assert "           advice: do this" in text
    assert "  - a note" in text
    assert text.endswith("2 modules checked: 1 ok, 1 fail to import for another reason.\n")

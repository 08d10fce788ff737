"""The stress script (benchmarks/stress.py) for 6 seconds on the running Python:
millions of tiny tasks from 4 threads through map and submit on one pool, each result
checked, memory steady.  About 14 s (6 s plus the script's warm-up; CI runs it on 3.14 and
3.15)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..support import run_python

pytestmark = pytest.mark.version_independent

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "stress.py"
SECONDS = 6

MODES = (
    "map",
    "map chunksize=1",
    "map chunksize=16",
    "map buffersize=4 (lazy)",
    "submit + result",
    "submit + as_completed",
)


def field(output: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}: (.+)$", output, re.MULTILINE)
    assert match, f"no {name!r} line in:\n{output}"
    return match.group(1)


@pytest.mark.timeout(SECONDS + 280)
def test_stress_script_for_6_seconds(tmp_path: Path) -> None:
    proc = run_python(
        SCRIPT, "--seconds", str(SECONDS), "--threads", "4", cwd=tmp_path, timeout=SECONDS + 240
    )
    out = proc.stdout
    assert proc.returncode == 0, f"{out}\n{proc.stderr}"
    assert out.rstrip().endswith("\nOK"), out
    assert "FAIL" not in out
    assert ", 4 threads" in out

    tasks = int(field(out, "tasks"))
    assert tasks >= 6_000, out  # at least 1,000 tasks/s, far below what it does
    for mode in MODES:
        assert int(field(out, f"  {mode}")) > 0, f"mode {mode!r} never ran:\n{out}"
    # Ids are consecutive and n % 100 == 7 raises: exactly 1% of them, give or take one.
    errors = int(field(out, "errors seen"))
    assert abs(errors - tasks / 100) <= 1, out
    assert float(field(out, "seconds")) >= SECONDS - 1

    before = float(field(out, "RSS before").removesuffix(" MiB"))
    match = re.fullmatch(r"([\d.]+) MiB \(([+-][\d.]+)%\)", field(out, "RSS after"))
    assert match, out
    after, growth = match.groups()
    assert before > 0
    assert float(after) < before * 1.10, out
    assert float(growth) < 10.0, out

"""``examples/pipeline.py`` runs and prints the right count."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support import assert_clean_stderr, run_python

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "pipeline.py"


@pytest.mark.timeout(120)
def test_pipeline_example() -> None:
    done = run_python(SCRIPT, "100000", timeout=100)
    assert done.returncode == 0, done.stderr
    assert_clean_stderr(done.stderr)
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("9592 primes below 100,000 ("), done.stdout
    blocks = [line for line in lines if line.startswith("block")]
    assert len(blocks) == 4  # 2 .. 100,000 in blocks of 25,000
    assert blocks[-1].endswith("9,592 so far")

"""The documentation stays true: every Python example of the README and of ``docs/``
runs (each block as a script of its own, as a user would paste it), and
``docs/reference.md`` is what ``scripts/reference.py`` makes from the docstrings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import interpool

from ..support import run_python

pytestmark = pytest.mark.version_independent

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _examples() -> list[tuple[str, str]]:
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_the_documents_have_examples() -> None:
    assert len([name for name, _ in EXAMPLES if name.startswith("README")]) >= 5


@pytest.mark.parametrize("code", [code for _, code in EXAMPLES], ids=[n for n, _ in EXAMPLES])
def test_example_runs(code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = run_python(str(script), cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr


def test_every_public_name_is_in_the_reference() -> None:
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    for name in interpool.__all__:
        assert f"## `{name}`" in reference, f"{name} is missing from docs/reference.md"
        assert (getattr(interpool, name).__doc__ or "").strip(), f"{name} has no docstring"


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 14), reason="generated with 3.14 (signatures print differently)"
)
def test_the_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr

"""The documentation stays true: every Python example of the README, CONTRIBUTING and
``docs/`` runs (each ```python block as a script of its own, as a user would paste it),
their relative links and images point to files (and headings) that exist, and
``docs/reference.md`` is what ``scripts/reference.py`` makes from the docstrings.

Blocks that must not run (shell sessions, output, fragments) are tagged ``sh``,
``console`` or ``text`` instead of ``python`` (see CONTRIBUTING.md)."""

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
REFERENCE = ROOT / "docs" / "reference.md"
#: The documents whose examples run: every Markdown file of the documentation but the
#: generated reference.
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p != REFERENCE),
]
#: The documents whose links are checked.
LINKED = [*DOCUMENTS, REFERENCE, ROOT / "benchmarks" / "README.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


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
    assert len([name for name, _ in EXAMPLES if name.startswith("docs/guide")]) >= 10


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to
    hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_anchor(heading) for heading in _HEADING.findall(text)}


@pytest.mark.parametrize("path", LINKED, ids=[str(p.relative_to(ROOT)) for p in LINKED])
def test_relative_links_resolve(path: Path) -> None:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{path.relative_to(ROOT)}: {broken}"


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

"""``check_modules``: which modules can be imported in a sub-interpreter."""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path

import pytest

import interpool
from interpool import ModuleCheck, check_modules
from interpool._platform import interpreters

from ..support import wait_until, write

pytestmark = pytest.mark.timeout(120)

REFUSAL = "does not support loading in subinterpreters"


def test_pure_python_module_is_ok() -> None:
    assert check_modules("json") == {"json": ModuleCheck("json", ok=True)}
    check = check_modules("json")["json"]
    assert (check.ok, check.error, check.incompatible, check.advice) == (True, None, False, "")


def test_numpy_is_incompatible() -> None:
    pytest.importorskip("numpy")
    check = check_modules("numpy")["numpy"]
    assert not check.ok
    assert check.incompatible
    # numpy wraps CPython's refusal in an ImportError of its own: the refusal is found
    # in its chain, and names the extension module that refused.
    assert check.error is not None
    assert check.error.startswith("ImportError: module numpy.")
    assert check.error.endswith(REFUSAL)
    assert 'fallback="processes"' in check.advice
    assert "upgrade numpy" in check.advice


def test_single_phase_extension_is_incompatible() -> None:
    pytest.importorskip("_testsinglephase")
    check = check_modules("_testsinglephase")["_testsinglephase"]
    assert check.incompatible
    assert check.error == f"ImportError: module _testsinglephase {REFUSAL}"


def test_missing_module_is_not_incompatible() -> None:
    check = check_modules("interpool_no_such_module")["interpool_no_such_module"]
    assert not check.ok
    assert not check.incompatible
    assert check.error == "ModuleNotFoundError: No module named 'interpool_no_such_module'"
    assert "install it" in check.advice


def test_module_failing_for_another_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "interpool_broken_mod.py", "raise RuntimeError('broken on purpose')\n")
    write(tmp_path / "interpool_needs_missing.py", "import interpool_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the caller's sys.path reaches the checks
    checks = check_modules("interpool_broken_mod", "interpool_needs_missing")
    broken = checks["interpool_broken_mod"]
    assert (broken.ok, broken.incompatible) == (False, False)
    assert broken.error == "RuntimeError: broken on purpose"
    needs = checks["interpool_needs_missing"]
    assert (needs.ok, needs.incompatible) == (False, False)
    assert "interpool_missing_dependency" in needs.advice
    assert "install it" in needs.advice
    # Nothing was imported here.
    assert "interpool_broken_mod" not in sys.modules
    assert "interpool_needs_missing" not in sys.modules


def test_several_at_once_each_in_its_own_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("numpy")
    # Importing it sets a flag in the interpreter's ``sys``: another check that ran in
    # the same interpreter after it would see it.
    write(tmp_path / "interpool_marker.py", "import sys\nsys.interpool_marker = True\n")
    write(
        tmp_path / "interpool_sees_marker.py",
        "import sys\nassert not hasattr(sys, 'interpool_marker'), 'shared interpreter'\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ["interpool_marker", "numpy", "json", "interpool_sees_marker", "nope_nope", "json"]
    checks = check_modules(*names)
    assert list(checks) == [
        "interpool_marker",
        "numpy",
        "json",
        "interpool_sees_marker",
        "nope_nope",
    ]
    assert {name: c.ok for name, c in checks.items()} == {
        "interpool_marker": True,
        "numpy": False,
        "json": True,
        "interpool_sees_marker": True,
        "nope_nope": False,
    }
    assert checks["numpy"].incompatible
    assert not checks["nope_nope"].incompatible
    assert all(c.name == name for name, c in checks.items())


def test_main_interpreter_is_not_affected() -> None:
    before = {i.id for i in interpreters.list_all()}
    had_colorsys = "colorsys" in sys.modules
    checks = check_modules("colorsys", "numpy", "interpool_no_such_module")
    assert checks["colorsys"].ok
    assert {i.id for i in interpreters.list_all()} == before == {interpreters.get_main().id}
    assert ("colorsys" in sys.modules) == had_colorsys


def test_no_names_and_bad_names() -> None:
    assert check_modules() == {}
    with pytest.raises(TypeError):
        check_modules(42)  # type: ignore[arg-type]
    for bad in ("", ".relative", "a..b", "has space"):
        with pytest.raises(ValueError, match="module name"):
            check_modules(bad)
    with pytest.raises(ValueError, match="timeout"):
        check_modules("json", timeout=-1)


def test_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "interpool_slow_mod.py", "import time\ntime.sleep(0.6)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    slow = check_modules("interpool_slow_mod", timeout=0.2)["interpool_slow_mod"]
    assert (slow.ok, slow.incompatible) == (False, False)
    assert slow.error is not None and slow.error.startswith("TimeoutError")
    # The slow import goes on in the background; its interpreter is closed after it.
    assert wait_until(lambda: not [t for t in threading.enumerate() if "check-modules" in t.name])
    assert [i.id for i in interpreters.list_all()] == [interpreters.get_main().id]


def test_module_check_is_frozen_and_public() -> None:
    check = ModuleCheck("m", ok=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.ok = False  # type: ignore[misc]
    assert interpool.ModuleCheck is ModuleCheck
    assert interpool.check_modules is check_modules
    assert {"ModuleCheck", "check_modules"} <= set(interpool.__all__)

"""The worker-side and caller-side pieces behind "a script's functions run whatever its
top level does" (``_wire.functions``), tested in this process; the scripts themselves
run in ``tests/integration/test_scripts.py``."""

from __future__ import annotations

import pickle
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

import interpool
from interpool._wire import functions
from interpool._wire.errors import rebuild_exception
from interpool._wire.functions import KEPT, FunctionCache, NeedsValue, describe_key
from interpool.exceptions import IncompatibleModuleError


def script(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(source))
    return path


GUARDED = """\
    import os                                  # 1
    def f(x):                                  # 2
        return x                               # 3
    if __name__ == "__main__":                 # 4
        pool = 1                               # 5
        if True:                               # 6
            pool = 2                           # 7
    if "__main__" == __name__:                 # 8
        pool = 3                               # 9
    if __name__ != "__main__":                 # 10
        pool = 4                               # 11
    pool = 5                                   # 12
"""


@pytest.mark.parametrize(
    ("line", "guarded"),
    [(1, False), (5, True), (7, True), (9, True), (11, False), (12, False)],
)
def test_lines_inside_the_main_guard(tmp_path: Path, line: int, guarded: bool) -> None:
    path = script(tmp_path, GUARDED)
    assert functions._guarded(str(path), line) is guarded


def test_an_unreadable_script_counts_as_guarded(tmp_path: Path) -> None:
    assert functions._guarded(str(tmp_path / "missing.py"), 3)
    broken = script(tmp_path, "def (:\n")
    assert functions._guarded(str(broken), 1)


def test_describe_key() -> None:
    assert describe_key("time:sleep") == "time.sleep"
    assert describe_key("__main__:C.method") == "C.method"
    assert describe_key("builtins:len") == "len"
    assert describe_key(b"\x80\x05...") == "a function sent by value"


# -- the worker's side: loading the script, and kept functions ---------------------------


def test_a_script_that_fails_to_load_asks_for_the_function_by_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = script(
        tmp_path,
        """\
        print("top-level output, silenced in a worker")
        import sys
        def f(x):
            return x
        raise ImportError("module fake does not support loading in subinterpreters")
        """,
    )
    cache = FunctionCache(("path", str(path)))
    with pytest.raises(NeedsValue) as caught:
        cache("__main__:f")
    reason = caught.value.unloadable
    assert reason is not None
    assert "refuses sub-interpreters" in reason
    assert f"(line 5 of {path})" in reason
    # Loaded once: the next key fails at once, with the same reason.
    with pytest.raises(NeedsValue) as again:
        cache("__main__:g")
    assert again.value.unloadable == reason
    # Arguments that name the script's objects get an error that says what to do.
    with pytest.raises(functions.MainUnavailable, match="define those classes in a module"):
        cache.main_module()
    assert capsys.readouterr() == ("", "")
    assert "__interpool_main__" not in sys.modules


def test_a_function_missing_from_the_loaded_script_asks_for_it_by_value(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """\
        def f(x):
            return x
        if __name__ == "__main__":
            def nested(x):
                return x
        """,
    )
    cache = FunctionCache(("path", str(path)))
    try:
        assert cache("__main__:f")(3) == 3
        with pytest.raises(NeedsValue) as caught:
            cache("__main__:nested")
        assert caught.value.unloadable is None  # the script loads: only this one is missing
    finally:
        sys.modules.pop("__interpool_main__", None)


def test_the_script_sees_it_is_loaded_by_a_worker(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """\
        from interpool._wire import functions
        seen = functions.loading_script()
        """,
    )
    cache = FunctionCache(("path", str(path)))
    try:
        assert cache.main_module().seen is True
        assert not functions.loading_script()
    finally:
        sys.modules.pop("__interpool_main__", None)


def _kept_key(fn: object, ident: int) -> bytes:
    return KEPT + ident.to_bytes(8, "little") + functions._by_value(fn, itself=True)


def test_kept_functions_are_unpickled_once_and_share_their_globals() -> None:
    namespace: dict[str, object] = {"__name__": "__main__", "state": None}
    exec(
        textwrap.dedent(
            """\
            def setup(value):
                global state
                state = value
            def read():
                return state
            """
        ),
        namespace,
    )
    setup, read = namespace["setup"], namespace["read"]
    for fn in (setup, read):
        fn.__module__ = "__main__"  # type: ignore[attr-defined]
    cache = FunctionCache(None)
    setup_key, read_key = _kept_key(setup, 1), _kept_key(read, 2)
    worker_setup = cache(setup_key)
    assert cache(setup_key) is worker_setup  # kept: not unpickled again
    worker_setup(42)
    assert cache(read_key)() == 42  # another pickle, one namespace
    assert namespace["state"] is None  # the caller's globals are untouched


# -- errors: where the import was, and the ways out -----------------------------------


def test_incompatible_module_error_gives_the_ways_out() -> None:
    error = IncompatibleModuleError(
        "numpy._core._multiarray_umath", "part of 'numpy'", "f.py, line 3"
    )
    text = str(error)
    assert "imported at f.py, line 3. Either run such tasks in a process" in text
    assert 'Pool(fallback="processes")' in text
    assert "move that import into the functions that need it" in text
    assert "upgrade numpy" in text
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == text and copy.where == "f.py, line 3" and copy.top_level
    inside = IncompatibleModuleError("numpy", "", "f.py, line 9", top_level=False)
    assert "move that import" not in str(inside)
    assert pickle.loads(pickle.dumps(inside)).top_level is False


def test_a_stdlib_module_gets_no_upgrade_advice() -> None:
    assert "upgrade" not in str(IncompatibleModuleError("faulthandler"))
    assert "upgrade" not in str(IncompatibleModuleError("_curses", "part of 'curses'"))
    only = IncompatibleModuleError("readline", "", "f.py, line 2", top_level=False)
    assert ", imported at f.py, line 2. Run such tasks in a process with" in str(only)


def test_the_import_site_is_read_from_the_workers_traceback() -> None:
    def encoded() -> object:
        try:
            try:
                raise ImportError(
                    "module numpy._core._multiarray_umath does not support loading in "
                    "subinterpreters"
                )
            except ImportError as inner:
                raise ImportError("numpy failed") from inner
        except ImportError as exc:
            return interpool._wire.errors.encode_error(exc)

    rebuilt = rebuild_exception(encoded())  # type: ignore[arg-type]
    assert isinstance(rebuilt, IncompatibleModuleError)
    assert rebuilt.where.startswith(f"{__file__}, line ")
    assert "raise ImportError(" in rebuilt.where
    assert rebuilt.top_level is False  # in a function: moving the import would not help


def test_public_classes_show_their_public_name() -> None:
    for name in (
        "InterpoolError",
        "IncompatibleModuleError",
        "RemoteTraceback",
        "RemoteError",
        "WorkerCrashed",
        "ActorLost",
        "ChannelClosed",
        "ItemLost",
        "BrokenPool",
        "PoolFuture",
        "Pool",
        "TaskOptions",
        "Actor",
        "ActorMethod",
        "Sender",
        "Receiver",
        "InterpreterOptions",
        "ModuleCheck",
    ):
        cls = getattr(interpool, name)
        assert cls.__module__ == "interpool", name
        assert pickle.loads(pickle.dumps(cls)) is cls
    line = traceback.format_exception_only(interpool.WorkerCrashed("x"))[0]
    assert line == "interpool.WorkerCrashed: x\n"

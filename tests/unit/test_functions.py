"""What can be sent as a task: functions, builtins, classes, methods, partials, scripts."""

from __future__ import annotations

import functools
import gc
import math
import operator
import textwrap
import threading
import weakref
from fractions import Fraction
from pathlib import Path

import pytest

import interpool

from ..support import PATIENCE, assert_clean_stderr, run_python, write
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)


# -- callables that can be sent ---------------------------------------------------------


def test_module_level_function(pool: interpool.Pool) -> None:
    assert pool.submit(tasks.square, 12).result(timeout=PATIENCE) == 144


@pytest.mark.parametrize(
    ("fn", "args", "expected"),
    [
        (len, ("abcd",), 4),
        (math.sqrt, (16,), 4.0),
        (operator.add, (2, 3), 5),
        (max, (3, 9, 4), 9),
        (divmod, (17, 5), (3, 2)),
        (sorted, ([3, 1, 2],), [1, 2, 3]),
        (str.upper, ("abc",), "ABC"),
    ],
)
def test_builtins(
    pool: interpool.Pool, fn: object, args: tuple[object, ...], expected: object
) -> None:
    assert pool.submit(fn, *args).result(timeout=PATIENCE) == expected  # type: ignore[arg-type]


def test_classes_are_called(pool: interpool.Pool) -> None:
    fraction = pool.submit(Fraction, 1, 3).result(timeout=PATIENCE)
    assert type(fraction) is Fraction
    assert fraction == Fraction(1, 3)
    instance = pool.submit(tasks.Multiplier, 4).result(timeout=PATIENCE)
    assert type(instance) is tasks.Multiplier
    assert instance.factor == 4
    assert pool.submit(dict, a=1).result(timeout=PATIENCE) == {"a": 1}


def test_static_and_class_methods(pool: interpool.Pool) -> None:
    assert pool.submit(tasks.Multiplier.static_add, 2, 5).result(timeout=PATIENCE) == 7
    created = pool.submit(tasks.Multiplier.create, 6).result(timeout=PATIENCE)
    assert type(created) is tasks.Multiplier
    assert created.factor == 6


def test_bound_methods(pool: interpool.Pool) -> None:
    assert pool.submit(tasks.Multiplier(3).mul, 5).result(timeout=PATIENCE) == 15
    assert pool.submit(tasks.Multiplier(7).mul, 2).result(timeout=PATIENCE) == 14
    assert list(pool.map(tasks.Multiplier(2).mul, range(5))) == [0, 2, 4, 6, 8]
    assert pool.submit("-".join, ["a", "b"]).result(timeout=PATIENCE) == "a-b"


def test_partials(pool: interpool.Pool) -> None:
    assert pool.submit(functools.partial(tasks.add, 10), 5).result(timeout=PATIENCE) == 15
    assert pool.submit(functools.partial(tasks.echo, 1, k=2), 3).result(timeout=PATIENCE) == (
        (1, 3),
        {"k": 2},
    )
    assert list(pool.map(functools.partial(tasks.add, 100), range(3))) == [100, 101, 102]
    assert pool.submit(functools.partial(tasks.add, "x"), "y").result(timeout=PATIENCE) == "xy"


def test_callable_instance(pool: interpool.Pool) -> None:
    assert pool.submit(tasks.CallCounter()).result(timeout=PATIENCE) == 1


def test_same_function_many_times(pool: interpool.Pool) -> None:
    futures = [pool.submit(functools.partial(tasks.add, i), i) for i in range(50)]
    assert [f.result(timeout=PATIENCE) for f in futures] == [2 * i for i in range(50)]


# -- callables sent by value (see also test_callables_by_value.py) -----------------------


def test_lambda_runs(pool: interpool.Pool) -> None:
    assert pool.submit(lambda: 1).result(timeout=PATIENCE) == 1
    assert list(pool.map(lambda x: x + 1, [1, 2])) == [2, 3]


def test_closure_runs(pool: interpool.Pool) -> None:
    offset = 3

    def closure(x: int) -> int:
        return x + offset

    assert pool.submit(closure, 1).result(timeout=PATIENCE) == 4


def test_method_of_local_class_runs(pool: interpool.Pool) -> None:
    class Local:
        def __init__(self, n: int) -> None:
            self.n = n

        def method(self) -> int:
            return self.n

    assert pool.submit(Local(5).method).result(timeout=PATIENCE) == 5
    assert pool.submit(lambda: Local(6).method()).result(timeout=PATIENCE) == 6


def test_partial_of_lambda_runs(pool: interpool.Pool) -> None:
    assert pool.submit(functools.partial(lambda x, y: x - y, 10), 1).result(timeout=PATIENCE) == 9


# -- callables that cannot be sent ------------------------------------------------------


def test_unpicklable_closure_is_rejected_at_submit(pool: interpool.Pool) -> None:
    lock = threading.Lock()

    def closure() -> bool:
        return lock.locked()

    with pytest.raises(TypeError, match="cannot send") as info:
        pool.submit(closure)
    assert "closure" in str(info.value)
    assert "lock" in str(info.value)


@pytest.mark.parametrize("not_callable", [3, "abc", None, [tasks.square]])
def test_non_callable_is_rejected(pool: interpool.Pool, not_callable: object) -> None:
    with pytest.raises(TypeError, match="callable"):
        pool.submit(not_callable)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        pool.map(not_callable, [1])  # type: ignore[arg-type]


def test_pool_works_after_rejections(pool: interpool.Pool) -> None:
    lock = threading.Lock()
    for _ in range(3):
        with pytest.raises(TypeError):
            pool.submit(lambda: lock)
    assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2


# -- each submission sends the callable as it is then -----------------------------------


def test_partial_state_at_submit_time(pool: interpool.Pool) -> None:
    values = [1]
    summer = functools.partial(tasks.total, values)
    assert pool.submit(summer).result(timeout=PATIENCE) == 1
    values.append(2)
    assert summer() == 3
    assert pool.submit(summer).result(timeout=PATIENCE) == 3


def test_bound_method_state_at_submit_time(pool: interpool.Pool) -> None:
    acc = tasks.Accumulator()
    acc.items.append(5)
    assert pool.submit(acc.total).result(timeout=PATIENCE) == 5
    acc.items.append(10)
    assert pool.submit(acc.total).result(timeout=PATIENCE) == 15


def test_each_submission_gets_a_fresh_copy_of_the_callable(pool1: interpool.Pool) -> None:
    counter = tasks.CallCounter()
    assert [pool1.submit(counter).result(timeout=PATIENCE) for _ in range(3)] == [1, 1, 1]
    assert counter.calls == 0


def test_submitted_callable_is_not_kept_alive(pool: interpool.Pool) -> None:
    acc = tasks.Accumulator()
    ref = weakref.ref(acc)
    assert pool.submit(acc.append, 1).result(timeout=PATIENCE) == [1]
    del acc
    gc.collect()
    assert ref() is None


# -- functions of the __main__ script ---------------------------------------------------


def test_main_script_functions(tmp_path: Path) -> None:
    script = write(
        tmp_path / "script.py",
        """\
        import interpool

        print("TOPLEVEL", flush=True)


        def square(x):
            return x * x


        def whoami():
            return __name__


        if __name__ == "__main__":
            print("GUARDED", flush=True)
            with interpool.Pool(2) as pool:
                print("RESULTS", list(pool.map(square, range(10))), flush=True)
                print("SUBMIT", pool.submit(square, 12).result(), flush=True)
                print("NAME", pool.submit(whoami).result(), flush=True)
        """,
    )
    proc = run_python(script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines.count("GUARDED") == 1
    assert "RESULTS [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]" in lines
    assert "SUBMIT 144" in lines
    # The worker loads the script under another name, so its guard stays closed.
    assert "NAME __main__" not in lines
    assert 1 <= lines.count("TOPLEVEL") <= 3
    assert_clean_stderr(proc.stderr)


def test_main_script_classes_round_trip(tmp_path: Path) -> None:
    script = write(
        tmp_path / "classes.py",
        """\
        import dataclasses

        import interpool


        @dataclasses.dataclass
        class Box:
            value: int


        class ScriptError(Exception):
            pass


        def grow(box):
            assert type(box).__name__ == "Box", type(box)
            return Box(box.value + 1)


        def fail(message):
            raise ScriptError(message)


        if __name__ == "__main__":
            with interpool.Pool(2) as pool:
                out = pool.submit(grow, Box(1)).result()
                print("TYPE", type(out) is Box, out, flush=True)
                boxes = list(pool.map(grow, [Box(i) for i in range(5)], chunksize=2))
                print("MAP", [b.value for b in boxes], all(type(b) is Box for b in boxes))
                try:
                    pool.submit(fail, "from script").result()
                except ScriptError as exc:
                    print("ERROR", type(exc) is ScriptError, exc, flush=True)
        """,
    )
    proc = run_python(script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "TYPE True Box(value=2)" in lines
    assert "MAP [1, 2, 3, 4, 5] True" in lines
    assert "ERROR True from script" in lines
    assert_clean_stderr(proc.stderr)


def test_main_module_run_with_dash_m(tmp_path: Path) -> None:
    package = tmp_path / "scriptpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write(
        package / "runner.py",
        """\
        import interpool


        def cube(x):
            return x ** 3


        if __name__ == "__main__":
            print("GUARDED", flush=True)
            with interpool.Pool(2) as pool:
                print("RESULTS", list(pool.map(cube, range(5))), flush=True)
        """,
    )
    proc = run_python("-m", "scriptpkg.runner", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines.count("GUARDED") == 1
    assert "RESULTS [0, 1, 8, 27, 64]" in lines
    assert_clean_stderr(proc.stderr)


def test_main_function_without_script_runs(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """\
        import interpool

        def f(x):
            return x * 2

        with interpool.Pool(1) as pool:
            print("RESULT", pool.submit(f, 21).result(timeout=30))
            print("STILL-WORKS", pool.submit(abs, -3).result(timeout=30))
        """
    )
    proc = run_python("-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["RESULT 42", "STILL-WORKS 3"]
    assert_clean_stderr(proc.stderr)

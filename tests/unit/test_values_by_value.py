"""Arguments and results that plain pickle cannot send go by value (cloudpickle)."""

from __future__ import annotations

import textwrap
import threading
from typing import Any

import pytest

import interpool

from ..support import assert_clean_stderr, run_python
from ..tasks import basic as tasks


def apply(fn: Any, *args: Any) -> Any:
    return fn(*args)


def make_adder(n: int) -> Any:
    return lambda x: x + n


def test_lambda_argument(pool: interpool.Pool) -> None:
    assert pool.submit(apply, lambda x: x * 3, 7).result() == 21
    assert list(pool.map(apply, [lambda: 1, lambda: 2])) == [1, 2]


def test_lambda_result(pool: interpool.Pool) -> None:
    adder = pool.submit(make_adder, 10).result()
    assert adder(5) == 15


def test_instance_of_a_local_class_both_ways(pool: interpool.Pool) -> None:
    class Local:
        def __init__(self, v: int) -> None:
            self.v = v

    assert pool.submit(apply, lambda o: o.v + 1, Local(41)).result() == 42
    back = pool.submit(apply, lambda: Local(9)).result()
    assert type(back) is Local  # cloudpickle maps its by-value classes back
    assert back.v == 9


def test_buffers_next_to_a_lambda_keep_their_type(pool: interpool.Pool) -> None:
    import array

    view = memoryview(array.array("d", range(20_000))).cast("B").cast("d", (5_000, 4))
    fmt, shape = pool.submit(apply, lambda v: (v.format, v.shape), view).result()
    assert (fmt, shape) == ("d", (5_000, 4))


def test_plain_pickle_still_used_for_ordinary_values(pool: interpool.Pool) -> None:
    """Module classes keep their identity (no by-value copy of the class)."""
    point = pool.submit(tasks.Point, 1, 2).result()
    assert type(point) is tasks.Point


def test_unsendable_even_by_value(pool: interpool.Pool) -> None:
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"argument 1 \(_thread\.lock\)"):
        pool.submit(apply, len, lock)
    assert pool.submit(apply, len, "abc").result() == 3


PROGRAM = textwrap.dedent(
    """
    import interpool

    class Point:
        def __init__(self, x):
            self.x = x

    def double(p):
        return Point(p.x * 2)

    with interpool.Pool(2) as pool:
        assert pool.submit(double, Point(21)).result().x == 42
        assert [p.x for p in pool.map(double, [Point(i) for i in range(5)])] == [0, 2, 4, 6, 8]
        assert pool.submit(lambda: Point(5)).result().x == 5
    print("ok")
    """
)


SCRIPT = textwrap.dedent(
    """
    import interpool

    class Point:
        def __init__(self, x):
            self.x = x

    if __name__ == "__main__":
        with interpool.Pool(1) as pool:
            # A lambda goes by value, but the script's class it meets stays the
            # worker's one class (by name), both ways.
            assert pool.submit(lambda p: isinstance(p, Point), Point(1)).result()
            assert pool.submit(lambda: Point(2)).result().__class__ is Point
        print("ok")
    """
)


def test_script_classes_keep_one_identity_beside_lambdas(tmp_path: Any) -> None:
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert_clean_stderr(result.stderr)


def test_repl_class_instances_cross_from_python_c() -> None:
    result = run_python("-c", PROGRAM)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert_clean_stderr(result.stderr)


def test_repl_class_instances_cross_from_stdin() -> None:
    result = run_python("-", input=PROGRAM)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert_clean_stderr(result.stderr)

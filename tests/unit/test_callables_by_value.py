"""Callables that cannot be imported by name (lambdas, closures, nested functions, local
classes' methods, functions of a ``__main__`` without a script) are sent by value, with
cloudpickle; the others keep the by-name path."""

from __future__ import annotations

import functools
import gc
import math
import pickle
import socket
import tempfile
import textwrap
import threading
import weakref
from pathlib import Path

import pytest

import interpool
from interpool._wire.functions import function_key

from ..support import PATIENCE, assert_clean_stderr, run_python
from ..tasks import basic as tasks

pytestmark = pytest.mark.timeout(60)

OFFSET = 1000  # a module global that by-value functions below use


# -- which path each kind of callable takes ---------------------------------------------


def test_importable_callables_keep_the_cached_by_name_key() -> None:
    for fn, key in [
        (tasks.square, "tests.tasks.basic:square"),
        (tasks.Multiplier, "tests.tasks.basic:Multiplier"),
        (tasks.Multiplier.static_add, "tests.tasks.basic:Multiplier.static_add"),
        (math.sqrt, "math:sqrt"),
        (len, "builtins:len"),
    ]:
        assert function_key(fn) == key
        assert function_key(fn) is function_key(fn)  # cached


def test_picklable_by_reference_callables_use_plain_pickle() -> None:
    for fn in [
        functools.partial(tasks.add, 1),
        tasks.Multiplier(3).mul,
        tasks.CallCounter(),
        "-".join,
    ]:
        key = function_key(fn)
        assert type(key) is bytes
        assert b"cloudpickle" not in key, fn


def test_other_callables_are_sent_by_value_with_cloudpickle() -> None:
    offset = 3

    def closure(x: int) -> int:
        return x + offset

    class Local:
        def method(self) -> int:
            return 1

    for fn in [
        lambda: 1,
        closure,
        functools.partial(lambda x: x, 1),
        Local().method,
        Local,
    ]:
        key = function_key(fn)
        assert type(key) is bytes
        assert b"cloudpickle" in key, fn
        # Loadable by a plain unpickler, which is what the worker uses.
        assert callable(pickle.loads(key))
    # Made afresh at each call, never cached.
    fn = lambda: 1  # noqa: E731
    assert function_key(fn) is not function_key(fn)


def test_cloudpickle_is_imported_only_when_needed(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """\
        import sys
        import interpool

        check = "'cloudpickle' in __import__('sys').modules"
        with interpool.Pool(1) as pool:
            print(pool.submit(eval, check).result(timeout=30), "cloudpickle" in sys.modules)
            print(pool.submit(abs, -1).result(timeout=30))
            print(pool.submit(lambda: 2).result(timeout=30))
            print(pool.submit(eval, check).result(timeout=30), "cloudpickle" in sys.modules)
        """
    )
    proc = run_python("-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False False", "1", "2", "True True"]
    assert_clean_stderr(proc.stderr)


# -- they run in workers ------------------------------------------------------------------


def test_lambda_submit_and_map(pool: interpool.Pool) -> None:
    assert pool.submit(lambda x, y=2: x**y, 7).result(timeout=PATIENCE) == 49
    assert pool.submit(lambda *a, **k: (a, k), 1, b=2).result(timeout=PATIENCE) == (
        (1,),
        {"b": 2},
    )
    expected = [x * x + OFFSET for x in range(100)]
    assert list(pool.map(lambda x: x * x + OFFSET, range(100))) == expected
    assert list(pool.map(lambda x: x * x + OFFSET, range(100), chunksize=1)) == expected
    assert list(pool.map(lambda x, y: x - y, range(10), range(10, 20), buffersize=2)) == [-10] * 10


def test_lambda_uses_imported_modules_and_module_functions(pool: interpool.Pool) -> None:
    assert pool.submit(lambda x: math.sqrt(tasks.square(x)), 9).result(timeout=PATIENCE) == 9.0


def test_closure_capturing_values(pool: interpool.Pool) -> None:
    factor = 3
    table = {"a": [1, 2], "b": (3,)}

    def closure(key: str) -> int:
        return factor * sum(table[key]) + OFFSET

    assert pool.submit(closure, "a").result(timeout=PATIENCE) == 1009
    assert list(pool.map(closure, ["a", "b"])) == [1009, 1009]


def test_closure_is_sent_as_it_is_at_submit_time(pool1: interpool.Pool) -> None:
    values = [1, 2]
    scale = 10

    def closure() -> int:
        return scale * sum(values)

    with tempfile.TemporaryDirectory() as directory:
        # Keep the only worker busy until the closure has been changed after its submit.
        blocker = pool1.submit(tasks.rendezvous, directory, "worker", 2, PATIENCE)
        early = pool1.submit(closure)
        values.append(100)
        scale = 1000
        late = pool1.submit(closure)
        Path(directory, "caller").touch()
        blocker.result(timeout=PATIENCE)
        assert early.result(timeout=PATIENCE) == 30
        assert late.result(timeout=PATIENCE) == 103_000
    assert closure() == 103_000  # the caller's closure is untouched


def test_no_state_leaks_between_calls(pool1: interpool.Pool) -> None:
    seen: list[int] = []

    def remember(x: int) -> list[int]:
        seen.append(x)
        return list(seen)

    assert [pool1.submit(remember, i).result(timeout=PATIENCE) for i in range(3)] == [
        [0],
        [1],
        [2],
    ]
    assert list(pool1.map(remember, range(3), chunksize=1)) == [[0], [1], [2]]
    assert seen == []


def test_nested_recursive_functions(pool: interpool.Pool) -> None:
    def fact(n: int) -> int:
        return 1 if n <= 1 else n * fact(n - 1)

    def is_even(n: int) -> bool:
        return True if n == 0 else is_odd(n - 1)

    def is_odd(n: int) -> bool:
        return False if n == 0 else is_even(n - 1)

    assert pool.submit(fact, 20).result(timeout=PATIENCE) == math.factorial(20)
    assert list(pool.map(is_even, range(6))) == [True, False] * 3


def test_partials_of_lambdas_and_closures(pool: interpool.Pool) -> None:
    base = 7
    add3 = functools.partial(lambda a, b, c=0: a + b + c + base, 1, c=100)
    assert pool.submit(add3, 2).result(timeout=PATIENCE) == 110
    assert list(pool.map(add3, [0, 10])) == [108, 118]
    nested = functools.partial(functools.partial(lambda a, b: a * b, 6), 7)
    assert pool.submit(nested).result(timeout=PATIENCE) == 42


def test_bound_method_of_local_class(pool: interpool.Pool) -> None:
    class Account:
        rate = 2

        def __init__(self, balance: int) -> None:
            self.balance = balance

        def projected(self, years: int) -> int:
            return self.balance * self.rate**years

        def describe(self) -> str:
            return f"{type(self).__name__}:{self.projected(1)}"

    account = Account(5)
    assert pool.submit(account.projected, 3).result(timeout=PATIENCE) == 40
    assert pool.submit(account.describe).result(timeout=PATIENCE) == "Account:10"
    account.balance = 50  # the instance is sent as it is at each submit
    assert pool.submit(account.projected, 1).result(timeout=PATIENCE) == 100
    assert list(pool.map(account.projected, range(3))) == [50, 100, 200]
    # The local class itself travels by value inside a lambda.
    assert pool.submit(lambda: Account(1).describe()).result(timeout=PATIENCE) == "Account:2"


def test_callable_instance_of_local_class(pool: interpool.Pool) -> None:
    class Adder:
        def __init__(self, n: int) -> None:
            self.n = n

        def __call__(self, x: int) -> int:
            return x + self.n

    assert pool.submit(Adder(5), 1).result(timeout=PATIENCE) == 6


def test_exceptions_of_by_value_callables(pool: interpool.Pool) -> None:
    def fail(x: int) -> int:
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 3") as info:
        pool.submit(fail, 3).result(timeout=PATIENCE)
    assert isinstance(info.value.__cause__, interpool.RemoteTraceback)
    results = pool.map(lambda x: x if x < 2 else fail(x), range(4), chunksize=1)
    assert next(results) == 0
    assert next(results) == 1
    with pytest.raises(ValueError, match="bad 2"):
        next(results)


def test_lambda_returning_values_made_in_the_worker(pool: interpool.Pool) -> None:
    made = pool.submit(lambda n: tasks.Multiplier(n * 2), 4).result(timeout=PATIENCE)
    assert made == tasks.Multiplier(8)
    pair = pool.submit(lambda: (tasks.Point(1, 2), [tasks.Color.RED])).result(timeout=PATIENCE)
    assert pair == (tasks.Point(1, 2), [tasks.Color.RED])
    assert type(pair[0]) is tasks.Point


def test_lambda_returning_a_lambda(pool: interpool.Pool) -> None:
    # Results that plain pickle cannot send go back by value too.
    inner = pool.submit(lambda: lambda: 1).result(timeout=PATIENCE)
    assert inner() == 1
    assert pool.submit(lambda: 2).result(timeout=PATIENCE) == 2


def test_initializer_may_be_a_lambda() -> None:
    with interpool.Pool(1, initializer=lambda v: tasks.init_set(v, OFFSET), initargs=(5,)) as p:
        assert p.submit(tasks.get_init_value).result(timeout=PATIENCE) == (5, OFFSET)


def test_by_value_callable_is_not_kept_alive(pool: interpool.Pool) -> None:
    class Box:
        def get(self) -> int:
            return 1

    box = Box()
    ref = weakref.ref(box)
    assert pool.submit(box.get).result(timeout=PATIENCE) == 1
    del box
    gc.collect()
    assert ref() is None


# -- what even cloudpickle cannot send ----------------------------------------------------


def test_unpicklable_closure_is_rejected_at_submit(pool: interpool.Pool) -> None:
    lock = threading.Lock()

    def guarded(x: int) -> int:
        with lock:
            return x

    with pytest.raises(TypeError) as info:
        pool.submit(guarded, 1)
    message = str(info.value)
    assert "cannot send function" in message
    assert "test_unpicklable_closure_is_rejected_at_submit.<locals>.guarded" in message
    assert "_thread.lock" in message  # the reason
    assert "inside the task" in message  # the fix
    assert isinstance(info.value.__cause__, Exception)
    with pytest.raises(TypeError, match=r"cannot send function .*guarded.*_thread\.lock"):
        pool.map(guarded, [1, 2])
    with pytest.raises(TypeError, match=r"functools\.partial of function .*<lambda>"):
        pool.submit(functools.partial(lambda lk: lk, lock))
    # The pool is not affected.
    assert pool.submit(lambda: 7).result(timeout=PATIENCE) == 7
    assert pool.submit(tasks.add, 1, 1).result(timeout=PATIENCE) == 2


def test_method_of_object_holding_a_socket_is_rejected(pool: interpool.Pool) -> None:
    class Client:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def send(self, data: bytes) -> int:
            return self.sock.send(data)

    left, right = socket.socketpair()
    with left, right, pytest.raises(TypeError) as info:
        pool.submit(Client(left).send, b"x")
    message = str(info.value)
    assert "cannot send method" in message
    assert "Client.send" in message
    assert "socket" in message
    assert pool.submit(abs, -4).result(timeout=PATIENCE) == 4


# -- __main__ without a script: python -c, stdin ------------------------------------------

MAIN_PROGRAM = textwrap.dedent(
    """\
    import functools
    import sys

    import interpool
    from interpool._wire.functions import function_key, main_ref

    SCALE = 10


    def helper(x):
        return x + 1


    def uses_global_and_helper(x):
        return helper(x) * SCALE


    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)


    class Counter:
        def __init__(self, start):
            self.start = start

        def add(self, x):
            return self.start + helper(x)


    print("MAIN", main_ref(), getattr(sys.modules["__main__"], "__file__", None))
    print("KEY", type(function_key(uses_global_and_helper)).__name__)
    with interpool.Pool(2) as pool:
        print("GLOBAL", pool.submit(uses_global_and_helper, 1).result(timeout=30))
        SCALE = 100
        print("GLOBAL-LATER", pool.submit(uses_global_and_helper, 1).result(timeout=30))
        print("MAP", list(pool.map(uses_global_and_helper, range(3))))
        print("FACT", pool.submit(fact, 6).result(timeout=30))
        print("LAMBDA", pool.submit(lambda x: helper(x) * SCALE, 4).result(timeout=30))
        print("PARTIAL", pool.submit(functools.partial(helper, 41)).result(timeout=30))
        print("METHOD", pool.submit(Counter(5).add, 2).result(timeout=30))
        print("LOCAL-CLASS", pool.submit(lambda: Counter(1).add(1)).result(timeout=30))
        print("BUILTIN", pool.submit(abs, -3).result(timeout=30))
    """
)

MAIN_EXPECTED = [
    "KEY bytes",
    "GLOBAL 20",
    "GLOBAL-LATER 200",
    "MAP [100, 200, 300]",
    "FACT 720",
    "LAMBDA 500",
    "PARTIAL 42",
    "METHOD 8",
    "LOCAL-CLASS 3",
    "BUILTIN 3",
]


def test_functions_of_python_dash_c(tmp_path: Path) -> None:
    proc = run_python("-c", MAIN_PROGRAM, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["MAIN None None", *MAIN_EXPECTED]
    assert_clean_stderr(proc.stderr)


def test_functions_of_a_program_read_from_stdin(tmp_path: Path) -> None:
    # Like the REPL: __main__ has no script file (its __file__ is "<stdin>").
    proc = run_python("-", input=MAIN_PROGRAM, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["MAIN None <stdin>", *MAIN_EXPECTED]
    assert_clean_stderr(proc.stderr)


def test_script_keeps_functions_by_name_and_sends_lambdas_by_value(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """\
            import functools

            import interpool
            from interpool._wire.functions import function_key

            LOADS = []
            LOADS.append(1)  # top-level code, run again by each worker that loads us


            def square(x):
                return x * x


            def loads():
                return len(LOADS)


            if __name__ == "__main__":
                print("KEY", function_key(square))
                partial_key = function_key(functools.partial(square, 3))
                print("PARTIAL-PLAIN", b"cloudpickle" not in partial_key)
                with interpool.Pool(1) as pool:
                    print("BY-NAME", pool.submit(square, 5).result(timeout=30))
                    print("PARTIAL", pool.submit(functools.partial(square, 3)).result())
                    k = 2
                    print("CLOSURE", pool.submit(lambda x: square(x) + k, 3).result())
                    print("MAP", list(pool.map(lambda x: -square(x), range(4))))
                    print("LOADS", pool.submit(loads).result(timeout=30))
            """
        )
    )
    proc = run_python(script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "KEY __main__:square",
        "PARTIAL-PLAIN True",
        "BY-NAME 25",
        "PARTIAL 9",
        "CLOSURE 11",
        "MAP [0, -1, -4, -9]",
        "LOADS 1",
    ]
    assert_clean_stderr(proc.stderr)

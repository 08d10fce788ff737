"""The data-plane benchmark (``python -m interpool bench --data``): what moving data
between the caller and the workers costs, for ``interpool.Pool`` and the standard
library's executors, in one run.

Sections (see ``benchmarks/README.md`` for what each measures and how to read it):

a. ``seed_bytes``: the seed workload whose every task also returns 100 MiB;
b. ``throughput``: ``bytes`` payloads of 1 KiB to 1 GiB, to a worker and back, GB/s;
c. ``arguments``: the round trip with a list or a dict of 100 items as argument;
d. ``encoding``: encoding those two values in-process (pickle, marshal, interpool's
   encoder, native sharing through a ``concurrent.interpreters`` queue);
e. ``matrix``: the payload matrix: ``list(ex.map(f, [payload] * n))`` for real shapes
   (lists, dicts, records, strs, objects of a user class, bytes-likes nested in
   containers, numpy arrays), both directions, against every standard executor, with
   interpool's ratio to the better of ``InterpreterPoolExecutor`` and
   ``ProcessPoolExecutor`` and the floor (pickle + one copy + unpickle).

Each figure is the median of ``repeat`` measurements (default :data:`DEFAULT_REPEAT`),
executors measured one after another in an order that rotates from repeat to repeat.
The results go to stdout (a table, or JSON with ``--json``) and to
``benchmarks/results/data-<python>.json`` and ``.txt``.  The helpers (statistics,
tables, executors, machine information, watchdog) are :mod:`.core`'s.
"""

from __future__ import annotations

import gc
import json
import marshal
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpool._platform import interpreters

from .core import (
    HAVE_IPE,
    KINDS,
    LABELS,
    Kind,
    Row,
    Section,
    Stat,
    Target,
    _finite,
    _warm_up,
    available,
    executors,
    fmt,
    fmt_advantage,
    fmt_range,
    fmt_x,
    format_table,
    list_schedule,
    output_dir,
    progress,
    python_tag,
    ratio,
    rotated,
    run_sections,
    write_results,
)
from .workloads import (
    PRIMES,
    SEED_RESULT_BYTES,
    build_payload,
    echo_len,
    inc,
    make_payload,
    nbytes_of,
    payload_back,
    payload_size,
    prime_and_bytes,
)

__all__ = ["DEFAULT_REPEAT", "main", "run"]

#: Repeats per figure without ``--repeat`` (the whole run stays under ~4 minutes on a
#: 2-CPU machine).
DEFAULT_REPEAT = 3

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: ``(label, bytes, calls per sample)`` of the throughput section: many calls for the
#: small sizes (a sample of one 1 KiB call would be all timer noise), few for the big
#: ones (a 1 GiB ``ProcessPoolExecutor`` call takes seconds and gigabytes).
SIZES: tuple[tuple[str, int, int], ...] = (
    ("1 KiB", KiB, 2_000),
    ("1 MiB", MiB, 200),
    ("100 MiB", 100 * MiB, 5),
    ("1 GiB", GiB, 1),
)

#: Executors of the throughput section, in table order; the thread pool is the
#: reference without any crossing.
THROUGHPUT_KINDS: tuple[Kind, ...] = available(("interpool", "ipe", "process", "thread"))

#: Executors of the arguments section.
ARGUMENT_KINDS: tuple[Kind, ...] = available(("interpool", "ipe", "thread"))
ARGUMENT_CALLS = 2_000

#: Encoding section: each sample is the fastest of ``ENCODE_BATCHES`` batches of
#: ``ENCODE_LOOPS`` encode+decode iterations (as ``timeit`` does: in-process
#: microbenchmarks only ever get slower from noise).
ENCODE_LOOPS = 2_000
ENCODE_BATCHES = 5

#: Watchdog of one section: this many seconds, plus as many per repeat.
SECTION_TIMEOUT = (120.0, 90.0)

SHORT = {
    "loop": "loop",
    "thread": "ThreadPool",
    "process": "ProcessPool",
    "ipe": "InterpreterPool",
    "interpool": "interpool",
}


def _values() -> dict[str, tuple[str, Any]]:
    """The argument values of sections c and d: ``key -> (label, value)``."""
    return {
        "list100": ("list of 100 ints", list(range(100))),
        "dict100": ("dict of 100 str->int", {f"key{i}": i for i in range(100)}),
    }


def _gc() -> None:
    """Free what the last measurement left (results, pickles) before the next one."""
    gc.collect()


# -- a. seed workload with large results --------------------------------------------


def bench_seed_bytes(workers: int, repeat: int) -> Section:
    """``list(ex.map(prime_and_bytes, PRIMES))``: the seed workload, where every task
    also returns 100 MiB, on warm pools against the plain loop (which keeps its
    results in a list too)."""
    size = SEED_RESULT_BYTES
    rows: dict[str, Row] = {"loop": Row("loop", LABELS["loop"])}
    for kind in KINDS:
        rows[kind] = Row(kind, LABELS[kind])
    for row in rows.values():
        row.info.update(numbers=len(PRIMES), result_bytes=size)
    per_item = [Stat() for _ in PRIMES]
    with executors(workers) as pools:
        runners: dict[str, Executor | None] = {"loop": None}
        runners.update((kind, ex) for kind, ex in pools.items())
        for ex in pools.values():
            _warm_up(ex, workers)
            # The first large results: interpool's handover set-up, allocator growth.
            _check_results(list(ex.map(prime_and_bytes, [3] * workers)), workers)
            _gc()
        for r in range(repeat):
            progress(f"a. seed workload with 100 MiB results, repeat {r + 1}/{repeat}")
            for key in rotated(list(runners), r):
                _gc()
                perf = time.perf_counter
                pool = runners[key]
                if pool is None:
                    out: list[bytes] = []
                    items: list[float] = []
                    start = perf()
                    for n in PRIMES:
                        t = perf()
                        out.append(prime_and_bytes(n))
                        items.append(perf() - t)
                    elapsed = perf() - start
                    for stat, t in zip(per_item, items, strict=True):
                        stat.add(t)
                else:
                    start = perf()
                    out = list(pool.map(prime_and_bytes, PRIMES))
                    elapsed = perf() - start
                _check_results(out, len(PRIMES))
                del out
                rows[key].stat.add(elapsed)
        _gc()
    loop = rows["loop"].stat.median
    ideal = loop / workers
    schedule = list_schedule([s.median for s in per_item], workers)
    interpool = rows["interpool"].stat.median
    section = Section(
        "seed_bytes",
        f"a. Seed workload with large results: list(ex.map(prime_and_bytes, PRIMES)), "
        f"{workers} workers",
        "seconds",
        "lower",
        list(rows.values()),
        "interpool",
        notes=[
            f"prime_and_bytes(n) runs is_prime(n), then returns b'\\xaa' * {size // MiB} MiB: "
            f"{len(PRIMES)} results, {len(PRIMES) * size // MiB} MiB in all, kept in a list by "
            "every row (the loop included), freed between runs.",
            f"ideal = loop / {workers} workers; best schedule = the loop's per-number times "
            f"run in order by {workers} workers, one task each (no pool can beat it): "
            f"{fmt(schedule)} s, i.e. {fmt_x(ratio(schedule, ideal))} of the ideal.",
        ],
        extra={
            "workers": workers,
            "result_bytes": size,
            "ideal_seconds": _finite(ideal),
            "best_schedule_seconds": _finite(schedule),
            "interpool_vs_ideal": _finite(ratio(interpool, ideal)),
            "seconds_per_number": [s.to_json() for s in per_item],
        },
    )
    table = []
    for row in section.rows:
        row.info["speedup_vs_loop"] = _finite(ratio(loop, row.stat.median))
        table.append(
            [
                row.label,
                fmt(row.stat.median),
                fmt_range(row.stat),
                fmt_x(ratio(loop, row.stat.median)),
                "(reference)" if row.key == "interpool" else fmt_advantage(section.advantage(row)),
            ]
        )
    for label, seconds in (
        (f"ideal: loop / {workers}", ideal),
        ("best schedule (computed)", schedule),
    ):
        table.append(
            [
                label,
                fmt(seconds),
                "",
                fmt_x(ratio(loop, seconds)),
                fmt_advantage(ratio(seconds, interpool)),
            ]
        )
    section.text = format_table(["", "seconds", "min-max", "vs loop", "interpool is"], table)
    return section


def _check_results(out: Sequence[bytes], count: int) -> None:
    size = SEED_RESULT_BYTES
    if len(out) != count or any(
        type(b) is not bytes or len(b) != size or b[0] != 0xAA or b[-1] != 0xAA for b in out
    ):
        raise AssertionError("prime_and_bytes: wrong results")


# -- b. throughput --------------------------------------------------------------------


def _size_key(label: str) -> str:
    return label.replace(" ", "")


def _send(ex: Executor, payload: bytes, calls: int) -> float:
    """Seconds for ``calls`` round trips of ``submit(nbytes_of, payload)``."""
    n = len(payload)
    perf = time.perf_counter
    start = perf()
    for _ in range(calls):
        got = ex.submit(nbytes_of, payload).result()
    elapsed = perf() - start
    if got != n:
        raise AssertionError(f"{type(ex).__name__}: nbytes_of returned {got}, not {n}")
    return elapsed


def _receive(ex: Executor | None, n: int, calls: int) -> float:
    """Seconds for ``calls`` round trips of ``submit(make_payload, n)`` (each result
    freed at once); without an executor, ``make_payload(n)`` in this thread."""
    perf = time.perf_counter
    got = -1
    if ex is None:
        start = perf()
        for _ in range(calls):
            got = len(make_payload(n))
        elapsed = perf() - start
    else:
        start = perf()
        for _ in range(calls):
            got = len(ex.submit(make_payload, n).result())
        elapsed = perf() - start
    if got != n:
        raise AssertionError(f"make_payload returned {got} bytes, not {n}")
    return elapsed


def bench_throughput(workers: int, repeat: int) -> Section:
    """``bytes`` payloads to a worker (``submit(nbytes_of, payload)``) and from one
    (``submit(make_payload, n)``), one call after another, in GB/s."""
    rows: dict[str, Row] = {}
    for direction in ("to", "from"):
        for label, n, calls in SIZES:
            names: list[str] = list(THROUGHPUT_KINDS)
            if direction == "from":
                names.append("create")
            for name in names:
                key = f"{direction}_{_size_key(label)}_{name}"
                rows[key] = Row(
                    key,
                    "create only (make_payload in this thread)"
                    if name == "create"
                    else LABELS[name],
                    info={
                        "direction": f"{direction} worker",
                        "executor": None if name == "create" else name,
                        "size": label,
                        "bytes": n,
                        "calls": calls,
                    },
                )
    with executors(workers, THROUGHPUT_KINDS) as pools:
        for ex in pools.values():
            _warm_up(ex, workers)
            # Large payloads both ways on every worker: first-use imports and set-up
            # (interpool's handover), allocator growth.
            for made in [ex.submit(make_payload, MiB) for _ in range(4 * workers)]:
                made.result()
            big = bytes(MiB)
            for sent in [ex.submit(nbytes_of, big) for _ in range(4 * workers)]:
                sent.result()
            del big
        _gc()
        receivers: dict[str, Executor | None] = {kind: ex for kind, ex in pools.items()}
        receivers["create"] = None
        for r in range(repeat):
            for label, n, calls in SIZES:
                progress(f"b. throughput, {label}, repeat {r + 1}/{repeat}")
                size_key = _size_key(label)
                payload = b"\x01" * n
                for kind in rotated(THROUGHPUT_KINDS, r):
                    _gc()
                    elapsed = _send(pools[kind], payload, calls)
                    rows[f"to_{size_key}_{kind}"].stat.add(n * calls / elapsed / 1e9)
                del payload
                for name in rotated(list(receivers), r):
                    _gc()
                    elapsed = _receive(receivers[name], n, calls)
                    rows[f"from_{size_key}_{name}"].stat.add(n * calls / elapsed / 1e9)
        _gc()
    section = Section(
        "throughput",
        "b. Throughput of bytes payloads, one call after another, GB/s (1 GB = 1e9 bytes)",
        "GB_per_second",
        "higher",
        list(rows.values()),
        None,
        notes=[
            "to worker: ex.submit(nbytes_of, payload).result(), the task returns len(payload); "
            "from worker: ex.submit(make_payload, n).result(), the task returns b'\\x00' * n.",
            "from worker includes creating the payload in the worker, for every executor "
            "alike: 'create only' is that alone (make_payload in a plain loop in this "
            "thread). A rate near 'create only' means the crossing itself costs little.",
            "ThreadPoolExecutor shares the caller's memory: nothing crosses, it is a "
            "reference, not a competitor.",
            "Payloads of 32 MiB and more are fresh memory from the kernel at every "
            "allocation (glibc's mmap threshold), so their rates include page faults for "
            "every copy, in every executor.",
        ],
        extra={
            "workers": workers,
            "sizes": [{"label": s, "bytes": n, "calls": c} for s, n, c in SIZES],
        },
    )
    for key, row in rows.items():
        direction, size_key, name = key.split("_", 2)
        if name == "create":
            continue
        ours = rows[f"{direction}_{size_key}_interpool"].stat.median
        row.info["interpool_advantage"] = _finite(ratio(ours, row.stat.median))
    section.text = _render_throughput(rows)
    return section


def _render_throughput(rows: dict[str, Row]) -> str:
    headers = ["", *(label for label, _, _ in SIZES)]
    table: list[list[str]] = [["calls per sample", *(f"{c:,}" for _, _, c in SIZES)]]
    blank = [""] * len(SIZES)
    for direction, title in (
        ("to", "to worker: submit(nbytes_of, payload)"),
        ("from", "from worker: submit(make_payload, n)"),
    ):
        table.append([title, *blank])
        names: list[str] = list(THROUGHPUT_KINDS)
        if direction == "from":
            names.append("create")
        for name in names:
            cells = [rows[f"{direction}_{_size_key(s)}_{name}"] for s, _, _ in SIZES]
            label = cells[0].label
            if name == "thread":
                label += " (no crossing)"
            table.append([f"  {label}", *(fmt(c.stat.median) for c in cells)])
        for other in available(("ipe", "process")):
            cells = [rows[f"{direction}_{_size_key(s)}_{other}"] for s, _, _ in SIZES]
            table.append(
                [
                    f"  interpool vs {SHORT[other]}",
                    *(fmt_advantage(c.info["interpool_advantage"] or float("nan")) for c in cells),
                ]
            )
    return format_table(headers, table)


# -- c. arguments: round trip with common values ------------------------------------


def bench_arguments(workers: int, repeat: int, calls: int = ARGUMENT_CALLS) -> Section:
    """``ex.submit(echo_len, value).result()`` for a list and a dict of 100 items,
    and ``ex.submit(inc, 1).result()`` as the baseline, in µs per call."""
    values = _values()
    columns: list[tuple[str, str]] = [("int", "inc(1): tiny int, baseline")]
    columns += [(key, label) for key, (label, _) in values.items()]
    rows: dict[str, Row] = {}
    for kind in ARGUMENT_KINDS:
        for key, label in columns:
            rows[f"{kind}_{key}"] = Row(
                f"{kind}_{key}",
                f"{LABELS[kind]}, {label}",
                info={"executor": kind, "value": key, "calls": calls},
            )

    def call_int(ex: Executor) -> None:
        for x in range(calls):
            ex.submit(inc, x).result()

    def call_value(value: Any) -> Callable[[Executor], None]:
        n = len(value)

        def go(ex: Executor) -> None:
            for _ in range(calls):
                got = ex.submit(echo_len, value).result()
            if got != n:
                raise AssertionError(f"{type(ex).__name__}: echo_len returned {got}")

        return go

    runners: dict[str, Callable[[Executor], None]] = {"int": call_int}
    for key, (_, value) in values.items():
        runners[key] = call_value(value)
    cells = [(kind, key) for kind in ARGUMENT_KINDS for key, _ in columns]
    with executors(workers, ARGUMENT_KINDS) as pools:
        for ex in pools.values():
            _warm_up(ex, workers)
            for _, value in values.values():
                for _ in range(50):
                    ex.submit(echo_len, value).result()
        for r in range(repeat):
            progress(f"c. arguments, repeat {r + 1}/{repeat}")
            for kind, key in rotated(cells, r * len(columns)):
                _gc()
                start = time.perf_counter()
                runners[key](pools[kind])
                rows[f"{kind}_{key}"].stat.add((time.perf_counter() - start) / calls * 1e6)
    for row in rows.values():
        kind, key = row.info["executor"], row.info["value"]
        base = rows[f"{kind}_int"].stat.median
        row.info["added_us"] = _finite(row.stat.median - base)
        ours = rows[f"interpool_{key}"].stat.median
        row.info["interpool_advantage"] = _finite(ratio(row.stat.median, ours))
    section = Section(
        "arguments",
        f"c. Per-task cost of common arguments: ex.submit(echo_len, value).result(), "
        f"{calls:,} calls, us per call",
        "us_per_call",
        "lower",
        list(rows.values()),
        None,
        notes=[
            "echo_len returns len(value); the baseline is core's inc(x). In parentheses: "
            "what the value adds to the baseline of the same executor.",
            "interpool and InterpreterPoolExecutor both pickle these values (see d.); "
            "ThreadPoolExecutor passes a reference.",
        ],
        extra={"calls": calls, "workers": workers},
    )
    table: list[list[str]] = []
    for kind in ARGUMENT_KINDS:
        line = [LABELS[kind]]
        for key, _ in columns:
            row = rows[f"{kind}_{key}"]
            cell = fmt(row.stat.median)
            if key != "int":
                added = row.info["added_us"]
                if added is not None:
                    cell += f" ({'+' if added >= 0 else '-'}{fmt(abs(added))})"
            line.append(cell)
        table.append(line)
    for other in ("ipe", "thread"):
        if other not in ARGUMENT_KINDS:
            continue
        table.append(
            [
                f"interpool vs {SHORT[other]}",
                *(
                    fmt_advantage(rows[f"{other}_{key}"].info["interpool_advantage"] or 0.0)
                    for key, _ in columns
                ),
            ]
        )
    headers = ["", "inc(1), baseline", *(label for _, (label, _) in values.items())]
    section.text = format_table(headers, table)
    return section


# -- d. encoding, in-process ----------------------------------------------------------


def _encoders(
    queue: interpreters.Queue,
) -> dict[str, tuple[str, Callable[[Any], Callable[[], Any]]]]:
    """``key -> (label, prepare)``: ``prepare(value)`` does the set-up that is not
    timed and returns the timed operation (one encode + decode)."""
    from interpool._wire.transport import decode, dump

    def pickle5(value: Any) -> Callable[[], Any]:
        dumps, loads = pickle.dumps, pickle.loads
        return lambda: loads(dumps(value, protocol=5))

    def marshal_(value: Any) -> Callable[[], Any]:
        dumps, loads = marshal.dumps, marshal.loads
        return lambda: loads(dumps(value))

    def interpool_(value: Any) -> Callable[[], Any]:
        return lambda: decode(*dump(value))

    def queue_native(value: Any) -> Callable[[], Any]:
        native = _native_of(value)
        put, get = queue.put, queue.get_nowait

        def go() -> Any:
            put(native)
            return get()

        return go

    def queue_bytes(value: Any) -> Callable[[], Any]:
        blob = pickle.dumps(value, protocol=5)
        put, get = queue.put, queue.get_nowait

        def go() -> Any:
            put(blob)
            return get()

        return go

    def pickle_queue(value: Any) -> Callable[[], Any]:
        dumps, loads = pickle.dumps, pickle.loads
        put = queue.put
        get: Callable[[], Any] = queue.get_nowait

        def go() -> Any:
            put(dumps(value, protocol=5))
            return loads(get())

        return go

    encoders: dict[str, tuple[str, Callable[[Any], Callable[[], Any]]]] = {
        "pickle": ("pickle.dumps + loads (protocol 5)", pickle5),
        "marshal": ("marshal.dumps + loads", marshal_),
        "interpool": ("interpool: _wire.transport.dump + decode", interpool_),
    }
    if HAVE_IPE:  # 3.14+: concurrent.interpreters' queue, as the IPE rows use it
        encoders["queue_native"] = ("queue put + get_nowait: native tuples", queue_native)
        encoders["queue_bytes"] = ("queue put + get_nowait: the pickle's bytes", queue_bytes)
        encoders["pickle_queue"] = (
            "pickle + queue + unpickle (both rows above)",
            pickle_queue,
        )
    return encoders


def bench_encoding(workers: int, repeat: int, loops: int = ENCODE_LOOPS) -> Section:
    """Encode + decode of the values of section c, in this interpreter, µs per value:
    what each way of crossing costs before any executor is involved."""
    values = _values()
    queue = interpreters.create_queue()
    encoders = _encoders(queue)
    rows: dict[str, Row] = {}
    ops: dict[str, Callable[[], Any]] = {}
    for enc_key, (enc_label, prepare) in encoders.items():
        for value_key, (value_label, value) in values.items():
            key = f"{enc_key}_{value_key}"
            rows[key] = Row(
                key, f"{enc_label}, {value_label}", info={"method": enc_key, "value": value_key}
            )
            op = prepare(value)
            got = op()
            if enc_key != "queue_bytes" and got != (
                value if enc_key != "queue_native" else _native_of(value)
            ):
                raise AssertionError(f"{enc_key}: the value did not survive")
            ops[key] = op
    keys = list(rows)
    for op in ops.values():  # warm-up
        for _ in range(loops):
            op()
    perf = time.perf_counter
    for r in range(repeat):
        progress(f"d. encoding, repeat {r + 1}/{repeat}")
        for key in rotated(keys, r):
            op = ops[key]
            _gc()
            best = float("inf")
            for _ in range(ENCODE_BATCHES):
                start = perf()
                for _ in range(loops):
                    op()
                best = min(best, perf() - start)
            rows[key].stat.add(best / loops * 1e6)
    section = Section(
        "encoding",
        "d. Encoding in-process (no executor): encode + decode of the same values, us per value",
        "us_per_value",
        "lower",
        list(rows.values()),
        None,
        notes=[
            f"Each sample is the fastest of {ENCODE_BATCHES} batches of {loops:,} "
            "encode+decode (as timeit does); the table shows the median of the samples.",
            "queue rows: put() + get_nowait() on a concurrent.interpreters queue within this "
            "interpreter; the queue copies what it carries (natively shareable objects only: "
            "the list is sent as tuple(list), the dict as (tuple(keys), tuple(values)), "
            "converted beforehand, not timed). 'the pickle's bytes' is the queue alone; "
            "'pickle + queue + unpickle' is the whole of what crossing with pickle costs.",
            "Why interpool pickles containers: sharing a tuple natively rebuilds every item "
            "in the receiver, which costs more than pickling plus sending one bytes object.",
        ],
        extra={"loops": loops, "batches": ENCODE_BATCHES},
    )
    if not HAVE_IPE:
        section.notes[1:] = [
            "The queue rows are skipped: Python 3.13 has no concurrent.interpreters "
            "(the queue InterpreterPoolExecutor would use)."
        ]
    table = []
    for enc_key, (enc_label, _) in encoders.items():
        table.append([enc_label, *(fmt(rows[f"{enc_key}_{v}"].stat.median) for v in values)])
    section.text = format_table(["", *(label for label, _ in values.values())], table)
    return section


def _native_of(value: Any) -> Any:
    if isinstance(value, dict):
        return (tuple(value), tuple(value.values()))
    return tuple(value)


# -- e. the payload matrix ---------------------------------------------------------

#: ``(shape, label, items per map, moves bytes)`` of the matrix, in table order: the
#: shape names :func:`workloads.build_payload`'s payload; ``moves bytes`` marks the
#: cells where moving a large bytes-like dominates (target: 1.3x ahead of processes).
SHAPES: tuple[tuple[str, str, int, bool], ...] = (
    ("ints", "list of 100k ints", 8, False),
    ("floats", "list of 100k floats", 8, False),
    ("pairs", "list of 25k (int, str) tuples", 8, False),
    ("dict", "dict of 50k str->int", 8, False),
    ("records", "10k JSON-like records", 8, False),
    ("strs", "list of 100k short strs", 8, False),
    ("objects", "10k objects of a user class", 8, False),
    ("bytes_in_dict:1024", "1 KiB bytes in a dict", 200, False),
    ("bytes_in_dict:1048576", "1 MiB bytes in a dict", 16, True),
    ("bytes_in_dict:16777216", "16 MiB bytes in a dict", 4, True),
    ("bytes_in_dict:104857600", "100 MiB bytes in a dict", 1, True),
    ("bytearray_in_list:16777216", "16 MiB bytearray in a list", 4, True),
    ("memoryview_in_dict:16777216", "16 MiB memoryview in a dict", 4, True),
    ("array_in_list:16777216", "16 MiB array('d') in a list", 4, True),
    ("numpy_in_dict:16777216", "16 MiB numpy array in a dict", 4, True),
)

#: Executors of the matrix, in table order.
MATRIX_KINDS: tuple[Kind, ...] = available(("interpool", "ipe", "process", "thread"))

#: Rounds of the matrix without ``--repeat`` (it is the section the targets are read
#: from, so it takes more than the others).
MATRIX_REPEAT = 5

#: A cell is "at par" if interpool takes at most this much of the better peer's time
#: (the noise of one cell's median on the 2-CPU machine, measured between runs).
PAR = 1.10
#: Where moving bytes dominates, interpool must be this much faster than processes.
BYTES_AHEAD = 1.3


def _numpy_ok() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def _matrix_shapes() -> list[tuple[str, str, int, bool]]:
    return [s for s in SHAPES if not s[0].startswith("numpy") or _numpy_ok()]


def _matrix_map(ex: Executor, direction: str, shape: str, payload: Any, n: int) -> float:
    """Seconds for one ``list(ex.map(...))`` of ``n`` items in ``direction``."""
    perf = time.perf_counter
    if direction == "to":
        start = perf()
        sizes = list(ex.map(payload_size, [payload] * n))
        elapsed = perf() - start
        if len(sizes) != n or sizes[0] != len(payload):
            raise AssertionError(f"{type(ex).__name__}: wrong payload_size results")
    else:
        start = perf()
        out = list(ex.map(payload_back, [shape] * n))
        elapsed = perf() - start
        if len(out) != n or len(out[-1]) != len(payload):
            raise AssertionError(f"{type(ex).__name__}: wrong payload_back results")
        del out
    return elapsed


def _floor(payload: Any, n: int) -> float:
    """Seconds for ``n`` x (``pickle.dumps`` + one copy of the pickle + ``pickle.loads``)
    of ``payload`` in this thread, the ``n`` values kept as ``map`` keeps its results
    (the best of 3): the cost of crossing by pickle with a single copy, done serially;
    ``nan`` if it does not pickle (a memoryview)."""
    try:
        pickle.dumps(payload, protocol=5)
    except TypeError:
        return float("nan")
    best = float("inf")
    perf = time.perf_counter
    for _ in range(3):
        _gc()
        kept = []
        start = perf()
        for _ in range(n):
            kept.append(pickle.loads(bytes(pickle.dumps(payload, protocol=5))))
        best = min(best, perf() - start)
        del kept
    return best


def bench_matrix(workers: int, repeat: int) -> Section:
    """The payload matrix: every shape of :data:`SHAPES`, to a worker
    (``map(payload_size, [payload] * n)``) and back (``map(payload_back, [shape] *
    n)``), on every executor, interleaved rounds, medians in ms."""
    rounds = repeat
    shapes = _matrix_shapes()
    rows: dict[str, Row] = {}
    for shape, label, n, moves in shapes:
        for direction in ("to", "from"):
            for kind in MATRIX_KINDS:
                key = f"{shape}|{direction}|{kind}"
                rows[key] = Row(
                    key,
                    f"{label}, {direction} worker, {LABELS[kind]}",
                    info={
                        "shape": shape,
                        "payload": label,
                        "direction": f"{direction} worker",
                        "executor": kind,
                        "items": n,
                        "moves_bytes": moves,
                    },
                )
    unsupported: dict[str, str] = {}
    floors: dict[str, float] = {}
    with executors(workers, MATRIX_KINDS) as pools:
        from interpool import Pool

        # numpy cannot load in a sub-interpreter: its cells use a pool of its own with
        # fallback="processes" (a function rerouted once goes to processes for good).
        fallback = Pool(workers, fallback="processes")
        for ex in pools.values():
            _warm_up(ex, workers)

        def pool_for(kind: Kind, shape: str) -> Executor:
            if kind == "interpool" and shape.startswith("numpy"):
                return fallback
            return pools[kind]

        for shape, _, n, _ in shapes:
            payload = build_payload(shape)
            floors[shape] = _floor(payload, n)
            for kind in pools:
                ex = pool_for(kind, shape)
                for direction in ("to", "from"):
                    key = f"{shape}|{direction}|{kind}"
                    try:  # warm: imports, the workers' cached payloads, allocator growth
                        _matrix_map(ex, direction, shape, payload, min(n, workers))
                    except Exception as exc:  # noqa: BLE001 - e.g. a memoryview to pickle
                        unsupported[key] = f"{type(exc).__name__}: {exc}"[:120]
            del payload
            _gc()
        for r in range(rounds):
            progress(f"e. payload matrix, round {r + 1}/{rounds}")
            for shape, _, n, _ in shapes:
                payload = build_payload(shape)
                cells = [
                    (kind, direction)
                    for kind in MATRIX_KINDS
                    for direction in ("to", "from")
                    if f"{shape}|{direction}|{kind}" not in unsupported
                ]
                for kind, direction in rotated(cells, r):
                    _gc()
                    elapsed = _matrix_map(pool_for(kind, shape), direction, shape, payload, n)
                    rows[f"{shape}|{direction}|{kind}"].stat.add(elapsed * 1e3)
                del payload
        fallback.shutdown()
        _gc()
    for key, why in unsupported.items():
        rows[key].info["unsupported"] = why
    section = Section(
        "matrix",
        f"e. Payload matrix: list(ex.map(f, [payload] * n)), {workers} workers, ms per map "
        f"(medians of {rounds} interleaved rounds)",
        "ms_per_map",
        "lower",
        list(rows.values()),
        None,
        extra={"workers": workers, "rounds": rounds, "par": PAR, "bytes_ahead": BYTES_AHEAD},
    )
    table: list[list[str]] = []
    verdicts: list[dict[str, Any]] = []
    for shape, label, n, moves in shapes:
        for direction in ("to", "from"):
            by_kind = {kind: rows[f"{shape}|{direction}|{kind}"] for kind in MATRIX_KINDS}
            ours = by_kind["interpool"].stat.median
            peers = [
                by_kind[k].stat.median
                for k in ("ipe", "process")
                if k in by_kind and by_kind[k].stat.samples
            ]
            best = min(peers) if peers else float("nan")
            vs_best = ratio(ours, best)
            process = by_kind["process"].stat.median if by_kind["process"].stat.samples else None
            ahead = ratio(process, ours) if process else float("nan")
            floor = floors[shape]
            measured = bool(by_kind["interpool"].stat.samples)
            ok = measured and not (vs_best > PAR) and (not moves or not ahead < BYTES_AHEAD)
            verdict = {
                "shape": shape,
                "direction": f"{direction} worker",
                "interpool_vs_best_peer": _finite(vs_best),
                "process_vs_interpool": _finite(ahead),
                "floor_ms": _finite(floor * 1e3),
                "met": bool(ok),
                "measured": measured,
            }
            verdicts.append(verdict)
            for cell in by_kind.values():
                cell.info["interpool_vs_best_peer"] = _finite(vs_best)
            table.append(
                [
                    f"{label} ({n}), {direction}",
                    *(fmt(c.stat.median) if c.stat.samples else "n/a" for c in by_kind.values()),
                    fmt_x(vs_best),
                    fmt_x(ahead) if moves else "",
                    fmt(floor * 1e3),
                    "n/a" if not measured else "met" if ok else "MISSED",
                ]
            )
    section.extra["cells"] = verdicts
    section.extra["unsupported"] = unsupported
    section.notes = [
        "to: list(ex.map(payload_size, [payload] * n)), the task returns len(payload); "
        "from: list(ex.map(payload_back, [shape] * n)), the task returns the payload, made "
        "once per worker (the crossing is timed, not the making).",
        "vs best = interpool's time / the better of InterpreterPool and ProcessPool "
        f"(target <= {PAR:.2f}: at par within this run's noise); PPE/ip = ProcessPool's time "
        f"/ interpool's, where a large bytes-like dominates (target >= {BYTES_AHEAD}x). "
        "A cell no peer can send (a memoryview) is met if interpool sends it.",
        "floor: n x (pickle.dumps + one copy + pickle.loads) of the payload in one thread, "
        "the n values kept (what crossing by pickle costs at the least, done serially).",
        "ThreadPoolExecutor shares the caller's memory: nothing crosses, a reference.",
        "numpy rows: interpool.Pool(fallback='processes') (numpy cannot load in a "
        "sub-interpreter, so its tasks run in the pool's processes).",
    ]
    if unsupported:
        section.notes.append(
            "n/a: the executor cannot send that payload ("
            + "; ".join(sorted({f"{k.split('|')[2]}: {v}" for k, v in unsupported.items()}))
            + ")"
        )
    headers = ["payload (items), direction", *(SHORT[k] for k in MATRIX_KINDS)]
    headers += ["vs best", "PPE/ip", "floor", "target"]
    section.text = format_table(headers, table)
    return section


# -- the whole run ----------------------------------------------------------------


@dataclass
class AtMost(Target):
    """A target met when the measured figure is at most the goal."""

    @property
    def met(self) -> bool:
        return self.measured <= self.goal

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "at_most": True}


def _matrix_targets(sections: dict[str, Section]) -> list[Target]:
    """How many cells of the payload matrix are on target (see :data:`PAR`)."""
    matrix = sections.get("matrix")
    if matrix is None:
        return []
    cells = [c for c in matrix.extra["cells"] if c["measured"]]
    return [
        Target(
            "matrix_cells_met",
            f"payload matrix: cells on target (of {len(cells)} interpool can send)",
            float(len(cells)),
            float(sum(c["met"] for c in cells)),
        )
    ]


def targets(sections: dict[str, Section], workers: int) -> list[Target]:
    """The data-plane targets; the one against ``InterpreterPoolExecutor`` only where
    it exists."""
    seed = sections["seed_bytes"]
    goals: list[Target] = []
    if HAVE_IPE:
        goals.append(
            Target(
                "seed_bytes_vs_ipe",
                "seed with 100 MiB results >= 5x faster than InterpreterPoolExecutor",
                5.0,
                seed.advantage(seed.row("ipe")),
            )
        )
    goals += _matrix_targets(sections)
    return [
        *goals,
        AtMost(
            "seed_bytes_vs_ideal",
            f"seed with 100 MiB results, interpool / ideal (loop / {workers}) <= 1.2",
            1.2,
            seed.extra["interpool_vs_ideal"] or float("nan"),
        ),
    ]


def run(workers: int, repeat: int) -> tuple[dict[str, Any], str]:
    """Run every section; return the JSON document and the text report."""
    benches = (
        bench_seed_bytes,
        bench_throughput,
        bench_arguments,
        bench_encoding,
        lambda w, r: bench_matrix(w, max(r, MATRIX_REPEAT)),
    )
    document, text = run_sections(
        "interpool-data",
        "interpool data-plane benchmark",
        benches,
        lambda sections: targets(sections, workers),
        workers=workers,
        repeat=repeat,
    )
    document["config"] = {
        "workers": workers,
        "repeat": repeat,
        "seed_numbers": PRIMES,
        "seed_result_bytes": SEED_RESULT_BYTES,
        "sizes": [{"label": s, "bytes": n, "calls": c} for s, n, c in SIZES],
        "argument_calls": ARGUMENT_CALLS,
        "encode_loops": ENCODE_LOOPS,
        "encode_batches": ENCODE_BATCHES,
        "matrix_shapes": [
            {"shape": s, "label": label, "items": n, "moves_bytes": moves}
            for s, label, n, moves in _matrix_shapes()
        ],
        "matrix_rounds": max(repeat, MATRIX_REPEAT),
    }
    return document, text


def run_and_write(
    workers: int, repeat: int | None, output: str | None
) -> tuple[dict[str, Any], str]:
    """:func:`run` (``repeat`` defaults to :data:`DEFAULT_REPEAT`), then write
    ``data-<python>.json`` and ``.txt``."""
    document, text = run(workers, DEFAULT_REPEAT if repeat is None else repeat)
    paths = write_results(output_dir(output), f"data-{python_tag()}", document, text)
    paths += _matrix_chart(document, output_dir(output) / f"data-{python_tag()}-matrix.png")
    progress("wrote " + ", ".join(str(p) for p in paths))
    return document, text


def _matrix_chart(document: dict[str, Any], path: Path) -> list[Path]:
    """The matrix's chart at ``path``, or nothing (with a note) without matplotlib."""
    from .chart import ChartUnavailable, write_matrix_chart

    try:
        return [write_matrix_chart(document["sections"]["matrix"], document["machine"], path)]
    except ChartUnavailable as exc:
        progress(f"no chart: {exc}")
        return []


def matrix_main(workers: int = 2, repeat: int = MATRIX_REPEAT, output: str | None = None) -> int:
    """The payload matrix alone (``python -m interpool._tools.bench.data``): print it,
    write ``matrix-<python>.json/.txt``."""
    document, text = run_sections(
        "interpool-matrix",
        "interpool payload matrix",
        (bench_matrix,),
        _matrix_targets,
        workers=workers,
        repeat=repeat,
    )
    paths = write_results(output_dir(output), f"matrix-{python_tag()}", document, text)
    paths += _matrix_chart(document, output_dir(output) / f"matrix-{python_tag()}.png")
    progress("wrote " + ", ".join(str(p) for p in paths))
    print(text)
    return 0


def main(*, workers: int, repeat: int | None, output: str | None, json_out: bool) -> int:
    """``python -m interpool bench --data``: run, print, write ``data-<python>.json/.txt``."""
    document, text = run_and_write(workers, repeat, output)
    if json_out:
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(matrix_main(repeat=int(sys.argv[1]) if len(sys.argv) > 1 else MATRIX_REPEAT))

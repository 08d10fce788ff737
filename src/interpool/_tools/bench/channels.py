"""Channel latency: ping-pong round trips, in microseconds per round trip.

Four ways for two parties to bounce a value back and forth ``rounds`` times:

1. ``queue.Queue``: two threads of one interpreter (the GIL's hand-offs included);
2. interpool channels between two sub-interpreters: two tasks of a 2-worker
   ``Pool``, over two channels;
3. an interpool channel pair between the caller and one worker;
4. ``concurrent.interpreters.Queue`` with its blocking ``get()`` between two
   sub-interpreters (it polls every 10 ms, so it runs ``rounds // 100`` rounds, at
   least 10).  Python 3.14+ only: 3.13 has no ``concurrent.interpreters``, and the
   result there has no ``interpreters_queue`` entry.

Each figure is the median of ``repeat`` runs, timed by the party that starts each
round trip, after a warm-up.  Run ``python -m interpool._tools.bench.channels`` (``--repeat``,
``--rounds``, ``--output FILE`` for JSON).

Workers import this module by name for its task functions: no heavy imports at load
time.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["format_table", "main", "run"]

#: Round trips before timing starts (threads and interpreters warm up, caches fill).
WARM_UP = 200

LABELS = {
    "queue_threads": "queue.Queue, two threads",
    "channel_interpreters": "interpool channels, two sub-interpreters",
    "channel_caller_worker": "interpool channels, caller <-> one worker",
    "interpreters_queue": "concurrent.interpreters.Queue, two sub-interpreters",
}


# -- the parties (run in workers, so module level) ---------------------------------------


def channel_ping(inbox: Any, outbox: Any, rounds: int) -> float:
    """Start each round trip; return the seconds ``rounds`` of them took."""
    for i in range(WARM_UP):
        outbox.put(i)
        inbox.get()
    start = time.perf_counter()
    for i in range(rounds):
        outbox.put(i)
        inbox.get()
    elapsed = time.perf_counter() - start
    outbox.close()
    return elapsed


def channel_pong(inbox: Any, outbox: Any) -> int:
    """Send back whatever arrives, until ``inbox`` is closed."""
    n = 0
    for value in inbox:
        outbox.put(value)
        n += 1
    return n


def queue_ping(inbox: Any, outbox: Any, rounds: int, warm_up: int) -> float:
    """:func:`channel_ping` for ``queue.Queue`` and ``concurrent.interpreters.Queue``
    (``None`` ends the partner)."""
    for i in range(warm_up):
        outbox.put(i)
        inbox.get()
    start = time.perf_counter()
    for i in range(rounds):
        outbox.put(i)
        inbox.get()
    elapsed = time.perf_counter() - start
    outbox.put(None)
    return elapsed


def queue_pong(inbox: Any, outbox: Any) -> int:
    n = 0
    while (value := inbox.get()) is not None:
        outbox.put(value)
        n += 1
    return n


# -- the measurements ----------------------------------------------------------------------


def _queue_threads(rounds: int) -> float:
    import queue
    import threading

    a: queue.Queue[Any] = queue.Queue()
    b: queue.Queue[Any] = queue.Queue()
    partner = threading.Thread(target=queue_pong, args=(a, b))
    partner.start()
    try:
        return queue_ping(b, a, rounds, WARM_UP)
    finally:
        partner.join()


def _channel_interpreters(pool: Any, rounds: int) -> float:
    from interpool import channel

    a_send, a_recv = channel(1)
    b_send, b_recv = channel(1)
    pong = pool.submit(channel_pong, a_recv, b_send)
    ping = pool.submit(channel_ping, b_recv, a_send, rounds)
    elapsed: float = ping.result()
    pong.result()
    return elapsed


def _channel_caller_worker(pool: Any, rounds: int) -> float:
    from interpool import channel

    a_send, a_recv = channel(1)
    b_send, b_recv = channel(1)
    pong = pool.submit(channel_pong, a_recv, b_send)
    elapsed = channel_ping(b_recv, a_send, rounds)
    pong.result()
    return elapsed


def _interpreters_queue(pool: Any, rounds: int) -> float:
    from interpool._platform import interpreters

    a = interpreters.create_queue()
    b = interpreters.create_queue()
    pong = pool.submit(queue_pong, a, b)
    ping = pool.submit(queue_ping, b, a, rounds, 2)
    elapsed: float = ping.result()
    pong.result()
    return elapsed


def run(repeat: int = 5, rounds: int = 2000) -> dict[str, Any]:
    """Measure the four ping-pongs ``repeat`` times (in rotating order, so that a
    noisy neighbour hurts them alike); medians in microseconds per round trip, and
    the ratios that matter."""
    import statistics
    import sys

    from interpool import Pool

    if repeat < 1 or rounds < 1:
        raise ValueError("repeat and rounds must be >= 1")
    slow_rounds = max(10, rounds // 100)
    samples: dict[str, list[float]] = {key: [] for key in LABELS}
    if sys.version_info < (3, 14):
        del samples["interpreters_queue"]
    with Pool(2) as pool:
        pool.submit(time.sleep, 0).result()
        cases = {
            "queue_threads": lambda: _queue_threads(rounds) / rounds,
            "channel_interpreters": lambda: _channel_interpreters(pool, rounds) / rounds,
            "channel_caller_worker": lambda: _channel_caller_worker(pool, rounds) / rounds,
            "interpreters_queue": lambda: _interpreters_queue(pool, slow_rounds) / slow_rounds,
        }
        if sys.version_info < (3, 14):  # no concurrent.interpreters to compare with
            del cases["interpreters_queue"]
        keys = list(cases)
        for i in range(repeat):
            for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
                samples[key].append(cases[key]() * 1e6)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    ratios = {
        "channel_interpreters / queue_threads": (
            medians["channel_interpreters"] / medians["queue_threads"]
        ),
        "channel_caller_worker / queue_threads": (
            medians["channel_caller_worker"] / medians["queue_threads"]
        ),
    }
    if "interpreters_queue" in medians:
        ratios["interpreters_queue / channel_interpreters"] = (
            medians["interpreters_queue"] / medians["channel_interpreters"]
        )
    return {
        "python": sys.version.split()[0],
        "repeat": repeat,
        "rounds": rounds,
        "interpreters_queue_rounds": slow_rounds,
        "us_per_round_trip": medians,
        "samples_us": samples,
        "ratios": ratios,
        "targets": {
            "channel_interpreters / queue_threads": "<= 3",
            "interpreters_queue / channel_interpreters": ">= 100",
        },
    }


def format_table(result: dict[str, Any]) -> str:
    """The result of :func:`run` as a text table."""
    medians = result["us_per_round_trip"]
    samples = result["samples_us"]
    width = max(len(label) for label in LABELS.values())
    lines = [
        f"Ping-pong round trips, Python {result['python']}: median of {result['repeat']} "
        f"runs of {result['rounds']} round trips "
        f"({result['interpreters_queue_rounds']} for interpreters.Queue)",
        "",
        f"{'':{width}}  {'us/round trip':>13}  {'range':>17}",
    ]
    for key, label in LABELS.items():
        if key not in samples:
            lines.append(f"{label:{width}}  {'skipped':>13}  (Python 3.13 has no such queue)")
            continue
        low, high = min(samples[key]), max(samples[key])
        lines.append(f"{label:{width}}  {medians[key]:>13.1f}  {low:>8.1f} - {high:<8.1f}")
    lines.append("")
    targets = result["targets"]
    for name, value in result["ratios"].items():
        target = f"   (target {targets[name]})" if name in targets else ""
        lines.append(f"{name}: {value:.2f}x{target}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m interpool._tools.bench.channels", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--rounds", type=int, default=2000, help="round trips per run")
    parser.add_argument("--output", metavar="FILE", help="also write the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.repeat, args.rounds)
    print(format_table(result), flush=True)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump(result, file, indent=2)
            file.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

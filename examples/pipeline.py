"""A three-stage pipeline of worker interpreters connected by channels.

    stage 1 (1 worker)    cuts the numbers 2 .. LIMIT into blocks
    stage 2 (2 workers)   count the primes of each block, in parallel (CPU-bound)
    stage 3 (1 worker)    adds the counts up and reports to the caller, which prints

Run it with ``python examples/pipeline.py [LIMIT]``.  Each stage is a task that loops
over its input channel, so the pool needs a worker per stage task (here 4): a task
blocked on a channel holds its worker.
"""

from __future__ import annotations

import sys
import time

from interpool import Pool, Receiver, Sender, channel

BLOCK = 25_000
COUNTERS = 2  # stage-2 workers


def cut(limit: int, blocks: Sender[tuple[int, int]]) -> None:
    """Stage 1: send the blocks ``(start, stop)`` covering 2 .. limit."""
    with blocks:  # closing the channel tells stage 2 that no more blocks will come
        for start in range(2, limit, BLOCK):
            blocks.put((start, min(start + BLOCK, limit)))


def is_prime(n: int) -> bool:
    if n < 4:
        return n >= 2
    if n % 2 == 0:
        return False
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def count(blocks: Receiver[tuple[int, int]], counts: Sender[tuple[int, int] | None]) -> None:
    """Stage 2: count the primes of each block (the workers share the input)."""
    for start, stop in blocks:  # until stage 1 closes the channel
        counts.put((start, sum(1 for n in range(start, stop) if is_prime(n))))
    counts.put(None)  # this worker is done


def total(counts: Receiver[tuple[int, int] | None], report: Sender[str]) -> int:
    """Stage 3: add the counts up as they arrive, and tell the caller."""
    primes, working = 0, COUNTERS
    with report:  # closing ends the caller's loop
        while working:
            item = counts.get()
            if item is None:
                working -= 1
                continue
            start, n = item
            primes += n
            report.put(f"block {start:>9,}+: {n:>5} primes, {primes:>7,} so far")
    return primes


def main(limit: int) -> int:
    blocks_send, blocks_recv = channel(maxsize=4)  # stage 1 runs at most 4 blocks ahead
    counts_send, counts_recv = channel()
    report_send, report_recv = channel()
    with Pool(1 + COUNTERS + 1) as pool:
        pool.submit(cut, limit, blocks_send)
        for _ in range(COUNTERS):
            pool.submit(count, blocks_recv, counts_send)
        result = pool.submit(total, counts_recv, report_send)
        for line in report_recv:  # prints as the results arrive, until stage 3 is done
            print(line)
        return result.result()


if __name__ == "__main__":
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    start = time.perf_counter()
    primes = main(limit)
    print(f"{primes} primes below {limit:,} ({time.perf_counter() - start:.2f} s)")

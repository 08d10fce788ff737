import asyncio
import os
import sys

import numpy as np

from interpool import Pool


def uses_numpy(x):
    return int(np.arange(x).sum())


def plain(x):
    return x * x


def pid(_):
    return os.getpid()


class Counter:
    def __init__(self):
        self.total = np.int64(0)

    def add(self, k):
        self.total += k
        return int(self.total)


async def run_and_amap(pool):
    one = await pool.run(uses_numpy, 5)
    many = [v async for v in pool.amap(uses_numpy, range(4))]
    return one, many


if __name__ == "__main__":
    entry = sys.argv[1]
    with Pool(2, fallback="processes") as pool:
        if entry == "submit":
            print(pool.submit(uses_numpy, 5).result())
        elif entry.startswith("map"):
            chunksize = int(entry[3:] or 1)
            print(list(pool.map(uses_numpy, range(6), chunksize=chunksize)))
        elif entry == "imap":
            print(list(pool.imap(uses_numpy, range(6))))
        elif entry == "imap_unordered":
            print(sorted(pool.imap_unordered(uses_numpy, range(6))))
        elif entry == "run_amap":
            print(asyncio.run(run_and_amap(pool)))
        elif entry == "actor":
            counter = pool.actor(Counter)
            print(counter.add(2).result(), counter.add(3).result())
        # Later calls of that function go to the processes; plain functions stay here.
        again = pool.submit(uses_numpy, 4).result()
        print(again, list(pool.map(plain, range(4))), pool.submit(pid, 0).result() == os.getpid())

import numpy as np  # noqa: F401 - workers cannot load this script: its functions go by value

from interpool import Pool

calls = 0


def count(_):
    global calls
    calls += 1
    return calls


if __name__ == "__main__":
    with Pool(1) as pool:
        # One worker: the function is unpickled once there and kept, so its global
        # counts every call (unpickled per call, it would restart at 1 each time).
        print([pool.submit(count, i).result() for i in range(5)], list(pool.map(count, range(3))))
    print(calls)  # the caller's own global is untouched

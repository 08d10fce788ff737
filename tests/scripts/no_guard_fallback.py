import numpy as np

from interpool import Pool


def uses_numpy(x):
    return int(np.arange(x).sum())


def plain(x):
    return x + 1


print("top-level print")
pool = Pool(2, fallback="processes")
print(list(pool.map(uses_numpy, range(4))), list(pool.map(plain, range(3))))
pool.shutdown()

import numpy as np  # noqa: F401 - the point: a top-level import that refuses sub-interpreters

from interpool import Pool


def plain(x):
    return x * x


if __name__ == "__main__":
    with Pool(2) as pool:
        print(list(pool.map(plain, range(5))))
        print(pool.submit(plain, 7).result())

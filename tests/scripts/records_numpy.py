from dataclasses import dataclass

import numpy as np  # noqa: F401

from interpool import Pool


@dataclass
class Record:
    name: str
    values: list[int]


def double(record):
    return Record(record.name * 2, [v * 2 for v in record.values])


if __name__ == "__main__":
    with Pool(2) as pool:
        out = list(pool.map(double, [Record("a", [1, 2]), Record("b", [3])]))
        print(out, all(type(r) is Record for r in out))

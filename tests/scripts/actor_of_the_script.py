from dataclasses import dataclass

import numpy as np  # noqa: F401 - workers cannot load this script

from interpool import Pool


@dataclass
class Item:
    name: str


class Basket:
    def __init__(self, owner):
        self.owner = owner
        self.items = []

    def add(self, item):
        self.items.append(item.name)
        return list(self.items)


if __name__ == "__main__":
    with Pool(2) as pool:
        basket = pool.actor(Basket, Item("me"))
        # Made before the creation has ended: they still run after it, in order.
        futures = [basket.add(Item(n)) for n in "abc"]
        print([f.result() for f in futures])

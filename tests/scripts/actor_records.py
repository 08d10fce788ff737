from dataclasses import dataclass

import numpy as np  # noqa: F401 - workers cannot load this script

from interpool import Pool


@dataclass
class Item:
    name: str


if __name__ == "__main__":
    with Pool(2) as pool:
        # An actor of a class of a module (a list), whose calls pass the script's
        # records before anything tells that workers cannot load the script.
        items = pool.actor(list)
        items.ready()
        futures = [items.append(Item(n)) for n in "abc"]
        futures.append(items.copy())
        print([f.result() for f in futures])

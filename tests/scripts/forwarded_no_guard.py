"""The same without a main guard, and with numpy imported at the top: the tasks go
by value to worker interpreters, their logs, prints and warnings still reach the
caller."""

import logging
import warnings

import numpy  # noqa: F401 - refuses sub-interpreters

from interpool import Pool

logging.basicConfig(level=logging.INFO, format="CONFIGURED %(levelname)s %(name)s %(message)s")
log = logging.getLogger("app")


def task(i):
    log.info("info %d", i)
    print("stdout from task", i)
    warnings.warn(f"warn {i}", stacklevel=1)
    return i


with Pool(2) as pool:
    print(sorted(pool.map(task, range(4), chunksize=1)))

"""Logs, prints and warnings of tasks, with logging configured by the script: each
reaches the caller's handlers, streams and warnings as if the task ran here."""

import logging
import sys
import warnings

from interpool import Pool

log = logging.getLogger("app")


def task(i):
    log.debug("debug %d", i)
    log.info("info %d", i)
    print("stdout from task", i)
    warnings.warn(f"warn {i}", stacklevel=1)
    print("stderr from task", i, file=sys.stderr)
    return i


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="CONFIGURED %(levelname)s %(name)s %(message)s")
    backend = sys.argv[1] if len(sys.argv) > 1 else "interpreters"
    with Pool(2, backend=backend) as pool:
        print(sorted(pool.map(task, range(4), chunksize=1)))

"""Tasks that print, log and warn, for ``tests/pool/test_forwarding.py``."""

from __future__ import annotations

import logging
import sys
import warnings

LOGGER = "interpool.tests.forwarding"


def log_levels(tag: str) -> bool:
    """Log one record at each level; return whether DEBUG is enabled here."""
    log = logging.getLogger(LOGGER)
    log.debug("debug %s", tag)
    log.info("info %s", tag)
    log.warning("warning %s", tag, extra={"request": tag, "parts": [1, 2]})
    return log.isEnabledFor(logging.DEBUG)


def log_exception() -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logging.getLogger(LOGGER).exception("it failed")


def log_many(n: int, tag: str) -> int:
    log = logging.getLogger(LOGGER)
    for i in range(n):
        log.info("%s line %d", tag, i)
    return n


def print_lines(tag: str, n: int) -> str:
    """Print ``n`` lines, each in pieces (so that only whole lines make sense)."""
    for i in range(n):
        print(tag, end="")
        print(f" line {i}", end="")
        print()
    print(f"{tag} to stderr", file=sys.stderr)
    return tag


def print_unfinished(tag: str) -> str:
    """Print the start of a line and never end it."""
    print(f"{tag} unfinished", end="")
    return tag


def warn(text: str) -> str:
    warnings.warn(text, UserWarning, stacklevel=1)
    return text


def warn_custom(text: str) -> str:
    warnings.warn(text, DeprecationWarning, stacklevel=1)
    return text


def initializer_that_prints() -> None:
    print("hello from the initializer")

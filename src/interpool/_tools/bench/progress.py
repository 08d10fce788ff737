"""Progress of a benchmark run, on stderr (stdout keeps only the table or the JSON).

A tqdm bar when tqdm is installed and stderr is a terminal; otherwise (no tqdm, or a
log file, or CI) one ``[bench] i/n what`` line per step, which reads well in a log.
tqdm is never required.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any, Self

__all__ = ["Progress", "have_tqdm"]


def have_tqdm() -> bool:
    """Whether tqdm can be imported."""
    try:
        importlib.import_module("tqdm")
    except ImportError:
        return False
    return True


class Progress:
    """``total`` steps: call :meth:`step` before each (it names what runs next) and
    :meth:`advance` after it; use as a context manager, which closes the bar.

    ``bar``: True for a tqdm bar (a line per step if tqdm is missing), False for
    lines, None (default) for a bar only when tqdm is installed and stderr is a
    terminal."""

    def __init__(self, total: int, desc: str, *, bar: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self._desc = desc
        self._started = time.perf_counter()
        if bar is None:
            bar = sys.stderr.isatty()
        self._bar: Any = None
        if bar and have_tqdm():
            tqdm = importlib.import_module("tqdm")
            self._bar = tqdm.tqdm(
                total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def step(self, what: str) -> None:
        """Announce the step about to run."""
        if self._bar is not None:
            self._bar.set_postfix_str(what, refresh=True)
        else:
            elapsed = time.perf_counter() - self._started
            print(
                f"[{self._desc}] {self.done + 1}/{self.total} {what} ({elapsed:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    def advance(self) -> None:
        """The step announced last is done."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)

    def note(self, message: str) -> None:
        """A message that does not break the bar."""
        if self._bar is not None:
            self._bar.write(f"[{self._desc}] {message}", file=sys.stderr)
        else:
            print(f"[{self._desc}] {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

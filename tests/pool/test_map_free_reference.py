"""``map`` (and ``imap``, ``imap_unordered``) keep no reference to a result they
have yielded, as ``concurrent.futures`` promises (CPython's ``test_free_reference``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import interpool

from ..support import wait_until
from ..tasks import wire as wt


def _maps(pool: interpool.Pool) -> dict[str, Callable[[], Iterator[Any]]]:
    return {
        "map": lambda: pool.map(wt.make_dummy, range(10)),
        "map, chunks of 4": lambda: pool.map(wt.make_dummy, range(10), chunksize=4),
        "map, buffersize": lambda: pool.map(wt.make_dummy, range(10), chunksize=3, buffersize=2),
        "imap": lambda: pool.imap(wt.make_dummy, range(10), chunksize=4),
        "imap_unordered": lambda: pool.imap_unordered(wt.make_dummy, range(10)),
    }


def test_a_yielded_result_can_be_collected() -> None:
    # The default backend.  (The threads and processes backends still hold a task's
    # future in a worker until its next task: see issue 17's closing note.)
    with interpool.Pool(2) as pool:
        for name, make in _maps(pool).items():
            seen = 0
            for obj in make():
                ref = weakref.ref(obj)
                del obj
                gc.collect()
                assert wait_until(lambda ref=ref: ref() is None), f"{name}: result {seen} kept"
                seen += 1
            assert seen == 10, name

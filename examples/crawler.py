"""A web crawler: fetch pages concurrently on asyncio, parse them in parallel.

Run it with::

    python examples/crawler.py [--pages N] [--concurrency C] [--workers W] [--repeat R]

(it needs ``pip install 'interpool[examples]'``: httpx and beautifulsoup4).  It starts
``examples/wiki_server.py`` on 127.0.0.1 (or crawls ``--url URL``), then crawls the site
once per mode (``R`` times, for a median), following the links of each page's
``div#bodyContent`` from page 0 until every page is seen, ``C`` fetches at a time with
an ``httpx.AsyncClient``, and parses each page with BeautifulSoup (``html.parser``) to
count the links in its ``div#bodyContent``.  The modes differ only in where the
parsing runs:

* ``loop``: on the event loop's thread (it blocks the fetches meanwhile);
* ``executor``: in ``concurrent.futures.InterpreterPoolExecutor`` through
  ``loop.run_in_executor`` (Python 3.14+; skipped with a note on 3.13);
* ``interpool``: ``await pool.run(parse, html)`` on an ``interpool.Pool``.

Both pools get ``W`` workers (default: the CPU count) and are warmed up (BeautifulSoup
imported in every worker) before their crawl is timed.  It prints pages per second
for each, and checks that every crawl counted the same links on the same pages (and,
against the local server, the counts it sends in ``X-Body-Links``); the exit status
is 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from bs4 import BeautifulSoup

import interpool

#: A parse: ``(links in div#bodyContent, the distinct hrefs of those links)``.
Parsed = tuple[int, list[str]]
#: Runs ``parse(html)`` somewhere and returns its result.
Parser = Callable[[str], Awaitable[Parsed]]

MODES = ("loop", "executor", "interpool")
TITLES = {
    "loop": "parse on the event loop",
    "executor": "InterpreterPoolExecutor (run_in_executor)",
    "interpool": "interpool (await pool.run)",
}


def parse(html: str) -> Parsed:
    """Count the ``<a href>`` links in ``div#bodyContent``; return the count and the
    distinct hrefs (CPU-bound, pure Python: runs in a worker interpreter)."""
    soup = BeautifulSoup(html, "html.parser")
    body = soup.find("div", id="bodyContent")
    if body is None:
        return 0, []
    hrefs = [str(a["href"]) for a in body.find_all("a", href=True)]
    return len(hrefs), sorted(set(hrefs))


async def crawl(
    client: httpx.AsyncClient, start: str, parser: Parser, concurrency: int, limit: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Crawl from ``start``, following body links under the same ``/wiki/`` prefix,
    ``concurrency`` pages at a time, at most ``limit`` pages.  Return the links
    counted on each page and the counts the server announced (``X-Body-Links``)."""
    origin = urlsplit(start)[:2]
    seen = {start}
    todo: asyncio.Queue[str] = asyncio.Queue()
    todo.put_nowait(start)
    counts: dict[str, int] = {}
    announced: dict[str, int] = {}

    async def fetcher() -> None:
        while True:
            url = await todo.get()
            try:
                response = await client.get(url)
                response.raise_for_status()
                count, hrefs = await parser(response.text)
                counts[url] = count
                if "X-Body-Links" in response.headers:
                    announced[url] = int(response.headers["X-Body-Links"])
                for href in hrefs:
                    link = urldefrag(urljoin(url, href))[0]
                    parts = urlsplit(link)
                    if (
                        parts[:2] == origin
                        and parts.path.startswith("/wiki/")
                        and link not in seen
                        and len(seen) < limit
                    ):
                        seen.add(link)
                        todo.put_nowait(link)
            finally:
                todo.task_done()

    fetchers = [asyncio.create_task(fetcher()) for _ in range(concurrency)]
    try:
        done = asyncio.create_task(todo.join())
        # A fetcher's error ends the crawl at once instead of leaving join() waiting.
        await asyncio.wait([done, *fetchers], return_when=asyncio.FIRST_COMPLETED)
        for task in fetchers:
            if task.done():
                task.result()
        await done
    finally:
        for task in fetchers:
            task.cancel()
        await asyncio.gather(*fetchers, return_exceptions=True)
    return counts, announced


async def on_loop(html: str) -> Parsed:
    return parse(html)


async def timed_crawl(
    start: str, parser: Parser, concurrency: int, limit: int, repeat: int
) -> tuple[float, dict[str, int], dict[str, int]]:
    """Crawl ``repeat`` times; return the median time of a crawl, the links counted
    on each page and the counts the server announced (``RuntimeError`` if the counts
    differ from one crawl to the next)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    times = []
    first: tuple[dict[str, int], dict[str, int]] | None = None
    for _ in range(repeat):
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            began = time.perf_counter()
            counts, announced = await crawl(client, start, parser, concurrency, limit)
            times.append(time.perf_counter() - began)
        if first is None:
            first = counts, announced
        elif first[0] != counts:
            raise RuntimeError("two crawls of the same site counted different links")
    assert first is not None
    return statistics.median(times), *first


async def warm_up(parser: Parser, workers: int, html: str) -> None:
    """Parse ``html`` ``2 * workers`` times at once, so that every worker has
    imported BeautifulSoup before the timed crawl."""
    await asyncio.gather(*(parser(html) for _ in range(2 * workers)))


async def run_mode(
    mode: str, start: str, workers: int, concurrency: int, *, limit: int, sample: str, repeat: int
) -> tuple[float, dict[str, int], dict[str, int]]:
    """Crawl ``repeat`` times with mode ``mode``'s parser (see :func:`timed_crawl`);
    the pool is made and warmed up first, and reused from one crawl to the next."""
    if mode == "loop":
        return await timed_crawl(start, on_loop, concurrency, limit, repeat)
    if mode == "executor":
        loop = asyncio.get_running_loop()
        with concurrent.futures.InterpreterPoolExecutor(workers) as executor:

            async def in_executor(html: str) -> Parsed:
                result: Parsed = await loop.run_in_executor(executor, parse, html)
                return result

            await warm_up(in_executor, workers, sample)
            return await timed_crawl(start, in_executor, concurrency, limit, repeat)
    async with interpool.Pool(workers) as pool:

        async def in_pool(html: str) -> Parsed:
            return await pool.run(parse, html)

        await warm_up(in_pool, workers, sample)
        return await timed_crawl(start, in_pool, concurrency, limit, repeat)


def start_server(pages: int, page_kb: float) -> tuple[subprocess.Popen[str], str]:
    """Start ``wiki_server.py`` on a free port in a process of its own; return it and
    its URL once it serves."""
    script = Path(__file__).resolve().with_name("wiki_server.py")
    command = [sys.executable, str(script), "--port", "0", "--pages", str(pages)]
    process = subprocess.Popen(
        [*command, "--page-kb", str(page_kb)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving "):
        process.kill()
        raise SystemExit(f"the wiki server did not start (it said {line!r})")
    return process, line.split()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=300, help="pages to serve (default 300)")
    parser.add_argument(
        "--page-kb", type=float, default=75, help="approximate page size in KB (default 75)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="fetches at a time (default 16)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="workers of each pool (default: the CPU count)",
    )
    parser.add_argument(
        "--url",
        help="crawl this page's site instead of starting wiki_server.py (at most --pages pages)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="crawls per mode; the median is shown (default 1)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated modes to run, of {', '.join(MODES)} (default: all)",
    )
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for value, name in (
        (args.pages, "--pages"),
        (args.concurrency, "--concurrency"),
        (args.repeat, "--repeat"),
    ):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes must name some of {', '.join(MODES)}, got {args.modes!r}")

    server = None
    if args.url is None:
        server, root = start_server(args.pages, args.page_kb)
        start = urljoin(root, "/wiki/Page_0")
        print(f"wiki server: {root} ({args.pages} pages of ~{args.page_kb:g} KB, started here)")
    else:
        start = args.url
        print(f"crawling {start} (at most {args.pages} pages)")
    try:
        return asyncio.run(
            _compare(modes, start, args.workers, args.concurrency, args.pages, args.repeat)
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait()


async def _compare(  # noqa: PLR0917 - the command line's values
    modes: list[str], start: str, workers: int, concurrency: int, limit: int, repeat: int
) -> int:
    async with httpx.AsyncClient() as client:
        sample = (await client.get(start)).text
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs: {concurrency} fetches at a "
        f"time, BeautifulSoup (html.parser), {workers} workers per pool"
        + (f", median of {repeat} crawls per mode" if repeat > 1 else "")
        + "\n"
    )
    print(f"{'mode':<44} {'pages/s':>8} {'seconds':>8} {'pages':>6} {'links':>9} {'vs loop':>8}")
    results: dict[str, dict[str, int]] = {}
    rates: dict[str, float] = {}
    announced: dict[str, int] = {}
    for mode in modes:
        if mode == "executor" and not hasattr(concurrent.futures, "InterpreterPoolExecutor"):
            print(
                f"{TITLES[mode]:<44} skipped: Python {sys.version_info[0]}."
                f"{sys.version_info[1]} has no concurrent.futures.InterpreterPoolExecutor"
            )
            continue
        seconds, counts, told = await run_mode(
            mode, start, workers, concurrency, limit=limit, sample=sample, repeat=repeat
        )
        results[mode] = counts
        announced.update(told)
        rate = rates[mode] = len(counts) / seconds
        ratio = f"{rate / rates['loop']:>7.2f}x" if "loop" in rates else ""
        print(
            f"{TITLES[mode]:<44} {rate:>8.1f} {seconds:>8.2f} {len(counts):>6} "
            f"{sum(counts.values()):>9,} {ratio}".rstrip(),
            flush=True,
        )
    print()
    return _check(results, announced)


def _check(results: dict[str, dict[str, int]], announced: dict[str, int]) -> int:
    """Print whether every mode counted the same links on the same pages (and what
    the server announced); return the exit status."""
    first = next(iter(results.values()))
    differ = [mode for mode, counts in results.items() if counts != first]
    if differ:
        print(f"MISMATCH: {', '.join(differ)} counted other links than {next(iter(results))}")
        return 1
    wrong = [url for url, count in first.items() if url in announced and announced[url] != count]
    if wrong:
        print(f"MISMATCH: {len(wrong)} pages differ from the server's counts, e.g. {wrong[0]}")
        return 1
    checked = " (matching the server's counts)" if announced else ""
    print(
        f"all {len(results)} modes counted the same {sum(first.values()):,} links "
        f"on {len(first)} pages{checked}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

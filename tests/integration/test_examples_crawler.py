"""``examples/crawler.py`` and ``examples/wiki_server.py``: a small crawl, offline."""

from __future__ import annotations

import concurrent.futures
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ..support import assert_clean_stderr, run_python

pytestmark = pytest.mark.version_independent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytest.importorskip("httpx")
pytest.importorskip("bs4")


@pytest.fixture(scope="module")
def wiki_server() -> object:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import wiki_server
    finally:
        sys.path.remove(str(EXAMPLES))
    return wiki_server


def test_site_pages_announce_their_body_links(wiki_server: object) -> None:
    from bs4 import BeautifulSoup

    site = wiki_server.make_site(pages=5, page_kb=20)  # type: ignore[attr-defined]
    assert sorted(site) == ["/", *(f"/wiki/Page_{i}" for i in range(5))]
    for path, (html, links) in site.items():
        soup = BeautifulSoup(html.decode(), "html.parser")
        body = soup.find("div", id="bodyContent")
        assert body is not None
        assert len(body.find_all("a", href=True)) == links > 0
        # Links outside the body too, which the crawler must not count.
        assert len(soup.find_all("a", href=True)) > links or path == "/"
        if path != "/":
            assert 20 * 1024 <= len(html) < 30 * 1024
            number = int(path.rsplit("_", 1)[1])
            assert f'href="/wiki/Page_{(number + 1) % 5}"' in html.decode()
    assert wiki_server.make_site(pages=5, page_kb=20) == site  # type: ignore[attr-defined]


def test_server_serves_concurrently(wiki_server: object) -> None:
    site = wiki_server.make_site(pages=8, page_kb=4)  # type: ignore[attr-defined]
    with wiki_server.WikiServer(site) as server:  # type: ignore[attr-defined]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", server.url)

        def get(path: str) -> tuple[int, bytes, str | None]:
            with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=30) as response:
                return response.status, response.read(), response.headers["X-Body-Links"]

        with concurrent.futures.ThreadPoolExecutor(8) as threads:
            answers = list(threads.map(get, [f"/wiki/Page_{i}" for i in range(8)]))
        for i, (status, body, links) in enumerate(answers):
            html, count = site[f"/wiki/Page_{i}"]
            assert (status, body, links) == (200, html, str(count))
        with pytest.raises(urllib.error.HTTPError) as error:
            get("/nowhere")
        assert error.value.code == 404


@pytest.mark.timeout(120)
def test_crawler_small_run() -> None:
    done = run_python(
        EXAMPLES / "crawler.py",
        *("--pages", "30", "--page-kb", "20", "--workers", "2", "--concurrency", "8"),
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_clean_stderr(done.stderr)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("wiki server: http://127.0.0.1:")
    rows = {
        line.split("  ")[0]: line
        for line in lines
        if line.startswith(("parse on", "InterpreterPool", "interpool"))
    }
    assert set(rows) == {
        "parse on the event loop",
        "InterpreterPoolExecutor (run_in_executor)",
        "interpool (await pool.run)",
    }
    links = set()
    for title, row in rows.items():
        if "skipped" in row:
            assert title.startswith("InterpreterPoolExecutor")
            assert sys.version_info < (3, 14)
            continue
        rate, seconds, pages, count, ratio = row[len(title) :].split()
        assert float(rate) > 0 and float(seconds) > 0
        assert ratio.endswith("x") and float(ratio[:-1]) > 0
        assert int(pages) == 30
        links.add(count)
    assert len(links) == 1  # every mode counted the same
    modes = 3 if sys.version_info >= (3, 14) else 2
    assert lines[-1] == (
        f"all {modes} modes counted the same {links.pop()} links on 30 pages "
        "(matching the server's counts)"
    )


def test_crawler_rejects_bad_arguments() -> None:
    done = run_python(EXAMPLES / "crawler.py", "--modes", "loop,nope", timeout=60)
    assert done.returncode == 2
    assert "--modes must name some of loop, executor, interpool" in done.stderr

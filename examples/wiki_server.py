"""A local wiki to crawl: serves generated wiki-like pages on 127.0.0.1 (standard library only).

Run it with ``python examples/wiki_server.py [--pages N] [--page-kb KB] [--port PORT]``;
it prints ``serving http://127.0.0.1:PORT/ ...`` once every page is generated, then
serves until interrupted.  ``examples/crawler.py`` starts it by itself.

The site: ``/`` lists every page; ``/wiki/Page_0`` .. ``/wiki/Page_{N-1}`` look like
encyclopedia articles of about ``--page-kb`` KB each: a header, a sidebar and a footer
full of links, and a ``div#bodyContent`` holding the article (an infobox, sections,
paragraphs, lists, references) with links to other pages (page ``i`` always links to
page ``i + 1``, so that every page is reachable from page 0) and to outside sites.
Each page is answered with an ``X-Body-Links`` header, the number of ``<a href>``
links inside its ``div#bodyContent``, so that a crawler can check its parsing.

Pages are generated once, before serving, from a fixed seed (the same pages every
run); requests are served concurrently, each connection on a thread of its own, with
HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

__all__ = ["Site", "WikiServer", "make_site"]

_VOCABULARY = (
    "river city empire language century system music island theory history north "
    "station village bridge mountain energy market council army church school garden "
    "science painting novel festival province railway harbour castle temple forest "
    "valley desert ocean planet engine network library museum theatre university "
    "republic kingdom dynasty treaty battle election parliament constitution economy "
    "industry agriculture climate species mineral element compound protein cell organ "
    "medicine physician architect composer poet philosopher mathematician astronomer "
    "the of and in to a is was for on as by with from at which that were its also "
    "first second early late modern ancient northern southern eastern western major"
)
_WORDS = tuple(_VOCABULARY.split())

#: One page: its HTML, and how many ``<a href>`` links its ``div#bodyContent`` holds.
Site = dict[str, tuple[bytes, int]]


class _Links:
    """Counts the links written into the body."""

    def __init__(self, rng: random.Random, pages: int, index: int) -> None:
        self.rng = rng
        self.pages = pages
        self.index = index
        self.count = 0

    def internal(self, text: str, target: int | None = None) -> str:
        self.count += 1
        page = self.rng.randrange(self.pages) if target is None else target
        return f'<a href="/wiki/Page_{page}" title="Page {page}">{escape(text)}</a>'

    def external(self, text: str) -> str:
        self.count += 1
        host = self.rng.choice(("example.org", "example.com", "example.net"))
        return (
            f'<a rel="nofollow" class="external text" '
            f'href="https://{host}/{self.rng.randrange(10**6)}">{escape(text)}</a>'
        )

    def note(self, number: int) -> str:
        self.count += 1
        return (
            f'<sup id="cite_ref-{number}" class="reference">'
            f'<a href="#cite_note-{number}">[{number}]</a></sup>'
        )


def _sentence(rng: random.Random, links: _Links, notes: list[int]) -> str:
    words = []
    for _ in range(rng.randint(8, 22)):
        word = rng.choice(_WORDS)
        roll = rng.random()
        if roll < 0.07:
            words.append(links.internal(f"{word} {rng.choice(_WORDS)}"))
        elif roll < 0.08:
            words.append(links.external(word))
        elif roll < 0.11:
            words.append(f"<b>{word}</b>" if roll < 0.095 else f"<i>{word}</i>")
        else:
            words.append(word)
    text = " ".join(words)
    if rng.random() < 0.15:
        notes.append(len(notes) + 1)
        text += links.note(notes[-1])
    return text[0].upper() + text[1:] + "."


def _chrome(rng: random.Random, pages: int, count: int) -> str:
    """Navigation links outside the body (not counted)."""
    return "".join(
        f'<li><a href="/wiki/Page_{rng.randrange(pages)}">{rng.choice(_WORDS).title()}</a></li>'
        for _ in range(count)
    )


def _page(index: int, pages: int, size: int, seed: int) -> tuple[bytes, int]:
    rng = random.Random(seed * 1_000_003 + index)
    links = _Links(rng, pages, index)
    notes: list[int] = []
    title = f"Page {index}"
    head = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title} - Wikipool</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>\n<body class="mediawiki">'
        '<div id="mw-head"><ul id="p-personal"><li><a href="/">Main page</a></li>'
        f"{_chrome(rng, pages, 12)}</ul></div>\n"
        f'<div id="content"><h1 id="firstHeading">{title}</h1>\n'
        '<div id="bodyContent" class="vector-body"><div id="mw-content-text">\n'
    )
    infobox = "".join(
        f"<tr><th>{rng.choice(_WORDS).title()}</th>"
        f"<td>{links.internal(rng.choice(_WORDS))}, {rng.randrange(1000, 2030)}</td></tr>"
        for _ in range(12)
    )
    body = [
        f'<table class="infobox"><caption>{title}</caption>{infobox}</table>\n',
        f"<p><b>{title}</b> is a {rng.choice(_WORDS)} page; see also "
        f"{links.internal(f'Page {(index + 1) % pages}', (index + 1) % pages)}.</p>\n",
    ]
    tail = (
        '</div></div></div>\n<div id="mw-navigation"><div id="mw-panel"><ul>'
        f"{_chrome(rng, pages, 40)}</ul></div></div>\n"
        '<div id="footer"><ul><li><a href="/about">About</a></li>'
        '<li><a href="/privacy">Privacy</a></li>'
        f"{_chrome(rng, pages, 6)}</ul></div></body></html>\n"
    )
    length = len(head) + len(tail) + sum(map(len, body))
    section = 0
    while length + 110 * len(notes) < size:  # ~110 bytes per reference
        section += 1
        parts = [
            f'<h2><span class="mw-headline" id="Section_{section}">'
            f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS)}</span></h2>\n"
        ]
        for _ in range(rng.randint(2, 4)):
            sentences = " ".join(_sentence(rng, links, notes) for _ in range(rng.randint(3, 7)))
            parts.append(f"<p>{sentences}</p>\n")
        if rng.random() < 0.5:
            items = "".join(
                f"<li>{_sentence(rng, links, notes)}</li>" for _ in range(rng.randint(3, 6))
            )
            parts.append(f"<ul>{items}</ul>\n")
        chunk = "".join(parts)
        body.append(chunk)
        length += len(chunk)
    references = "".join(
        f'<li id="cite_note-{n}"><a href="#cite_ref-{n}">^</a> <cite>'
        f"{rng.choice(_WORDS).title()}, {links.external('source')}</cite></li>"
        for n in notes
    )
    links.count += len(notes)  # the "^" back links
    body.append(f'<h2>References</h2><ol class="references">{references}</ol>\n')
    html = head + "".join(body) + tail
    return html.encode(), links.count


def make_site(pages: int = 300, page_kb: float = 75, seed: int = 0) -> Site:
    """Generate the site: ``{path: (html, links in div#bodyContent)}`` for ``/`` and
    the ``pages`` article pages of about ``page_kb`` KB each (the same every time for
    the same arguments)."""
    if pages < 1:
        raise ValueError(f"pages must be at least 1, got {pages}")
    if page_kb <= 0:
        raise ValueError(f"page_kb must be positive, got {page_kb}")
    site: Site = {
        f"/wiki/Page_{i}": _page(i, pages, int(page_kb * 1024), seed) for i in range(pages)
    }
    items = "".join(f'<li><a href="/wiki/Page_{i}">Page {i}</a></li>' for i in range(pages))
    index = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Wikipool</title></head>'
        f'<body><div id="bodyContent"><h1>Wikipool: {pages} pages</h1><ul>{items}</ul>'
        "</div></body></html>\n"
    )
    site["/"] = (index.encode(), pages)
    return site


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a crawler reuses its connections
    site: ClassVar[Site] = {}

    def do_GET(self) -> None:
        page = self.site.get(self.path.split("?", 1)[0].split("#", 1)[0])
        if page is None:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
        else:
            body, links = page
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("X-Body-Links", str(links))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: a crawl makes hundreds of requests


class WikiServer:
    """Serves a site made by :func:`make_site` on ``host:port`` (port 0: any free
    one) from a background thread; a context manager.  ``url`` is its root URL."""

    def __init__(self, site: Site, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"site": site})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="wiki-server", daemon=True
        )
        self.url = f"http://{host}:{self._server.server_port}/"

    def start(self) -> WikiServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WikiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=300, help="article pages (default 300)")
    parser.add_argument(
        "--page-kb", type=float, default=75, help="approximate page size in KB (default 75)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 for any (default 8000)")
    parser.add_argument("--seed", type=int, default=0, help="page generator seed (default 0)")
    args = parser.parse_args(argv)
    try:
        site = make_site(args.pages, args.page_kb, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    size = sum(len(html) for html, _ in site.values()) / len(site) / 1024
    with WikiServer(site, args.host, args.port) as server:
        print(f"serving {server.url} ({args.pages} pages, {size:.0f} KB each)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

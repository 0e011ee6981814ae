"""Headless Chromium for report tests: the DOM after scripts ran, screenshots, DOM parsing."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000")


#: Chromium-based browsers tried in order (the Debian package first; Google Chrome as GitHub's
#: Ubuntu and macOS runners ship it).
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
              "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
              "/Applications/Chromium.app/Contents/MacOS/Chromium")


def chromium() -> str:
    """The browser executable (``$COREMLCHECK_BROWSER`` or the first of ``CANDIDATES``);
    fails (never skips) when none is installed."""
    for name in filter(None, (os.environ.get("COREMLCHECK_BROWSER"), *CANDIDATES)):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail("no Chromium found: the HTML report is tested in a real browser; install the "
                "Debian package `chromium` (apt-get install chromium), run `make test`, which "
                "installs it, or set COREMLCHECK_BROWSER to a Chromium or Chrome executable")


def run(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=120, check=True)


def dump_dom(url: str, profile: Path) -> str:
    """The page's DOM serialised after its scripts ran."""
    return run(url, profile, "--dump-dom").stdout


def screenshot(url: str, profile: Path, png: Path, size: tuple[int, int] = (1280, 2000)) -> Path:
    run(url, profile, f"--screenshot={png}", f"--window-size={size[0]},{size[1]}")
    return png


class Element:
    def __init__(self, tag: str, attrs: dict, parent: Element | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.nodes: list[Element | str] = []  # children and text, in document order

    @property
    def children(self) -> list[Element]:
        return [n for n in self.nodes if isinstance(n, Element)]

    @property
    def text(self) -> str:
        return "".join(n if isinstance(n, str) else n.text for n in self.nodes)

    def iter(self, tag: str | None = None):
        for child in self.children:
            if tag is None or child.tag == tag:
                yield child
            yield from child.iter(tag)

    def find_id(self, ident: str) -> Element:
        return next(e for e in self.iter() if e.attrs.get("id") == ident)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v if v is not None else "" for k, v in attrs}, self.current)
        self.current.nodes.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.nodes.append(
            Element(tag, {k: v if v is not None else "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.nodes.append(data)


def parse(html: str) -> Element:
    """A small element tree of a serialised DOM (tags, attributes, text)."""
    parser = _Parser()
    parser.feed(html)
    return parser.root

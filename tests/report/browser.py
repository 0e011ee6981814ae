"""Headless Chromium for report tests: the DOM after scripts ran, screenshots, DOM parsing."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
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


def emulate(url: str, profile: Path, size: tuple[int, int], expression: str, png: Path,
            mobile: bool = False):
    """Open ``url`` in a ``size`` viewport set through the DevTools protocol (device metrics
    emulation, as Puppeteer's ``page.setViewport`` does; ``mobile`` as a phone), so it works
    below the 500-pixel minimum of Chromium's window; evaluate ``expression`` once the page
    loaded and return its JSON value; save a screenshot of the viewport to ``png``."""
    with _DevTools(profile) as tools:
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        tools.call("Emulation.setDeviceMetricsOverride", session, width=size[0],
                   height=size[1], deviceScaleFactor=1, mobile=mobile)
        tools.call("Page.enable", session)
        tools.call("Page.navigate", session, url=url)
        tools.wait_for("Page.loadEventFired", session)
        value = tools.call("Runtime.evaluate", session, expression=expression,
                           returnByValue=True)["result"]["value"]
        data = tools.call("Page.captureScreenshot", session, format="png")["data"]
    png.write_bytes(base64.b64decode(data))
    return value


class _DevTools:
    """Chromium driven over ``--remote-debugging-pipe``: JSON messages, each ending in a NUL
    byte, written to the browser's descriptor 3 and read from its descriptor 4."""

    def __init__(self, profile: Path):
        self.profile = profile
        self.next_id = 0
        self.buffer = b""

    def __enter__(self):
        to_browser, self.commands = os.pipe()
        self.replies, from_browser = os.pipe()

        def as_3_and_4():  # in the child: the pipe ends Chromium expects
            read, write = os.dup(to_browser), os.dup(from_browser)
            os.dup2(read, 3)
            os.dup2(write, 4)

        flags = [f for f in FLAGS if not f.startswith("--virtual-time-budget")]
        self.process = subprocess.Popen(
            [chromium(), *flags, f"--user-data-dir={self.profile}", "--remote-debugging-pipe"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=as_3_and_4, pass_fds=(3, 4))
        os.close(to_browser)
        os.close(from_browser)
        return self

    def __exit__(self, *exc):
        try:
            self.send("Browser.close")
        except OSError:
            pass
        for fd in (self.commands, self.replies):
            os.close(fd)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def send(self, method: str, session: str | None = None, **params) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        return self.next_id

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """Send one command and return its result (fails on a protocol error)."""
        wanted = self.send(method, session, **params)
        while True:
            message = self.receive()
            if message.get("id") == wanted:
                if "error" in message:
                    pytest.fail(f"Chromium DevTools {method}: {message['error']}")
                return message.get("result", {})

    def wait_for(self, event: str, session: str) -> dict:
        while True:
            message = self.receive()
            if message.get("method") == event and message.get("sessionId") == session:
                return message.get("params", {})

    def receive(self) -> dict:
        deadline = time.monotonic() + 60
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                pytest.fail("Chromium DevTools: no answer within 60 s")
            ready, _, _ = select.select([self.replies], [], [], 1.0)
            if ready:
                chunk = os.read(self.replies, 1 << 20)
                if not chunk:
                    pytest.fail("Chromium DevTools: the browser closed its pipe")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)


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

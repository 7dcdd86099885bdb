"""The course website (scripts/build_site.py) in a real headless browser.

The site is built into a temporary folder, served by Python's http.server on 127.0.0.1 and opened
in Debian's Chromium, driven by Playwright (``pip install playwright``; its own browser download,
``playwright install``, is not needed). Every page -- the index, each notebook page, each slide
deck -- must load without a console error, a failed request or a request to any other host;
its images must have loaded, its links to other pages of the site must exist, its math must be
typeset by the site's own MathJax, and each deck must start reveal.js.

Skipped, with the reason, where Chromium or Playwright is missing (CI installs both), or where the
pinned MathJax / reveal.js packages are neither cached nor downloadable. Screenshots of the index,
of notebook 01 and of its first slide go to ``$OUT`` when set, else to the test's tmp folder, and
always to ``site-test-output/`` under pytest's tmp folder; their paths are printed.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
build_site = sys.modules["build_site"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(build_site)

NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# MathJax 2 has typeset a page (and loaded the fonts and extensions it needs) when its queue is empty.
MATH_DONE = "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    try:
        times = build_site.build(out, jobs=min(4, os.cpu_count() or 1))  # before the browser starts: it forks
    except build_site.FetchError as exc:  # offline, nothing cached: a wrong checksum fails
        pytest.skip(f"the site's static packages are not available: {exc}")
    print(f"site built in {times['total']:.1f} s into {out}")
    return out


@pytest.fixture(scope="module")
def base_url(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def visits(base_url):
    """The browser, and the pages in the order the tests below visit them."""
    urls = ([base_url + "index.html"] + [f"{base_url}{stem}.html" for stem in NOTEBOOKS]
            + [f"{base_url}slides/{stem}.slides.html" for stem in NOTEBOOKS])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        visits = Visits(browser, urls)
        yield visits
        visits.close()
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """The folders screenshots go to."""
    folders = [tmp_path_factory.getbasetemp() / "site-test-output"]
    if os.environ.get("OUT"):
        folders.append(Path(os.environ["OUT"]))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def screenshot(page, shots, name, **kw):
    for folder in shots:
        page.screenshot(path=str(folder / name), **kw)
        print(f"screenshot: {folder / name}")


class Visits:
    """Opens the site's pages in a fresh browser page each, one ahead: while a test checks page i,
    the browser already loads page i + 1 (the tests ask for them in the order of ``urls``), so
    that its two cores both work. ``open(url)`` returns the loaded page and the list of problems
    seen since it started loading (console errors, uncaught exceptions, failed or refused requests,
    HTTP errors, requests that leave 127.0.0.1)."""

    def __init__(self, browser, urls):
        self.browser, self.urls, self.started = browser, urls, {}

    def _start(self, url):
        page = self.browser.new_page(viewport={"width": 1280, "height": 900})
        problems = []
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"exception: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

        def only_local(route):
            if urlparse(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith("data:"):
                route.continue_()
            else:
                problems.append(f"external request: {route.request.url}")
                route.abort()

        page.route("**/*", only_local)
        page.goto(url, wait_until="commit")
        self.started[url] = page, problems

    def open(self, url):
        if url not in self.started:
            self._start(url)
        following = self.urls[self.urls.index(url) + 1:][:1]
        for nxt in following:
            if nxt not in self.started:
                self._start(nxt)
        page, problems = self.started.pop(url)
        page.wait_for_load_state("load")
        return page, problems

    def close(self):
        for page, _ in self.started.values():
            page.close()


def check_images_and_links(page, site, base_url):
    """Every <img> has loaded; every link to an .html page of the site names a file that exists,
    and its #cell-id=... anchor (the gallery's) is an element of that page."""
    broken = page.eval_on_selector_all("img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.src.slice(0, 80))")
    assert not broken, f"images that did not load: {broken}"
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        url = urlparse(urljoin(page.url, href))
        if url.hostname != "127.0.0.1" or not url.path.endswith(".html"):
            continue
        target = site / url.path.lstrip("/")
        assert target.is_file(), f"{page.url}: link {href} to a page that does not exist"
        if url.fragment.startswith("cell-id="):
            assert f'id="{url.fragment}"' in target.read_text(encoding="utf-8"), f"{page.url}: anchor of {href} not found"
    return hrefs


def test_index(site, base_url, visits, shots):
    page, problems = visits.open(base_url + "index.html")
    page.wait_for_function(MATH_DONE)
    assert problems == []
    rows = page.locator(".course-table tbody tr")
    assert rows.count() == len(NOTEBOOKS)
    assert page.locator(".course-table td.goals li").count() >= 3 * len(NOTEBOOKS), "learning goals missing"
    assert page.locator(".gallery img").count() >= 2 * len(NOTEBOOKS)
    hrefs = check_images_and_links(page, site, base_url)
    for stem in NOTEBOOKS:
        assert f"{stem}.html" in hrefs and f"slides/{stem}.slides.html" in hrefs
    screenshot(page, shots, "index.png", full_page=True)
    page.close()


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_page(site, base_url, visits, shots, stem):
    page, problems = visits.open(f"{base_url}{stem}.html")
    page.wait_for_function(MATH_DONE, timeout=30_000)
    assert problems == []
    # MathJax (CommonHTML output) has typeset the formulas, none of them failed, none left raw
    assert page.locator(".MathJax_CHTML").count() > 0, "no typeset math"
    assert page.locator(".MathJax_CHTML .mjx-merror, .MathJax_Error").count() == 0, "a formula MathJax could not read"
    raw = page.eval_on_selector_all(".jp-RenderedMarkdown p", "els => els.map(e => e.innerText).filter(t => t.includes('$$'))")
    assert raw == [], f"raw display math left in: {raw[:2]}"
    assert page.locator("nav.course-nav").count() == 2
    # a widget's live view (it needs the kernel) is replaced by a note, no error placeholder
    assert page.locator(".jupyter-widgets, .widget-error").count() == 0
    hrefs = check_images_and_links(page, site, base_url)
    assert "index.html" in hrefs and f"slides/{stem}.slides.html" in hrefs
    i = NOTEBOOKS.index(stem)
    for j in (i - 1, i + 1):
        if 0 <= j < len(NOTEBOOKS):
            assert f"{NOTEBOOKS[j]}.html" in hrefs, "previous / next link missing"
    if i == 0:
        screenshot(page, shots, f"{stem}.png")
    page.close()


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_slide_deck(site, base_url, visits, shots, stem):
    page, problems = visits.open(f"{base_url}slides/{stem}.slides.html")
    page.wait_for_selector(".reveal.ready", state="attached", timeout=30_000)
    page.wait_for_function(MATH_DONE, timeout=30_000)
    assert problems == []
    assert page.locator(".reveal .slides > section").count() > 1, "fewer than two slides"
    total = page.evaluate("require('../static/reveal.js/dist/reveal.js').getTotalSlides()")
    assert total > 5
    assert page.locator(".reveal .slides .MathJax_CHTML").count() > 0, "no typeset math in the deck"
    check_images_and_links(page, site, base_url)
    if stem == NOTEBOOKS[0]:
        time.sleep(0.3)  # let the first slide settle before the picture
        screenshot(page, shots, f"{stem}.slides.png")
    page.close()

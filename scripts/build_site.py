"""Build the course website and its slide decks from the notebooks' stored outputs.

    python scripts/build_site.py [--out DIR] [--jobs N]    (default DIR: site/)

Writes, under DIR:

* ``index.html``: the course title, a table of the notebooks (number, title, learning goals) and a
  gallery of the first ``FIGURES_PER_NOTEBOOK`` figures of each notebook (PNG files in ``img/``,
  each linking to the cell that made it);
* ``NN_name.html``: each notebook rendered by nbconvert's ``HTMLExporter`` ("lab" template), with
  previous / index / next navigation and a link to its slides;
* ``slides/NN_name.slides.html``: each notebook as a reveal.js deck (nbconvert's
  ``SlidesExporter``), slide types assigned in memory by ``SlideTypes``;
* ``static/``: the site's CSS and the JavaScript it needs, served from the site itself.

Nothing is executed and no notebook file is written. A page never fetches anything from the
internet: MathJax, reveal.js, require.js and jQuery are pinned npm packages (see ``ASSETS``),
downloaded once into ``.cache/site-assets/`` (``$RRLIB_SITE_CACHE``), checked against the
registry's sha512 and copied into ``static/``. Rebuilding needs no network once they are cached.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import fnmatch
import functools
import hashlib
import html
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from nbconvert import HTMLExporter, SlidesExporter
from nbconvert.filters import clean_html, markdown2html
from nbconvert.preprocessors import Preprocessor
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TEMPLATES = Path(__file__).resolve().parent / "site_templates"
CACHE = Path(os.environ.get("RRLIB_SITE_CACHE") or ROOT / ".cache" / "site-assets")
FIGURES_PER_NOTEBOOK = 3  # the gallery shows the first three figures (image/png outputs) of each notebook
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class AssetError(RuntimeError):
    """A pinned static package whose bytes are not the pinned ones."""


class FetchError(AssetError):
    """A pinned static package that is not cached and could not be downloaded."""


@dataclass(frozen=True)
class Asset:
    """An npm package pinned to an exact version and the registry's sha512 of its tarball
    (``npm view NAME@VERSION dist.integrity``); ``keep`` / ``drop`` are glob patterns, relative to
    the package root, of the files the site needs."""

    name: str
    version: str
    integrity: str
    keep: tuple[str, ...]
    drop: tuple[str, ...] = ()

    @property
    def tarball(self) -> Path:
        return CACHE / f"{self.name}-{self.version}.tgz"

    @property
    def url(self) -> str:  # the registry's address of the tarball (what `npm pack` fetches)
        registry = os.environ.get("npm_config_registry", "https://registry.npmjs.org").rstrip("/")
        return f"{registry}/{self.name}/-/{self.name}-{self.version}.tgz"


# MathJax 2.7, not 3: nbconvert's templates configure and drive MathJax 2 (MathJax.Hub.Config in
# the page, MathJax.Hub.Rerender on every slide change), so MathJax 3 would need templates of our
# own. It comes from npm rather than the PyPI package jupyter-server-mathjax (also MathJax 2.7)
# because reveal.js, require.js and jQuery must come from npm anyway (one pinned, checked way to
# fetch all four) and that package would pull jupyter_server into the environment.
# reveal.js 4.0.2 is the version nbconvert's reveal template is written for (its default
# reveal_url_prefix is unpkg.com/reveal.js@4.0.2, and it loads dist/reveal.js and
# plugin/notes/notes.js through require.js). The decks use its "white" theme: nbconvert's default
# "simple" imports Google Fonts, "white" ships its font (Source Sans Pro).
ASSETS = {
    "mathjax": Asset(
        "mathjax", "2.7.9",
        "sha512-NOGEDTIM9+MrsqnjPEjVGNx4q0GQxqm61yQwSK+/5S59i26wId5IC5gNu9/bu8+CCVl5p9G2IHcAl/wJa+5+BQ==",
        keep=("MathJax.js", "LICENSE", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "extensions/*",
              "jax/input/TeX/*", "jax/output/CommonHTML/*", "jax/output/PreviewHTML/*", "jax/element/*",
              "fonts/HTML-CSS/TeX/woff/*"),
        drop=("extensions/a11y/*",)),  # 3.7 MB of screen-reader maps the menu loads on request
    "reveal.js": Asset(
        "reveal.js", "4.0.2",
        "sha512-LWZSUenufF1gpD7npxJ7KfoQQFKgc1D6XrLTFgKlwWNP1BQ74hT48KONFWMAw+8R/QUeaScCLCLrBVHDfFIEiw==",
        keep=("LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/theme/white.css",
              "dist/theme/fonts/source-sans-pro/*", "plugin/notes/*")),
    # require.js loads reveal.js in nbconvert's deck; jQuery sizes the scrolling slides.
    "requirejs": Asset(
        "requirejs", "2.3.7",
        "sha512-DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
        keep=("require.js",)),
    "jquery": Asset(
        "jquery", "3.7.1",
        "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
        keep=("LICENSE.txt", "dist/jquery.min.js")),
}
MATHJAX_JS = "static/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"


# --------------------------------------------------------------------------------------------
# static packages


def _sha512(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _download(url: str, path: Path) -> None:
    part = path.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as answer, open(part, "wb") as f:
            shutil.copyfileobj(answer, f)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def fetch(asset: Asset) -> Path:
    """The asset's verified tarball in the cache; fetched with ``npm pack`` (or, where npm is not
    installed, from the same registry address with urllib) when not cached yet."""
    path = asset.tarball
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        spec = f"{asset.name}@{asset.version}"
        print(f"fetching {spec} into {CACHE}", file=sys.stderr)
        try:
            if shutil.which("npm"):
                subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", str(CACHE)],
                               check=True, stdout=subprocess.DEVNULL)
            else:
                _download(asset.url, path)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise FetchError(f"could not fetch {spec} ({exc}); it is needed once, then cached in {CACHE}") from exc
        if not path.exists():
            raise FetchError(f"`npm pack {spec}` did not write {path}")
    found = _sha512(path)
    if found != asset.integrity:
        path.unlink()
        raise AssetError(f"{path.name}: sha512 {found} is not the pinned {asset.integrity}; "
                         "the file was removed (rerun to fetch it again)")
    return path


def install_assets(static: Path) -> None:
    """Copy the files each asset keeps from its tarball into ``static/<name>/``."""
    for key, asset in ASSETS.items():
        with tarfile.open(fetch(asset)) as tar:
            for member in tar.getmembers():
                rel = member.name.removeprefix("package/")
                if not member.isfile() or ".." in Path(rel).parts:
                    continue
                if any(fnmatch.fnmatch(rel, p) for p in asset.keep) and not any(fnmatch.fnmatch(rel, p) for p in asset.drop):
                    target = static / key / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
    shutil.copyfile(TEMPLATES / "site.css", static / "site.css")


# --------------------------------------------------------------------------------------------
# reading the notebooks


@dataclass
class Notebook:
    """One notebook of the course and what the site shows of it."""

    path: Path
    node: nbformat.NotebookNode
    number: str
    title: str
    goals_html: str

    @property
    def page(self) -> str:
        return f"{self.path.stem}.html"

    @property
    def slides(self) -> str:
        return f"slides/{self.path.stem}.slides.html"


def title_of(nb) -> tuple[str, str]:
    """(number, title) from the notebook's first heading, "# 01 — Average precision ..."."""
    for cell in nb.cells:
        m = re.search(r"^#\s+(.+)$", cell.source, re.M) if cell.cell_type == "markdown" else None
        if m:
            heading = m.group(1).strip()
            parts = re.match(r"(\d+)\s*[—–-]\s*(.+)", heading)
            return (parts.group(1), parts.group(2)) if parts else ("", heading)
    return "", ""


def learning_goals(nb) -> str:
    """The markdown list that follows the "Learning goals" line near the top of the notebook
    (the first markdown cells); empty when there is none."""
    for cell in nb.cells[:5]:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        start = next((i for i, line in enumerate(lines) if re.search(r"\bgoals\b", line, re.I)), None)
        if start is None:
            continue
        items: list[str] = []
        for line in lines[start + 1:]:
            if re.match(r"\s*(\d+[.)]|[-*+])\s", line) or (items and (not line.strip() or line.startswith(" "))):
                items.append(line)
            elif items:
                break
        return "\n".join(items).strip()
    return ""


def read_notebook(path: Path) -> Notebook:
    nb = nbformat.read(path, as_version=4)
    number, title = title_of(nb)
    return Notebook(path, nb, number or path.stem[:2], title or path.stem, markdown2html(learning_goals(nb)))


def with_sections(nb: Notebook):
    """Each cell of the notebook with the heading of the section it is in."""
    section = nb.title
    for cell in nb.node.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#{1,3}\s+(.+)$", cell.source, re.M)
            section = m.group(1).strip() if m else section
        yield cell, section


def static_copy(nb: Notebook):
    """The notebook as the site shows it, in memory: its widgets' live views (which a static page
    cannot run: they need the kernel) are replaced by a one-line note, since each widget's picture
    is stored in the same cell; the widget state is dropped so that no widget manager is loaded.
    Each figure gets an alternative text naming its section (``course_alt``, read by the templates)."""
    shown = copy.deepcopy(nb.node)
    shown.metadata.pop("widgets", None)
    shown.metadata["title"] = f"{nb.number} — {nb.title}"
    note = ('<p class="course-widget-note">An interactive widget runs here in Jupyter; the picture '
            'stored in this cell shows its default state.</p>')
    for cell, (_, section) in zip(shown.cells, with_sections(nb)):
        for i, out in enumerate(cell.get("outputs", [])):
            if WIDGET_VIEW in out.get("data", {}):
                cell.outputs[i] = nbformat.v4.new_output("display_data", data={"text/html": note})
            elif "image/png" in out.get("data", {}):
                out.setdefault("metadata", {})["course_alt"] = f"Figure of notebook {nb.number}, section: {section}"
    return shown


def figures(nb: Notebook, limit: int = FIGURES_PER_NOTEBOOK):
    """The first ``limit`` PNG outputs: (png bytes, id of the cell, heading of its section)."""
    found = []
    for cell, section in with_sections(nb):
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png and len(found) < limit:
                found.append((base64.b64decode(png), cell.get("id", ""), section))
    return found


# --------------------------------------------------------------------------------------------
# slides


class SlideTypes(Preprocessor):
    """Give every cell a reveal.js slide type (in memory; a cell that has one keeps it).

    * a markdown cell that opens with a ``#`` or ``##`` heading starts a new slide (a column of
      the deck: left / right moves between the notebook's sections);
    * any other markdown cell, and a code cell with outputs (its code with its figure or printout),
      is a sub-slide of that column (up / down steps through a section);
    * a code cell without outputs (definitions the next cell uses) continues the slide before it.

    Code stays in the deck: in this course the short naive versions *are* the lesson. A slide
    taller than the screen scrolls (``reveal_scroll``).
    """

    def preprocess_cell(self, cell, resources, index):
        if "slide_type" not in cell.metadata.get("slideshow", {}):
            if cell.cell_type == "markdown":
                kind = "slide" if re.match(r"#{1,2}\s", cell.source.lstrip()) else "subslide"
            elif cell.cell_type == "code":
                kind = "subslide" if cell.outputs else "-"
            else:
                kind = "skip"
            cell.metadata.setdefault("slideshow", {})["slide_type"] = kind
        return cell, resources


# --------------------------------------------------------------------------------------------
# pages


def _link(href: str | None, text: str) -> str:
    if href is None:
        return f'<span class="course-nav-none">{html.escape(text)}</span>'
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def nav_bar(notebooks: list[Notebook], i: int) -> str:
    """Previous / index / slides / next, for notebook page ``i``."""
    prev = notebooks[i - 1] if i > 0 else None
    nxt = notebooks[i + 1] if i + 1 < len(notebooks) else None
    nb = notebooks[i]
    return (
        '<nav class="course-nav">'
        + _link(prev and prev.page, f"← {prev.number} {prev.title}" if prev else "← (first notebook)")
        + '<span class="course-nav-mid">' + _link("index.html", "Course index") + " · "
        + _link(nb.slides, f"Slides of {nb.number}") + "</span>"
        + _link(nxt and nxt.page, f"{nxt.number} {nxt.title} →" if nxt else "(last notebook) →")
        + "</nav>"
    )


@functools.cache  # once per process
def exporters() -> tuple[HTMLExporter, SlidesExporter]:
    """nbconvert's page and deck exporters, pointed at the site's own copies of every script."""
    def config(prefix: str) -> Config:
        c = Config()
        c.HTMLExporter.mathjax_url = prefix + MATHJAX_JS
        c.HTMLExporter.require_js_url = prefix + "static/requirejs/require.js"
        c.HTMLExporter.jquery_url = prefix + "static/jquery/dist/jquery.min.js"
        return c

    # The page and the deck sanitise the same markdown cells (bleach: the costliest step): once each.
    once = functools.lru_cache(maxsize=None)(clean_html)
    common = dict(extra_template_basedirs=[str(TEMPLATES)], extra_template_paths=[str(TEMPLATES)],
                  filters={"clean_html": once})
    page = HTMLExporter(config=config(""), template_name="lab", template_file="notebook.html.j2", **common)
    c = config("../")
    c.SlidesExporter.update(reveal_url_prefix="../static/reveal.js", reveal_theme="white", reveal_scroll=True,
                            reveal_transition="none", reveal_number="c/t", reveal_width="1280",
                            reveal_height="800", preprocessors=[SlideTypes])
    deck = SlidesExporter(config=c, template_name="reveal", template_file="slides.html.j2", **common)
    return page, deck


def readme_intro() -> tuple[str, str]:
    """The course title (README's first heading) and its first paragraph, as HTML."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^#\s+(.+)$", text, re.M)
    if not m:
        return "rrlib course", ""
    paragraph = text[m.end():].strip().split("\n\n", 1)[0]
    return m.group(1).strip(), markdown2html(paragraph)


def render(nb: Notebook, nav: str) -> tuple[str, str]:
    """The page and the slide deck of one notebook, as HTML (in a worker process of ``build``)."""
    page, deck = exporters()
    shown = static_copy(nb)
    links = (f'<div class="course-deck-links">{_link("../" + nb.page, "← notebook page")} · '
             f'{_link("../index.html", "course index")}</div>')
    resources = {"course": {"nav": Markup(nav), "deck_links": Markup(links)}}
    return (page.from_notebook_node(shown, resources=copy.deepcopy(resources))[0],
            deck.from_notebook_node(shown, resources=copy.deepcopy(resources))[0])


def build(out: Path, jobs: int = 1) -> dict[str, float]:
    """Build the whole site into ``out`` (replacing what is there), rendering ``jobs`` notebooks at a
    time (in worker processes); returns timings in seconds."""
    t0 = time.perf_counter()
    if out.exists() and any(out.iterdir()):
        if not (out / "static" / "site.css").is_file():  # never wipe a folder that is not an earlier site
            raise FileExistsError(f"{out} is not empty and holds no earlier build of the site: choose another --out")
        shutil.rmtree(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "slides").mkdir()
    install_assets(out / "static")
    t_assets = time.perf_counter()

    notebooks = [read_notebook(p) for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]
    navs = [nav_bar(notebooks, i) for i in range(len(notebooks))]
    with (ProcessPoolExecutor(jobs) if jobs > 1 else contextlib.nullcontext()) as pool:
        for nb, (page, deck) in zip(notebooks, (pool.map if pool else map)(render, notebooks, navs)):
            (out / nb.page).write_text(page, encoding="utf-8")
            (out / nb.slides).write_text(deck, encoding="utf-8")
    t_pages = time.perf_counter()

    gallery = []
    for nb in notebooks:
        figs = []
        for k, (png, cell_id, section) in enumerate(figures(nb), start=1):
            name = f"img/{nb.path.stem}-{k}.png"
            (out / name).write_bytes(png)
            href = nb.page + (f"#cell-id={cell_id}" if cell_id else "")
            figs.append({"src": name, "href": href, "caption": section})
        gallery.append({"number": nb.number, "title": nb.title, "page": nb.page, "slides": nb.slides,
                        "goals_html": Markup(nb.goals_html), "figures": figs})
    title, intro = readme_intro()
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True)
    (out / "index.html").write_text(env.get_template("index.html.j2").render(
        title=title, intro_html=Markup(intro), notebooks=gallery, per_notebook=FIGURES_PER_NOTEBOOK,
        mathjax_url=MATHJAX_JS, mathjax_version=ASSETS["mathjax"].version,
        reveal_version=ASSETS["reveal.js"].version), encoding="utf-8")
    t_end = time.perf_counter()
    return {"assets": t_assets - t0, "pages and decks": t_pages - t_assets, "index": t_end - t_pages,
            "total": t_end - t0}


def readme_gallery(folder: Path, width: int = 360) -> str:
    """One key figure per notebook for the README: the notebook's first figure (the site's gallery
    opens with it), shrunk to ``width`` pixels and saved as ``folder/NN.png`` (256 colours, so the
    ten files stay small enough to commit); returns the README's markdown table, two per row,
    each picture linking to its notebook (and the line under it to the site's page)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    cells = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = read_notebook(path)
        found = figures(nb, limit=1)
        if not found:
            continue
        image = Image.open(io.BytesIO(found[0][0])).convert("RGB")
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        target = folder / f"{nb.number}.png"
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
        rel = target.relative_to(ROOT).as_posix()
        cells.append(f"[![{nb.number} — {nb.title}]({rel})](notebooks/{path.name})<br>"
                     f"**{nb.number}** {html.escape(nb.title)} · `site/{nb.page}`")
    rows = ["| | |", "|---|---|"]
    rows += [f"| {cells[i]} | {cells[i + 1] if i + 1 < len(cells) else ''} |" for i in range(0, len(cells), 2)]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="output folder (default: site/)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="notebooks rendered at a time (default: the CPUs, at most 4)")
    parser.add_argument("--readme-gallery", type=Path, default=None, metavar="DIR",
                        help="only write one key figure per notebook into DIR (e.g. docs/gallery) and print "
                             "the README's gallery table")
    args = parser.parse_args(argv)
    if args.readme_gallery:
        print(readme_gallery(args.readme_gallery.resolve()))
        return 0
    try:
        times = build(args.out.resolve(), args.jobs)
    except (AssetError, FileExistsError) as exc:
        print(f"build_site: {exc}", file=sys.stderr)
        return 1
    print(f"site built in {times['total']:.1f} s ("
          + ", ".join(f"{k} {v:.1f} s" for k, v in times.items() if k != "total")
          + f"): open {args.out / 'index.html'} (or serve the folder: python -m http.server -d {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

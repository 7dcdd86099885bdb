"""The README's gallery and links: one key figure per notebook, every local link resolving."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_gallery_has_one_figure_per_notebook():
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        picture = f"docs/gallery/{nb.name[:2]}.png"
        assert f"]({picture})](notebooks/{nb.name})" in README, f"README's gallery lacks {nb.name}"
        assert (ROOT / picture).stat().st_size > 1000, f"{picture} is missing or empty"


def test_local_links_resolve():
    targets = re.findall(r"\]\(((?!https?:|#)[^)\s]+)\)", README)
    assert len(targets) > 20
    missing = [t for t in targets if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"

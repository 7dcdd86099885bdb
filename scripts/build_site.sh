#!/usr/bin/env bash
# Build the course website and the slide decks under site/ from the notebooks' stored outputs
# (nothing is executed): open site/index.html, or serve it with  python3 -m http.server -d site.
# Extra arguments go to scripts/build_site.py, e.g.  bash scripts/build_site.sh --out /tmp/site
# The first build downloads the pinned MathJax / reveal.js / require.js / jQuery packages once
# into .cache/site-assets/; later builds need no network.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/build_site.py "$@"

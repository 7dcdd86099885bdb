#!/usr/bin/env bash
# The main job: execute every notebook in notebooks/ on the embedded default data, in place,
# so the stored outputs (figures, tables, checked numbers) are those of this checkout.
# The terminal shows each slow cell and the progress of the caches a first run builds.
# Arguments: optional notebook paths (default: all of notebooks/*.ipynb, in order).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ "$#" -gt 0 ]; then notebooks=("$@"); else notebooks=(notebooks/[0-9]*.ipynb); fi
.venv/bin/python scripts/run_notebooks.py "${notebooks[@]}"

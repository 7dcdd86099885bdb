#!/usr/bin/env bash
# The main job: execute every notebook in notebooks/ on the embedded default data, in place,
# so the stored outputs (figures, tables, checked numbers) are those of this checkout.
# Arguments: optional notebook paths (default: all of notebooks/*.ipynb, in order).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ "$#" -gt 0 ]; then notebooks=("$@"); else notebooks=(notebooks/[0-9]*.ipynb); fi
for nb in "${notebooks[@]}"; do
  echo ">> executing $nb"
  start=$(date +%s)
  .venv/bin/python -m jupyter nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.timeout=600 "$nb"
  echo "   done in $(( $(date +%s) - start )) s"
done

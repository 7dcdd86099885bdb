#!/usr/bin/env bash
# The notebook tests once more as another CPU would run them: every library's SIMD dispatch moved
# off this machine's fastest kernels and one thread (scripts/generic_simd.env), in a fresh data
# root so that every cache (synth-landmarks, SIFT, vocabularies, descriptors, trained networks)
# is rebuilt under those code paths. A checked number that only holds on one CPU fails here.
#   RRLIB_OTHER_CPU_DATA   the data root to use (default: a new temporary folder, removed after)
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set -a
# shellcheck source=generic_simd.env
source scripts/generic_simd.env
set +a
root="${RRLIB_OTHER_CPU_DATA:-}"
if [ -z "$root" ]; then
  root=$(mktemp -d -t rrlib-other-cpu.XXXXXX)
  trap 'rm -rf "$root"' EXIT
fi
export RRLIB_TEST_DATA="$root"
echo ">> notebook tests with generic SIMD kernels and one thread, data root $root"
set +e
.venv/bin/python -m pytest --nbval-lax notebooks -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no test, but this project has notebook tests: treating it as a failure" >&2
fi
exit "$rc"

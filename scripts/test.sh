#!/usr/bin/env bash
# Run every test: the unit and integration tests in tests/ and every notebook under nbval
# (cells marked "# NBVAL_CHECK_OUTPUT" must reproduce their stored output).
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -x -k evaluate
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
set +e
.venv/bin/python -m pytest tests --nbval-lax notebooks "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no test, but this project has tests: treating it as a failure" >&2
fi
exit "$rc"

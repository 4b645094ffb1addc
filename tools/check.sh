#!/usr/bin/env bash
# Everything CI checks, in one command: lint, format, types, then the whole test suite.
# Extra arguments go to pytest (e.g. `tools/check.sh -k client -x`).
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
echo "== ruff check" && ruff check src tests tools examples || status=1
echo "== ruff format --check" && ruff format --check src tests tools examples || status=1
echo "== mypy (strict: src, tests, examples, tools)" && bash tools/mypy_all.sh || status=1
echo "== pytest"
pytest "$@"
rc=$?
# pytest exits 5 when it collected no tests: that is a failure for us, never a silent pass.
[ $rc -eq 5 ] && echo "pytest collected no tests" >&2
[ $rc -ne 0 ] && status=1
exit $status

#!/usr/bin/env bash
# mypy --strict over src, tests, examples and tools. Test folders are not packages, so every
# folder with a conftest.py of its own (and its *_support helper modules) is checked as a group of
# its own, with itself on the path; the rest of tests/ and the other trees are checked together.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
mypy || status=1
# The runner program, module by module as the package it is inside a sandbox (pyproject's
# mypy_path finds it; `-p` would skip the modules its exclude pattern matches).
runner_modules=()
for file in src/sandloop/sandboxes/runner/sandloop_runner/*.py; do
    name=$(basename "$file" .py)
    [ "$name" = __init__ ] && runner_modules+=(-m sandloop_runner) || runner_modules+=(-m "sandloop_runner.$name")
done
mypy "${runner_modules[@]}" || status=1
groups=()
while IFS= read -r conftest; do
    groups+=("$(dirname "$conftest")")
done < <(find tests -mindepth 2 -name conftest.py | sort)
excludes=()
for dir in "${groups[@]}"; do
    MYPYPATH="$dir" mypy "$dir" || status=1
    excludes+=(--exclude "^${dir}/")
done
MYPYPATH=tests/fuzz mypy "${excludes[@]}" tests examples tools || status=1
exit $status

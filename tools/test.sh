#!/usr/bin/env bash
# The README's second command: set up what the tests need and is missing (tools/setup.sh dev:
# the dev extra, a Docker engine, the images), then run everything CI checks (tools/check.sh).
# Arguments go to pytest (e.g. `tools/test.sh tests/unit -x`).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
setup dev
exec bash "$setup_root/tools/check.sh" "$@"

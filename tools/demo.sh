#!/usr/bin/env bash
# The README's first command: set up what is missing (tools/setup.sh demo), then run the demo.
# Arguments go to `sandloop demo` (e.g. `tools/demo.sh --json`).
set -euo pipefail
. "$(dirname "$0")/setup.sh"
setup demo
exec sandloop demo "$@"

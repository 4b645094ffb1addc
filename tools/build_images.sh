#!/usr/bin/env bash
# Build, or reuse, every sandbox image (sandloop/base first). CI runs this after starting dockerd
# and before the tests. Idempotent and quick on reruns: an image whose inputs (build context,
# base, version) did not change is reused, and the Debian root filesystem made by debootstrap
# (when no registry is reachable) is cached under /var/cache/sandloop.
# Arguments go to `sandloop images build` (e.g. `tools/build_images.sh base --rebuild`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m sandloop.cli images build "$@"

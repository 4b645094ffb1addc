#!/usr/bin/env bash
# Make sure a headless browser is here for the `sandloop view` tests: Debian's chromium. When it
# is missing and we are root (CI, a fresh dev machine), install it with apt-get; a second run
# installs nothing. Prints what it does; exits non-zero with a clear message when it cannot.
# SANDLOOP_BROWSER names another Chromium-family binary to use instead (nothing is installed).
set -euo pipefail

if [ -n "${SANDLOOP_BROWSER:-}" ]; then
    if command -v "$SANDLOOP_BROWSER" >/dev/null 2>&1; then
        echo "ensure_browser: using SANDLOOP_BROWSER=$SANDLOOP_BROWSER"
        exit 0
    fi
    echo "ensure_browser: SANDLOOP_BROWSER=$SANDLOOP_BROWSER is not an executable" >&2
    exit 1
fi

if command -v chromium >/dev/null 2>&1; then
    echo "ensure_browser: $(chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    echo "ensure_browser: chromium is missing and we are not root; install Debian's chromium" \
        "(apt-get install chromium) or set SANDLOOP_BROWSER" >&2
    exit 1
fi

echo "ensure_browser: installing chromium from Debian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "ensure_browser: $(chromium --version 2>/dev/null || echo chromium) installed"

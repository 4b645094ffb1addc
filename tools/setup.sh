#!/usr/bin/env bash
# Set up what sandloop needs on this machine, doing only what is missing: a second run installs
# nothing. Sourced by tools/demo.sh and tools/test.sh (the README's two commands); run alone,
# `tools/setup.sh demo|dev` only sets up.
#
#   demo  a virtual environment with sandloop; a Docker engine when one can be had (the demo
#         runs in a local subprocess otherwise)
#   dev   the same with the dev extra, a Docker engine (required), the sandbox images, and
#         Debian's chromium for the `sandloop view` tests (tools/ensure_browser.sh; when it cannot
#         be installed those tests skip, saying why)
#
# The virtual environment is the active one ($VIRTUAL_ENV), else ./.venv, made when missing.
# sandloop is (re)installed, editable, when it does not import from this checkout or when
# pyproject.toml changed since the last install (a stamp in the environment remembers it).
# SANDLOOP_SETUP_PIP replaces `python -m pip` (the tests use it to see what would be installed).
set -euo pipefail

setup_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

setup_say() { echo "setup: $*"; }

# Activate the environment to use: the active one, else ./.venv (created when missing).
setup_venv() {
    if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        setup_say "using the active virtual environment $VIRTUAL_ENV"
        return
    fi
    if [ ! -x "$setup_root/.venv/bin/python" ]; then
        setup_say "creating $setup_root/.venv"
        python3 -m venv "$setup_root/.venv"
    fi
    # shellcheck disable=SC1091
    . "$setup_root/.venv/bin/activate"
}

# Install sandloop (with the dev extra for "dev") unless it is installed from here and current.
setup_install() {
    local extra="$1" spec stamp want
    spec="$setup_root"
    [ "$extra" = "dev" ] && spec="$setup_root[dev]"
    stamp="$VIRTUAL_ENV/.sandloop-setup-$extra"
    want="$setup_root $(sha256sum "$setup_root/pyproject.toml" | cut -d' ' -f1)"
    if setup_stamped "$stamp" "$want" || { [ "$extra" = "demo" ] \
        && setup_stamped "$VIRTUAL_ENV/.sandloop-setup-dev" "$want"; }; then
        setup_say "sandloop ($extra) is installed and up to date"
        return
    fi
    setup_say "installing sandloop ($extra) into $VIRTUAL_ENV"
    # shellcheck disable=SC2086
    ${SANDLOOP_SETUP_PIP:-python -m pip} install -q -e "$spec"
    echo "$want" >"$stamp"
}

# Whether stamp $1 records install $2, and sandloop still imports from here (the dev install
# holds everything the demo needs).
setup_stamped() {
    [ -f "$1" ] && [ "$(cat "$1")" = "$2" ] && setup_imports_here
}

# Whether `import sandloop` in this environment finds this checkout's code.
setup_imports_here() {
    python - "$setup_root/src" <<'PY' 2>/dev/null
import os, sys
import sandloop
sys.exit(0 if os.path.realpath(sandloop.__file__).startswith(os.path.realpath(sys.argv[1])) else 1)
PY
}

# A Docker engine ("required": fail without one) and, for dev, the sandbox images.
setup_docker() {
    local need="$1"
    if [ -n "${SANDLOOP_SETUP_SKIP_DOCKER:-}" ]; then
        setup_say "not checking Docker (SANDLOOP_SETUP_SKIP_DOCKER is set)"
        return
    fi
    if ! bash "$setup_root/tools/ensure_docker.sh"; then
        [ "$need" = "required" ] && return 1
        setup_say "no Docker engine: the demo runs its commands in a local subprocess"
        return
    fi
    if [ "$need" = "required" ]; then
        PYTHON=python bash "$setup_root/tools/build_images.sh"
        bash "$setup_root/tools/ensure_sshd.sh"  # the SSH-engine tests' own sshd
    fi
}

# A headless browser for the view tests; optional here (the tests skip without one).
setup_browser() {
    if [ -n "${SANDLOOP_SETUP_SKIP_BROWSER:-}" ]; then
        setup_say "not checking the browser (SANDLOOP_SETUP_SKIP_BROWSER is set)"
        return
    fi
    bash "$setup_root/tools/ensure_browser.sh" || setup_say "no chromium: the view tests will skip"
}

setup() {
    local what="$1"
    case "$what" in
        demo) setup_venv && setup_install demo && setup_docker optional ;;
        dev) setup_venv && setup_install dev && setup_docker required && setup_browser ;;
        *) echo "usage: tools/setup.sh demo|dev" >&2; return 2 ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    setup "${1:-}"
fi

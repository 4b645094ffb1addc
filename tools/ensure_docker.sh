#!/usr/bin/env bash
# Make sure a Docker engine answers. When none runs and we are root (CI, a fresh dev machine),
# install Debian's docker.io and debootstrap, start dockerd in the background and wait for it.
# Prints what it does; exits non-zero with a clear message when it cannot.
set -euo pipefail

if docker info >/dev/null 2>&1; then
    echo "ensure_docker: engine already running"
    if ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; then
        # Never restart an engine this script did not start: other work may be using it.
        echo "ensure_docker: note: this engine has no runsc runtime; gVisor tests will skip"
    fi
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    echo "ensure_docker: no Docker engine answers and we are not root; start Docker yourself" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 \
    || ! command -v runsc >/dev/null 2>&1; then
    echo "ensure_docker: installing docker.io, debootstrap and runsc (gVisor) from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io debootstrap >/dev/null
    # gVisor is optional: an engine without it still serves every runc sandbox.
    apt-get install -y -qq runsc >/dev/null || echo "ensure_docker: runsc not installable; gVisor tests will skip"
fi

# Register gVisor as the runtime "runsc" before dockerd starts (dockerd reads daemon.json once).
# Debian's runsc runs here only without a network of its own, hence --network=none; sandloop
# only asks for runsc for sandboxes without a network.
if command -v runsc >/dev/null 2>&1; then
    mkdir -p /etc/docker
    python3 - "$(command -v runsc)" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
config = {}
if os.path.exists(path):
    with open(path) as f:
        config = json.load(f)
config.setdefault("runtimes", {})["runsc"] = {"path": sys.argv[1], "runtimeArgs": ["--network=none"]}
with open(path, "w") as f:
    json.dump(config, f, indent=2)
PY
fi

log=/var/log/sandloop-dockerd.log
echo "ensure_docker: starting dockerd (log: $log)"
# setsid so the daemon outlives this script and the CI step that ran it.
setsid nohup dockerd >"$log" 2>&1 </dev/null &

for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "ensure_docker: engine up ($(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}'))"
        exit 0
    fi
    sleep 1
done
echo "ensure_docker: dockerd did not answer within 60 s; last log lines:" >&2
tail -n 20 "$log" >&2
exit 1

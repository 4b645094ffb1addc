#!/usr/bin/env bash
# Make sure a Docker engine answers. When none runs and we are root (CI, a fresh dev machine),
# install Debian's docker.io and debootstrap, start dockerd in the background and wait for it.
# Prints what it does; exits non-zero with a clear message when it cannot.
set -euo pipefail

if docker info >/dev/null 2>&1; then
    echo "ensure_docker: engine already running"
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    echo "ensure_docker: no Docker engine answers and we are not root; start Docker yourself" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    echo "ensure_docker: installing docker.io and debootstrap from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io debootstrap >/dev/null
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

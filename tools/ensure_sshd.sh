#!/usr/bin/env bash
# Make sure OpenSSH's server and client are installed: the tests reach the local Docker engine
# "over SSH" through an sshd of their own on 127.0.0.1 (sandloop.testing.ssh_engine). Installs
# Debian's openssh-server when missing and we are root; never starts or configures a system sshd
# (the package's own service is not started: there is no init system here).
set -euo pipefail

if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; then
    echo "ensure_sshd: OpenSSH present"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_sshd: OpenSSH's server is missing and we are not root; the SSH engine tests will skip" >&2
    exit 0
fi
echo "ensure_sshd: installing openssh-server and openssh-client from Debian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq openssh-server openssh-client >/dev/null
echo "ensure_sshd: installed"

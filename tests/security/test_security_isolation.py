"""The hardened DockerSandbox holds: no network, no privilege, no engine socket, no host secrets.

Each claim of SECURITY.md is checked from inside the container, as the model's commands would
try it, in both user modes of the default sandbox (the image's non-root user, and the host
user's uid with a bind-mounted workspace — uid 0 when the tests run as root). Where a check
needs a counterpart to show it can fail, the same probe runs with the protection loosened.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from security_support import TEST_LABEL

from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker._socket_channel import CONTAINER_DIR

pytestmark = pytest.mark.docker

NETWORK_PROBE = r"""
import json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
attempt("tcp_host", lambda: socket.create_connection((host, port), timeout=3).close())
attempt("tcp_loopback_host_port", lambda: socket.create_connection(("127.0.0.1", port), timeout=3))
attempt("tcp_internet", lambda: socket.create_connection(("1.1.1.1", 443), timeout=3))
udp = lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
attempt("udp", lambda: udp().sendto(b"x", ("8.8.8.8", 53)))
attempt("udp_host", lambda: udp().sendto(b"x", (host, port)))
attempt("dns", lambda: socket.getaddrinfo("example.com", 443))
attempt("raw_icmp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("raw_packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
# /proc/net/dev, not /sys/class/net: gVisor has no /sys/class/net.
rows = open("/proc/net/dev").readlines()[2:]
out["interfaces"] = sorted(row.split(":")[0].strip() for row in rows)
print(json.dumps(out))
"""


@pytest.fixture
def host_listener() -> Iterator[tuple[str, int, list[bytes]]]:
    """A TCP server on the host's Docker bridge address: what a leaking sandbox would reach."""
    gateway = _bridge_gateway()
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            seen.append(b"connected")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield gateway, port, seen
    stop.set()
    thread.join(timeout=5)
    server.close()


def _bridge_gateway() -> str:
    # docker0's address as the host sees it: where a bridged container finds the host.
    try:
        import struct
        from fcntl import ioctl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packed = ioctl(s.fileno(), 0x8915, struct.pack("256s", b"docker0"))  # SIOCGIFADDR
        return socket.inet_ntoa(packed[20:24])
    except OSError:
        return "172.17.0.1"


async def _network_probe(sandbox: DockerSandbox, host: str, port: int) -> dict[str, Any]:
    result = await sandbox.exec(["python3", "-c", NETWORK_PROBE, host, str(port)], timeout=60)
    assert result.exit_code == 0, result.stderr_text()
    found: dict[str, Any] = json.loads(result.stdout_text())
    return found


async def test_no_network_of_any_kind(
    sandbox: DockerSandbox, host_listener: tuple[str, int, list[bytes]]
) -> None:
    host, port, seen = host_listener
    found = await _network_probe(sandbox, host, port)
    assert found.pop("interfaces") == ["lo"]
    for name in ("tcp_host", "tcp_internet", "udp", "udp_host"):
        assert _unreachable(found[name]), (name, found)
    assert "ConnectionRefused" in found["tcp_loopback_host_port"]  # its own loopback only
    assert found["dns"].startswith("gaierror")
    assert "Operation not permitted" in found["raw_icmp"]
    assert "Operation not permitted" in found["raw_packet"]
    assert seen == []


async def test_the_network_probe_reaches_the_host_when_network_is_given(
    image: str, host_listener: tuple[str, int, list[bytes]]
) -> None:
    # The counterpart: the same probe does get through once the default is loosened.
    host, port, seen = host_listener
    async with DockerSandbox(image, network=True, labels=TEST_LABEL) as sb:
        found = await _network_probe(sb, host, port)
    if found["tcp_host"] != "ok":
        pytest.skip(f"this host filters bridge traffic to itself: {found['tcp_host']}")
    assert found["interfaces"] != ["lo"]
    assert seen == [b"connected"]


PRIVILEGE_PROBE = r"""
set +e
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo "id=$(id -u)"
echo "nnp=$(python3 -c 'import ctypes; print(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))')"
su -c id root </dev/null >/dev/null 2>&1; echo "su=$?"
if command -v sudo >/dev/null; then sudo -n id -u >/dev/null 2>&1; echo "sudo=$?"
else echo "sudo=absent"; fi
mount -t tmpfs none /mnt >/dev/null 2>&1; echo "mount=$?"
unshare -Ur true >/dev/null 2>&1; echo "userns=$?"
chroot / true >/dev/null 2>&1; echo "chroot=$?"
mknod /tmp/null-copy c 1 3 >/dev/null 2>&1; echo "mknod=$?"
chown 4321 /tmp >/dev/null 2>&1; echo "chown=$?"
python3 -c 'import os; os.setuid(4321)' >/dev/null 2>&1; echo "setuid=$?"
echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; echo "procsys=$?"
echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null; echo "procsys_net=$?"
echo 1 > /sys/kernel/uevent_helper 2>/dev/null; echo "sys=$?"
echo b > /proc/sysrq-trigger 2>/dev/null; echo "sysrq=$?"
"""


async def test_no_privilege_can_be_gained(sandbox: DockerSandbox) -> None:
    result = await sandbox.exec(PRIVILEGE_PROBE, timeout=60)
    lines = result.stdout_text().splitlines()
    facts = dict(line.replace(":\t", "=").split("=", 1) for line in lines)
    gvisor = sandbox.runtime == "runsc"  # its /proc shows no CapAmb and no NoNewPrivs line
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd") + (() if gvisor else ("CapAmb",)):
        assert int(facts[cap], 16) == 0, (cap, facts)
    assert facts["nnp"] == "1"
    # setuid binaries (su, sudo, mount) do not lift us, and nothing privileged works.
    # gVisor's kernel lets a process make a user namespace, and a device node in its own
    # in-memory /tmp (SECURITY.md): both live in gVisor; the host kernel's namespace code and
    # the host's devices are never reached.
    refused: tuple[str, ...] = ("su", "mount", "chroot", "chown", "setuid")
    refused += () if gvisor else ("userns", "mknod")
    for check in refused:
        assert facts[check] != "0", (check, facts)
    assert facts["sudo"] != "0"
    for check in ("procsys", "procsys_net", "sys", "sysrq"):
        assert facts[check] != "0", (check, facts)


async def test_seccomp_filters_when_the_engine_offers_it(
    sandbox: DockerSandbox, docker_client: Any
) -> None:
    options = " ".join(docker_client.info().get("SecurityOptions") or [])
    status = (await sandbox.exec("grep ^Seccomp: /proc/self/status")).stdout_text()
    if sandbox.runtime == "runsc":
        # Documented in SECURITY.md: gVisor does not load Docker's profile for the sandbox's
        # processes; their system calls reach gVisor's kernel, itself seccomp-filtered on the host.
        kernel = await sandbox.exec("dmesg")
        assert "Starting gVisor" in kernel.stdout_text()
        assert "Seccomp:\t0" in status
        return
    if "seccomp" not in options:
        # Documented in SECURITY.md: without seccomp the kernel's whole syscall surface is
        # reachable; the other layers (no capabilities, no-new-privileges, non-root) still hold.
        assert "Seccomp:\t0" in status
        return
    assert "Seccomp:\t2" in status  # filter mode: Docker's default profile is in force


DOCKER_PROBE = r"""
set +e
ls -la /var/run/docker.sock /run/docker.sock 2>/dev/null; echo "sock=$?"
find / -xdev \( -type s -o -name 'docker.sock' -o -name 'containerd.sock' \) 2>/dev/null \
  | grep -v '^/proc'; echo "found_end"
grep -c docker.sock /proc/net/unix; echo "unix_end"
env | grep -i -E '^(DOCKER_|CONTAINERD)' ; echo "env_end"
"""


async def test_the_docker_engine_is_out_of_reach(sandbox: DockerSandbox) -> None:
    result = await sandbox.exec(DOCKER_PROBE, timeout=120)
    text = result.stdout_text()
    assert "sock=2" in text  # no such file
    found = text.split("found_end")[0].split("sock=2", 1)[1].split()
    assert found == [], found
    assert text.split("found_end")[1].split()[0] == "0"  # no docker.sock among unix sockets
    assert text.split("unix_end")[1].split() == ["env_end"]
    # And no TCP endpoint: the engine's ports are unreachable without a network.
    reach = await sandbox.exec(
        ["python3", "-c", "import socket; socket.create_connection(('172.17.0.1', 2375), 3)"]
    )
    assert _unreachable(reach.stderr_text())


async def test_no_host_environment_variable_enters(image: str, host_dir: Path) -> None:
    secrets = {"OPENAI_API_KEY": "sk-host-secret-123", "SANDLOOP_HOST_SECRET": "hunter2-host"}
    old = {k: os.environ.get(k) for k in secrets}
    os.environ.update(secrets)
    try:
        for workspace in (None, host_dir / "ws"):
            async with DockerSandbox(image, workspace=workspace, labels=TEST_LABEL) as sb:
                seen = await sb.exec(
                    "env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'; "
                    "grep -rs -e sk-host-secret -e hunter2-host /etc /home /tmp /.sandloop "
                    "/workspace; true"
                )
                text = seen.stdout_text() + seen.stderr_text()
                for key, value in secrets.items():
                    assert key not in text
                    assert value not in text
                # What the model may see is what the caller passed on purpose.
                given = await sb.exec("echo $GIVEN", env={"GIVEN": "passed-on-purpose"})
                assert given.stdout_text() == "passed-on-purpose\n"
    finally:
        for key, previous in old.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous


async def test_only_the_workspace_of_the_host_is_mounted(sandbox: DockerSandbox) -> None:
    mounts = (await sandbox.exec("cat /proc/self/mountinfo")).stdout_text().splitlines()
    host_binds = sorted(
        fields[4]
        for fields in (line.split() for line in mounts)
        # The host's own file systems (not overlay/proc/tmpfs/...) show up as device mounts.
        if fields[fields.index("-") + 1] not in _VIRTUAL
    )
    expected = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/sbin/docker-init"}
    expected |= {"/usr/sbin/docker-init"}
    # The fast channel's directory (a local engine): read-only, and empty once the runner is on
    # its socket (tests/integration/test_sandbox_channel.py looks inside).
    expected.add(CONTAINER_DIR)
    for fields in (line.split() for line in mounts):
        if fields[4] == CONTAINER_DIR:
            assert "ro" in fields[5].split(","), fields
    if sandbox.workspace is not None:
        expected.add("/workspace")
    if sandbox.runtime == "runsc":
        expected.add("/")  # the image's root, served to gVisor's kernel by its gofer (9p)
    assert set(host_binds) <= expected, host_binds
    assert ("/workspace" in host_binds) == (sandbox.workspace is not None)


def _unreachable(text: str) -> bool:
    """What a connection without a network meets: ENETUNREACH (runc), EHOSTUNREACH (gVisor)."""
    return "Network is unreachable" in text or "No route to host" in text


_VIRTUAL = {
    "overlay", "proc", "tmpfs", "devpts", "sysfs", "cgroup", "cgroup2", "mqueue", "shm",
}  # fmt: skip


async def test_no_container_is_left_behind(image: str, docker_client: Any) -> None:
    async with DockerSandbox(image, labels=TEST_LABEL) as sb:
        cid = sb.container_id
        assert docker_client.containers.get(cid).status == "running"
    left = docker_client.containers.list(all=True, filters={"id": cid})
    assert left == []

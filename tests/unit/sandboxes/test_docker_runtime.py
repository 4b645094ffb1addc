"""DockerSandbox's runtime and engine options, decided without an engine: what gVisor refuses
and changes, and which engine addresses are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandloop.errors import ConfigError
from sandloop.sandboxes import sandbox_from_dict
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker._runtime import runtime_options


def test_gvisor_with_a_network_is_refused_when_built() -> None:
    with pytest.raises(ConfigError, match=r"runsc.*network=True"):
        DockerSandbox(runtime="runsc", network=True)
    assert DockerSandbox(runtime="runc", network=True).network  # runc keeps its network


def test_gvisor_limits_processes_by_its_own_kernels_rlimit() -> None:
    gvisor = runtime_options("runsc", pids=64)
    assert gvisor["runtime"] == "runsc"
    assert "pids_limit" not in gvisor  # the cgroup limit makes Debian's runsc fail to start
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in gvisor["ulimits"]] == [("nproc", 64, 64)]
    assert runtime_options(None, pids=64) == {"runtime": None, "pids_limit": 64}


def test_engine_addresses_are_checked_when_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not unix://, tcp://"):
        DockerSandbox(docker_host="host:2376")
    with pytest.raises(ConfigError, match="no path, query or password"):
        DockerSandbox(docker_host="ssh://me@host/var/run/docker.sock")
    over_ssh = DockerSandbox(docker_host="ssh://me@host:2222", mount="copy", workspace=tmp_path)
    assert sandbox_from_dict(over_ssh.to_dict()).to_dict() == over_ssh.to_dict()
    with pytest.raises(ConfigError, match="tls= needs a docker_host of tcp://"):
        DockerSandbox(tls=True)
    described = DockerSandbox(docker_host="tcp://h:2376", tls=str(tmp_path)).to_dict()
    assert (described["docker_host"], described["tls"]) == ("tcp://h:2376", str(tmp_path))
    assert sandbox_from_dict(described).to_dict() == described


async def test_missing_certificate_files_are_named(tmp_path: Path) -> None:
    sandbox = DockerSandbox(docker_host="tcp://127.0.0.1:9", tls=str(tmp_path))
    with pytest.raises(ConfigError, match=r"missing: .*ca\.pem"):
        await sandbox.start()

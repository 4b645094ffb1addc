"""DockerSandbox's runtime option, decided without an engine: what gVisor refuses and changes."""

from __future__ import annotations

import pytest

from sandloop.errors import ConfigError
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

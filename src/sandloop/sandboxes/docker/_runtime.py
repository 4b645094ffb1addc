"""OCI runtimes: which one a sandbox's container runs under, and what that changes.

Part of ``sandboxes.docker``: ``DockerSandbox(runtime=...)`` checks here that the engine has the
runtime it names and gets the container options that differ under it. ``sandloop doctor`` asks
which runtimes an engine has. Only gVisor (``runsc``) needs anything of its own:

- Its network: Debian's ``runsc`` runs only when registered with ``--network=none`` (what
  ``tools/ensure_docker.sh`` does); such a gVisor gives a container a loopback interface and
  nothing else whatever network Docker attaches, so ``network=True`` under it is refused rather
  than silently ignored.
- Its process limit: the engine's cgroup ``pids`` limit makes Debian's ``runsc`` fail to start
  the sandbox, so the limit is the ``nproc`` rlimit instead, which gVisor's kernel counts for
  its own processes only (every user, root included: none has a capability to lift it).
"""

from __future__ import annotations

from typing import Any

import docker
import docker.types

from sandloop.errors import ConfigError, SandboxUnavailableError
from sandloop.sandboxes.docker._engine import engine_errors

__all__ = ("GVISOR", "check_options", "check_runtime", "engine_runtimes", "runtime_options")

#: The name gVisor's runtime is registered under (its binary's name).
GVISOR = "runsc"


def engine_runtimes(client: docker.DockerClient) -> list[str]:
    """The OCI runtimes the engine has, by name (sorted)."""
    with engine_errors("listing the engine's runtimes"):
        return sorted((client.info().get("Runtimes") or {}).keys())


def check_runtime(client: docker.DockerClient, runtime: str) -> None:
    """Refuse a runtime the engine does not have, naming those it has.

    Raises:
        SandboxUnavailableError: the engine has no runtime of that name.
    """
    known = engine_runtimes(client)
    if runtime not in known:
        hint = (
            " (gVisor: install runsc and register it in daemon.json)" if runtime == GVISOR else ""
        )
        raise SandboxUnavailableError(
            f"the Docker engine has no runtime {runtime!r}{hint}; it has: {', '.join(known)}"
        )


def check_options(runtime: str | None, *, network: bool) -> None:
    """Refuse options the runtime cannot honour (checked when the sandbox is built).

    Raises:
        ConfigError: ``network=True`` under gVisor.
    """
    if runtime == GVISOR and network:
        raise ConfigError(
            "runtime='runsc' (gVisor) runs without a network here: its runtime is registered "
            "with --network=none, so network=True would be silently ignored; use runc for a "
            "sandbox that needs the network"
        )


def runtime_options(runtime: str | None, *, pids: int) -> dict[str, Any]:
    """The ``containers.create`` options that depend on the runtime: its name and the limit."""
    if runtime == GVISOR:
        nproc = docker.types.Ulimit(name="nproc", soft=pids, hard=pids)
        return {"runtime": runtime, "ulimits": [nproc]}
    return {"runtime": runtime, "pids_limit": pids}

"""sandloop.sandboxes: where tool calls run.

``Sandbox`` is the contract executors code against. ``DockerSandbox`` is a hardened container
with the runner inside; ``LocalSandbox`` runs the same runner as a local subprocess (not
isolated); ``KubernetesSandbox`` is one hardened pod (the ``k8s`` extra). All are a
``RunnerSandbox`` (the runner protocol, written once) over a ``Provisioner`` (where it runs: see
``provisioner`` to write another backend), and report their ``Capabilities``. ``SandboxPool``
keeps started sandboxes ready. ``DockerSandbox`` and ``KubernetesSandbox`` are imported on first
use, so ``import sandloop`` stays light.
"""

from typing import TYPE_CHECKING, Any

from sandloop.sandboxes._process import SandboxProcess
from sandloop.sandboxes._runner_backed import RunnerSandbox
from sandloop.sandboxes.base import (
    DEFAULT_MAX_OUTPUT,
    DesktopChannel,
    ExecResult,
    FileEntry,
    OnOutput,
    Sandbox,
    WorkspaceChanges,
)
from sandloop.sandboxes.description import sandbox_from_dict
from sandloop.sandboxes.local import LocalSandbox
from sandloop.sandboxes.pool import SandboxPool
from sandloop.sandboxes.provisioner import Boot, Capabilities, Provisioner

if TYPE_CHECKING:
    from sandloop.sandboxes.docker import DockerSandbox
    from sandloop.sandboxes.kubernetes import KubernetesSandbox

__all__ = (
    "DEFAULT_MAX_OUTPUT",
    "Boot",
    "Capabilities",
    "DesktopChannel",
    "DockerSandbox",
    "ExecResult",
    "FileEntry",
    "KubernetesSandbox",
    "LocalSandbox",
    "OnOutput",
    "Provisioner",
    "RunnerSandbox",
    "Sandbox",
    "SandboxPool",
    "SandboxProcess",
    "WorkspaceChanges",
    "sandbox_from_dict",
)


def __getattr__(name: str) -> Any:
    if name == "DockerSandbox":
        from sandloop.sandboxes.docker import DockerSandbox

        return DockerSandbox
    if name == "KubernetesSandbox":  # the `k8s` extra
        from sandloop.sandboxes.kubernetes import KubernetesSandbox

        return KubernetesSandbox
    raise AttributeError(f"module 'sandloop.sandboxes' has no attribute {name!r}")

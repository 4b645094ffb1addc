"""Every tool in a KubernetesSandbox against the Kubernetes API **double** (each pod a real local
Docker container, not a cluster): DockerSandbox's shell, local_shell and apply_patch tests
imported and run with this module's ``sandbox`` fixture (those that look at a bind-mounted host
directory are not: a pod's workspace is a copy), apply_patch in the copy, the computer tool on
the computer image's display, and a whole run from a RunSpec description.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import docker.errors
import pytest
from test_apply_patch_docker import (
    _hosted,
    test_envelope_all_or_nothing_in_the_container,
    test_paths_outside_the_workspace_write_nowhere,
)
from test_local_shell_docker import (
    test_large_output_is_capped,
    test_missing_working_directory_and_user,
    test_non_zero_exit_and_stderr,
    test_the_hosts_environment_does_not_leak,
    test_timeout_kills_and_reports,
    test_unicode_and_binary,
)
from test_shell_docker import (
    test_a_timeout_among_several_commands,
    test_a_timeout_kills_background_children_too,
    test_non_zero_exits_and_stderr,
    test_output_over_max_output_length,
)
from test_shell_docker import test_unicode_and_binary_output as test_shell_unicode_output

from sandloop import Agent, ApplyPatchTool, ClientSettings, RetryPolicy, RunSpec, ShellTool
from sandloop.executors.computer import DesktopComputer
from sandloop.sandboxes.images import image_tag
from sandloop.sandboxes.kubernetes import KubernetesSandbox
from sandloop.testing import ScriptedResponsesServer, apply_patch_call, message, shell_call

# Every test in the module runs with the double, which checks at the end that no pod, policy
# or container of it is left.
pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("k8s_double")]

__all__ = (  # imported to run here against a pod
    "test_a_timeout_among_several_commands",
    "test_a_timeout_kills_background_children_too",
    "test_envelope_all_or_nothing_in_the_container",
    "test_large_output_is_capped",
    "test_missing_working_directory_and_user",
    "test_non_zero_exit_and_stderr",
    "test_non_zero_exits_and_stderr",
    "test_output_over_max_output_length",
    "test_paths_outside_the_workspace_write_nowhere",
    "test_shell_unicode_output",
    "test_the_hosts_environment_does_not_leak",
    "test_timeout_kills_and_reports",
    "test_unicode_and_binary",
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
async def sandbox(
    base_image: str, workspace: Path, k8s_kubeconfig: str
) -> AsyncIterator[KubernetesSandbox]:
    async with KubernetesSandbox(base_image, workspace=workspace, kubeconfig=k8s_kubeconfig) as sb:
        yield sb


async def test_apply_patch_edits_the_pods_copy(
    base_image: str, workspace: Path, k8s_kubeconfig: str
) -> None:
    (workspace / "a.txt").write_text("one\ntwo\n")
    async with KubernetesSandbox(base_image, workspace=workspace, kubeconfig=k8s_kubeconfig) as sb:
        out = await _hosted(
            cast(Any, sb), {"type": "update_file", "path": "a.txt", "diff": " one\n-two\n+2\n"}
        )
        assert out.status == "completed"
        failed = await _hosted(
            cast(Any, sb), {"type": "update_file", "path": "a.txt", "diff": "-nope\n+x\n"}
        )
        assert failed.status == "failed"
        assert await sb.read_file("a.txt") == b"one\n2\n"
        assert "+2" in await sb.diff()
    assert (workspace / "a.txt").read_text() == "one\ntwo\n"


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


async def test_the_computer_tool_on_the_computer_images_display(
    docker_client: Any, k8s_kubeconfig: str
) -> None:
    image = os.environ.get("SANDLOOP_COMPUTER_IMAGE", image_tag("computer"))
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        if os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(f"image {image} is missing", pytrace=False)
        pytest.skip(f"image {image} is missing: build it with `sandloop images build computer`")
    async with KubernetesSandbox(image, kubeconfig=k8s_kubeconfig, memory="1Gi") as sb:
        assert sb.desktop() is not None  # the runner serves the display over the attach channel
        computer = DesktopComputer(sb)
        await computer.start()
        await computer.type("x")
        shot = await computer.screenshot()
    assert _png_size(shot) == computer.display_size


async def test_a_run_from_a_spec_description(
    base_image: str, tmp_path: Path, k8s_kubeconfig: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "price.py").write_text("def total(a, b):\n    return a - b\n")
    fix = "@@\n def total(a, b):\n-    return a - b\n+    return a + b\n"
    script = [
        [apply_patch_call("update_file", "price.py", fix, call_id="p1")],
        [shell_call(["python3 -c 'import price; print(price.total(2, 3))'"], call_id="s1")],
        [message("fixed", phase="final_answer")],
    ]
    with ScriptedResponsesServer(script) as server:
        spec = RunSpec(
            Agent(model="gpt-5.1", tools=[ShellTool(), ApplyPatchTool()]),
            "fix total()",
            sandbox=KubernetesSandbox(base_image, workspace=str(repo), kubeconfig=k8s_kubeconfig),
            client=ClientSettings(base_url=server.base_url, retry=RetryPolicy(max_retries=0)),
        )
        again = RunSpec.from_dict(spec.to_dict())
        assert isinstance(again.sandbox, KubernetesSandbox)
        result = await again.run()
        shelled = server.requests[-1].body["input"][-1]
    assert result.status == "completed"
    assert shelled["output"][0]["stdout"] == "5\n"
    assert result.changes is not None
    assert result.changes.paths == ("price.py",)
    assert (repo / "price.py").read_text() == "def total(a, b):\n    return a - b\n"

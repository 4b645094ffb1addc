"""Image builds against a real engine: reused when current, the right tools and user inside."""

from __future__ import annotations

from typing import Any

import pytest

from sandloop.cli import main as cli_main
from sandloop.errors import SandboxUnavailableError
from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.images import build_images, image_tag, package_version

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    return build_images(["base"], log=lambda line: None)[0]


def test_a_current_image_is_reused(base_image: str, docker_client: Any) -> None:
    before = docker_client.images.get(base_image).id
    lines: list[str] = []
    assert build_images(["base"], log=lines.append) == [base_image]
    assert f"{base_image}: up to date" in lines
    assert docker_client.images.get(base_image).id == before
    assert docker_client.images.get("sandloop/base:latest").id == before
    assert base_image == image_tag("base") == f"sandloop/base:{package_version()}"


async def test_the_base_image_has_the_coding_tools(base_image: str) -> None:
    tools = "python3 git bash find grep sed diff patch rg gcc make curl"
    async with DockerSandbox(base_image) as sb:
        found = await sb.exec(
            f"for t in {tools}; do command -v $t >/dev/null || echo missing $t; done"
        )
        who = await sb.exec("id -un; pwd; cat /etc/os-release | grep VERSION_CODENAME")
    assert found.stdout == b""
    assert who.stdout.decode().split() == ["sandbox", "/workspace", "VERSION_CODENAME=bookworm"]


def test_images_ls_lists_the_built_image(
    base_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["images", "ls"]) == 0
    assert base_image in capsys.readouterr().out


def test_an_explicit_base_that_is_missing_says_what_to_do(docker_client: Any) -> None:
    with pytest.raises(SandboxUnavailableError, match="docker load"):
        build_images(["base"], base="sandloop/no-such-base:0", log=lambda line: None)


def test_an_unknown_image_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["images", "build", "no-such-image"]) == 2
    assert "unknown image 'no-such-image'" in capsys.readouterr().err

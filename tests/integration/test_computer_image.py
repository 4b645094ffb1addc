"""The sandloop/computer image on its own: its tools, its user and its entrypoint."""

from __future__ import annotations

import os
from typing import Any

import docker.errors
import pytest

from sandloop.sandboxes.images import image_tag

pytestmark = pytest.mark.docker

IMAGE = os.environ.get("SANDLOOP_COMPUTER_IMAGE", image_tag("computer"))


@pytest.fixture(scope="module")
def image(docker_client: Any) -> Any:
    try:
        return docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        reason = f"image {IMAGE} is missing: build it with `sandloop images build computer`"
        if os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def _run(docker_client: Any, command: list[str], **options: Any) -> str:
    out = docker_client.containers.run(
        IMAGE, command, remove=True, network_disabled=True, stderr=True, **options
    )
    return str(out.decode("utf-8"))


def test_the_image_has_the_desktop_tools_and_a_plain_user(image: Any, docker_client: Any) -> None:
    assert image.labels.get("org.sandloop.image") == "computer"
    script = (
        "for tool in Xvfb openbox xdotool chromium browser python3; do "
        "command -v $tool >/dev/null || echo missing $tool; done; "
        "python3 -c 'import tkinter, ctypes.util; print(ctypes.util.find_library(\"X11\"))'; "
        "fc-list | grep -c DejaVu; id -un"
    )
    out = _run(docker_client, ["bash", "-c", script]).split()
    assert "missing" not in out
    assert out[0].startswith("libX11.so")
    assert int(out[1]) > 0  # fonts to draw text with
    assert out[2] == "sandbox"


def test_the_entrypoint_starts_the_display_at_the_size_asked(
    docker_client: Any, image: Any
) -> None:
    default = _run(docker_client, ["xdotool", "getdisplaygeometry"])
    assert default.split() == ["1280", "800"]
    env = {"SANDLOOP_DISPLAY_SIZE": "800x600"}
    sized = _run(docker_client, ["xdotool", "getdisplaygeometry"], environment=env)
    assert sized.split() == ["800", "600"]
    # A window manager is running by the time the command starts.
    assert _run(docker_client, ["pgrep", "-x", "openbox"]).strip().isdigit()


def test_a_bad_size_is_reported_and_does_not_block_the_command(
    docker_client: Any, image: Any
) -> None:
    env = {"SANDLOOP_DISPLAY_SIZE": "huge"}
    out = _run(docker_client, ["echo", "still here"], environment=env)
    assert "display size must look like 1280x800, got 'huge'" in out
    assert "still here" in out

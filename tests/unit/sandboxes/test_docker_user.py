"""DockerSandbox's default user: never root unless asked (no engine needed to decide it)."""

from __future__ import annotations

import pytest

from sandloop.sandboxes.docker import DockerSandbox
from sandloop.sandboxes.docker._provisioner import DockerProvisioner


def _provisioner(sandbox: DockerSandbox) -> DockerProvisioner:
    provisioner = sandbox.provisioner
    assert isinstance(provisioner, DockerProvisioner)
    return provisioner


_ROOT = ["", "root", "0", "0:0", "root:root", "0:1000", "root:wheel"]


@pytest.mark.parametrize("image_user", _ROOT)
def test_an_image_running_as_root_gets_the_unprivileged_default(image_user: str) -> None:
    assert _provisioner(DockerSandbox("img"))._user({"User": image_user}) == "1000:1000"


@pytest.mark.parametrize("image_user", ["app", "1000", "1001:1001", "app:root"])
def test_an_image_with_a_plain_user_keeps_it(image_user: str) -> None:
    assert _provisioner(DockerSandbox("img"))._user({"User": image_user}) == image_user


def test_an_explicit_user_wins() -> None:
    assert _provisioner(DockerSandbox("img", user="0:0"))._user({"User": "app"}) == "0:0"

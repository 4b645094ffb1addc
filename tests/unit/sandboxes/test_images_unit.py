"""Image bookkeeping without Docker: contexts found, inputs hashed, clear bootstrap errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandloop.cli import build_parser
from sandloop.errors import SandboxUnavailableError
from sandloop.sandboxes import images


def test_the_base_context_is_found_first() -> None:
    found = images.available_images()
    assert next(iter(found)) == "base"
    assert (found["base"].context / "Dockerfile").is_file()
    assert "ARG BASE=debian:bookworm-slim" in (found["base"].context / "Dockerfile").read_text()


def test_inputs_hash_follows_the_context_and_the_base(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    spec = images.ImageSpec("x", tmp_path)
    first = spec.inputs_hash("debian:bookworm-slim")
    assert spec.inputs_hash("debian:bookworm-slim") == first
    assert spec.inputs_hash("other:base") != first
    (tmp_path / "Dockerfile").write_text("FROM scratch\nLABEL a=b\n")
    assert spec.inputs_hash("debian:bookworm-slim") != first


def test_bootstrap_without_debootstrap_says_exactly_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDLOOP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no debootstrap on it
    with pytest.raises(SandboxUnavailableError) as info:
        images.bootstrap_rootfs(log=lambda line: None)
    message = str(info.value)
    assert "apt-get install debootstrap" in message
    assert "docker load" in message
    assert "--base" in message


def test_a_cached_rootfs_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDLOOP_CACHE_DIR", str(tmp_path))
    (tmp_path / "debian-bookworm-rootfs.tar").write_bytes(b"tar")
    lines: list[str] = []
    assert images.bootstrap_rootfs(log=lines.append) == tmp_path / "debian-bookworm-rootfs.tar"
    assert any("reusing" in line for line in lines)


def test_cli_parser_has_the_skeleton_commands(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["images", "build", "base", "--base", "debian:12", "--rebuild"])
    assert (args.name, args.base, args.rebuild) == ("base", "debian:12", True)
    assert parser.parse_args(["sandboxes", "prune", "--all"]).all is True
    assert parser.parse_args(["images", "ls"]).func is not None
    with pytest.raises(SystemExit):
        parser.parse_args(["images"])  # an action is required


def test_a_missing_image_hint_names_the_command_or_how_to_bring_your_own() -> None:
    from sandloop.sandboxes.docker._engine import missing_image_hint
    from sandloop.sandboxes.images import image_tag

    assert missing_image_hint(image_tag("base")) == "build it with `sandloop images build base`"
    assert missing_image_hint("sandloop/computer") == (
        "build it with `sandloop images build computer`"
    )
    own = missing_image_hint("myorg/agent:3")
    assert "build it with" not in own
    assert image_tag("base") in own
    assert "docker build -t NAME ." in own

"""Sandbox images: find their build contexts, build them once, tag them with the version.

Each folder of ``sandboxes/`` (shipped in the package as ``sandloop/sandboxes/contexts``) holding a
Dockerfile is an image, tagged ``sandloop/<name>:<version>`` and ``sandloop/<name>:latest``.
Dockerfiles take their base as ``ARG BASE`` (default ``debian:bookworm-slim``). When that base is
neither local nor pullable (no registry reachable), we make one: ``debootstrap`` a Debian
bookworm root from Debian's mirror, cache the tarball, ``docker import`` it as
``sandloop/debian:bookworm``. An image whose build inputs did not change is reused as is.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sandloop.errors import ConfigError, SandboxUnavailableError

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = (
    "BOOTSTRAP_BASE",
    "DEFAULT_BASE",
    "ImageSpec",
    "available_images",
    "build_images",
    "image_tag",
    "package_version",
)

DEFAULT_BASE = "debian:bookworm-slim"
#: The image we make with debootstrap when DEFAULT_BASE cannot be pulled.
BOOTSTRAP_BASE = "sandloop/debian:bookworm"
#: Label holding a hash of everything a build used: same hash, no rebuild.
INPUTS_LABEL = "org.sandloop.inputs"
_ROOTFS_NAME = "debian-bookworm-rootfs.tar"

Log = Callable[[str], None]


def package_version() -> str:
    """The installed sandloop version (the tag every image carries)."""
    try:
        return importlib.metadata.version("sandloop")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


def image_tag(name: str, *, version: str | None = None) -> str:
    """``sandloop/<name>:<version>``."""
    return f"sandloop/{name}:{version or package_version()}"


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """An image we can build: its name and its build context (a folder with a Dockerfile)."""

    name: str
    context: Path

    def inputs_hash(self, base: str) -> str:
        """Hash of the context's files, the base and the version."""
        h = hashlib.sha256(f"{base}\0{package_version()}\0".encode())
        for path in sorted(p for p in self.context.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(self.context)).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()[:16]


def _contexts_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    candidates = [here / "contexts", here.parents[2] / "sandboxes"]
    if os.environ.get("SANDLOOP_IMAGES_DIR"):
        candidates.insert(0, Path(os.environ["SANDLOOP_IMAGES_DIR"]))
    return [c for c in candidates if c.is_dir()]


def available_images() -> dict[str, ImageSpec]:
    """Every buildable image by name; ``base`` first (others may build on it)."""
    found: dict[str, ImageSpec] = {}
    for root in _contexts_dirs():
        for folder in sorted(root.iterdir()):
            if (folder / "Dockerfile").is_file() and folder.name not in found:
                found[folder.name] = ImageSpec(folder.name, folder)
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != "base", kv[0])))


def cache_dir() -> Path:
    """Where the debootstrap tarball is kept: ``$SANDLOOP_CACHE_DIR``, else /var/cache/sandloop
    when writable, else ~/.cache/sandloop."""
    if os.environ.get("SANDLOOP_CACHE_DIR"):
        return Path(os.environ["SANDLOOP_CACHE_DIR"])
    system = Path("/var/cache/sandloop")
    if os.access(system if system.exists() else system.parent, os.W_OK):
        return system
    return Path.home() / ".cache" / "sandloop"


def build_images(
    names: list[str] | None = None,
    *,
    base: str | None = None,
    rebuild: bool = False,
    log: Log = print,
) -> list[str]:
    """Build the named images (default: all), reusing up-to-date ones; returns their tags.

    Raises:
        ConfigError: An unknown image name.
        SandboxUnavailableError: No engine, or no way to get a base image (says what to do).
    """
    from sandloop.sandboxes import docker as engine

    specs = available_images()
    unknown = [n for n in names or [] if n not in specs]
    if unknown:
        raise ConfigError(f"unknown image {unknown[0]!r}; known: {', '.join(specs) or 'none'}")
    client = engine.connect(timeout=600)
    try:
        # Every other image builds on sandloop/base: make sure it is there and current first.
        wanted = ["base", *[n for n in names or specs if n != "base"]]
        root = _ensure_base(client, base or DEFAULT_BASE, explicit=base is not None, log=log)
        tags = [_build_one(client, specs["base"], root, rebuild=rebuild, log=log)]
        tags += [_build_one(client, specs[n], None, rebuild=rebuild, log=log) for n in wanted[1:]]
        return tags if names is None or "base" in names else tags[1:]
    finally:
        client.close()


def _build_one(
    client: DockerClient, spec: ImageSpec, base: str | None, *, rebuild: bool, log: Log
) -> str:
    """Build one image. Only ``base`` gets a BASE argument; the others build on sandloop/base
    (their Dockerfile's default), so its inputs hash is part of theirs."""
    from sandloop.sandboxes import docker as engine

    tag = image_tag(spec.name)
    buildargs = {"SANDLOOP_VERSION": package_version()}
    if base is not None:
        buildargs["BASE"] = base
        inputs = spec.inputs_hash(base)
    else:
        parent = engine.image_labels(client, image_tag("base")) or {}
        inputs = spec.inputs_hash(parent.get(INPUTS_LABEL, "no-base"))
    labels = engine.image_labels(client, tag)
    if not rebuild and labels is not None and labels.get(INPUTS_LABEL) == inputs:
        log(f"{tag}: up to date")
        return tag
    log(f"{tag}: building from {spec.context}" + (f" on {base}" if base else ""))
    engine.build_image(
        client,
        spec.context,
        [tag, f"sandloop/{spec.name}:latest"],
        buildargs=buildargs,
        labels={INPUTS_LABEL: inputs},
        log=log,
    )
    log(f"{tag}: built")
    return tag


def _ensure_base(client: DockerClient, ref: str, *, explicit: bool, log: Log) -> str:
    from sandloop.sandboxes import docker as engine

    if engine.image_labels(client, ref) is not None:
        return ref
    log(f"base {ref}: not local, pulling")
    if engine.try_pull(client, ref):
        return ref
    if explicit:
        raise SandboxUnavailableError(
            f"base image {ref!r} is neither local nor pullable; load it with `docker load`, "
            "or leave out --base to bootstrap a Debian base with debootstrap"
        )
    if engine.image_labels(client, BOOTSTRAP_BASE) is not None:
        log(f"base: using {BOOTSTRAP_BASE} (made earlier with debootstrap)")
        return BOOTSTRAP_BASE
    log(f"base {ref}: no registry reachable; making {BOOTSTRAP_BASE} with debootstrap")
    engine.import_rootfs(client, bootstrap_rootfs(log=log), BOOTSTRAP_BASE)
    return BOOTSTRAP_BASE


def bootstrap_rootfs(*, log: Log = print) -> Path:
    """A Debian bookworm root filesystem tarball, made with debootstrap once and cached."""
    cache = cache_dir()
    tarball = cache / _ROOTFS_NAME
    if tarball.is_file():
        log(f"debootstrap: reusing {tarball}")
        return tarball
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise SandboxUnavailableError(
            "no base image: debian:bookworm-slim cannot be pulled and debootstrap is not usable "
            "here (it needs root and the debootstrap package). Do one of: run "
            "`sudo apt-get install debootstrap && sudo sandloop images build`; or "
            "`docker load` a debian:bookworm-slim image; or pass --base IMAGE with a local "
            "Debian-based image."
        )
    mirror = os.environ.get("SANDLOOP_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="rootfs-") as tmp:
        root = Path(tmp) / "root"
        log(f"debootstrap: bookworm from {mirror} (takes a minute)")
        _run(["debootstrap", "--variant=minbase", "bookworm", str(root), mirror], log)
        partial = cache / f"{_ROOTFS_NAME}.partial"
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], log)
        partial.rename(tarball)
    log(f"debootstrap: cached {tarball}")
    return tarball


def _run(argv: list[str], log: Log) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise SandboxUnavailableError(
            f"`{' '.join(argv[:2])}` failed (exit {proc.returncode}):\n" + "\n".join(tail)
        )

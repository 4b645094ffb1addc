"""The Docker engine boundary: where the docker SDK's errors become ours (:func:`engine_errors`).
Clients are made in ``_address`` (``connect``). Also the engine calls the CLI and image builds need:
build and import images, list and remove the containers sandloop created.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from sandloop.errors import (
    SandboxEngineError,
    SandboxError,
    SandboxStartError,
    SandboxUnavailableError,
)
from sandloop.sandboxes.images import available_images, image_tag, package_version

__all__ = (
    "LABEL",
    "VERSION",
    "build_image",
    "engine_errors",
    "image_labels",
    "import_rootfs",
    "list_images",
    "list_sandboxes",
    "own_socket",
    "owner_labels",
    "remove_container",
    "remove_labelled",
    "try_pull",
)

VERSION = package_version()
#: Label on every container sandloop creates (value: the package version).
LABEL = "org.sandloop.sandbox"


@contextmanager
def engine_errors(action: str, *, image: str | None = None) -> Iterator[None]:
    """Translate docker SDK and connection errors into sandloop errors, chained.

    Errors are told apart by type and status, never by their words: the SDK's
    ``ImageNotFound``, a connection failure found anywhere in the exception's cause chain (the
    SDK wraps the transport's error in a plain ``DockerException``), and any other engine
    answer as a :class:`SandboxEngineError` carrying its HTTP status. ``image`` names the image
    the action needs, for the hint.
    """
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise SandboxUnavailableError(
            f"{action}: image {image or '?'} not found; {missing_image_hint(image)}"
        ) from exc
    except docker.errors.DockerException as exc:
        if _unreachable(exc):
            raise SandboxUnavailableError(
                f"{action}: no Docker engine answers ({exc}); start Docker or set DOCKER_HOST"
            ) from exc
        raise SandboxEngineError(f"{action}: {exc}", status=_status(exc)) from exc
    except OSError as exc:
        raise SandboxUnavailableError(f"{action}: cannot reach the Docker engine ({exc})") from exc


def missing_image_hint(image: str | None) -> str:
    """How to get ``image``: the build command for one of ours, else how to bring your own."""
    buildable = available_images()
    repository, _, tag = (image or "").partition(":")
    name = repository.removeprefix("sandloop/")
    if repository.startswith("sandloop/") and name in buildable:
        if tag in ("", "latest", package_version()):
            return f"build it with `sandloop images build {name}`"
        return (
            f"this sandloop builds {image_tag(name)} (`sandloop images build {name}`): "
            "use that tag, or the sandloop version that made this one"
        )
    ours = ", ".join(image_tag(name) for name in buildable)
    return (
        f"sandloop builds only its own images ({ours}: `sandloop images build`); "
        "build or load your own into this engine first (`docker build -t NAME .`, "
        "`docker load`), with python3 in it for the fast runner"
    )


def _status(exc: docker.errors.DockerException) -> int | None:
    """The HTTP status of the engine's answer (``NotFound`` is a 404 even without one)."""
    if not isinstance(exc, docker.errors.APIError):
        return None
    status = exc.status_code
    if isinstance(status, int):
        return status
    return HTTPStatus.NOT_FOUND if isinstance(exc, docker.errors.NotFound) else None


def _unreachable(exc: BaseException) -> bool:
    """Whether the engine could not be reached at all (refused, reset, timed out, no socket).

    An HTTP answer means it was reached: the SDK's ``APIError`` is a ``requests`` ``HTTPError``,
    which (like every ``requests`` error) is an ``OSError``, so it is told apart first.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.HTTPError):
            return False
        if isinstance(current, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
        if isinstance(current, OSError) and not isinstance(current, FileExistsError):
            return True
        current = current.__cause__ or current.__context__
    return False


def owner_labels() -> dict[str, str]:
    """Labels naming the process that owns a container, so prune can tell leftovers apart."""
    return {"org.sandloop.host": socket.gethostname(), "org.sandloop.host-pid": str(os.getpid())}


def own_socket(raw: Any) -> socket.socket:
    """Our own descriptor for the SDK's upgraded connection, which it may close when collected.

    A TLS socket is kept as it is (its session cannot be duplicated); the SDK keeps its HTTP
    response alive on it, so nothing closes it before we do. The response's reader is closed:
    it holds a reference that would keep the descriptor open after we close the socket.
    """
    if isinstance(raw, ssl.SSLSocket):
        response = getattr(raw, "_response", None)
        reader = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
        if reader is not None:
            reader.close()  # releases its hold on the socket, which stays open
        return raw
    inner = getattr(raw, "_sock", raw)
    if not isinstance(inner, socket.socket):
        raise SandboxStartError(f"unsupported Docker transport for attach: {type(raw)!r}")
    sock = inner.dup()
    raw.close()
    inner.close()
    return sock


# --- engine housekeeping (images, leftover containers): used by images.py and the CLI -------


def image_labels(client: docker.DockerClient, ref: str) -> dict[str, str] | None:
    """The labels of a local image, or ``None`` when it does not exist."""
    with engine_errors(f"inspecting image {ref}"):
        try:
            return dict(client.images.get(ref).labels or {})
        except docker.errors.ImageNotFound:
            return None


def try_pull(client: docker.DockerClient, ref: str) -> bool:
    """Pull an image; ``False`` (not an error) when no registry is reachable."""
    repo, _, tag = ref.partition(":")
    try:
        client.images.pull(repo, tag=tag or "latest")
    except docker.errors.DockerException:
        return False
    return True


def import_rootfs(client: docker.DockerClient, tarball: Path, ref: str) -> None:
    """``docker import`` a root filesystem tarball as image ``ref``."""
    repo, _, tag = ref.partition(":")
    with engine_errors(f"importing {tarball} as {ref}"):
        client.api.import_image_from_file(str(tarball), repository=repo, tag=tag or "latest")


def build_image(
    client: docker.DockerClient,
    context: Path,
    tags: Sequence[str],
    *,
    buildargs: Mapping[str, str],
    labels: Mapping[str, str],
    log: Callable[[str], None],
) -> None:
    """Build ``context``'s Dockerfile, tag it with every tag, streaming the output to ``log``."""
    with engine_errors(f"building {tags[0]}"):
        for event in client.api.build(
            path=str(context),
            tag=tags[0],
            buildargs=dict(buildargs),
            labels=dict(labels),
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in event:
                raise SandboxError(f"building {tags[0]} failed: {event['error'].strip()}")
            text = str(event.get("stream", "")).rstrip()
            if text:
                log(text)
        image = client.images.get(tags[0])
        for extra in tags[1:]:
            repo, _, tag = extra.partition(":")
            image.tag(repo, tag=tag or "latest")


def list_images(client: docker.DockerClient, repo_prefix: str) -> list[dict[str, Any]]:
    """Local images whose repository starts with ``repo_prefix``: tags, id, size, labels."""
    with engine_errors("listing images"):
        found = []
        for image in client.images.list():
            tags = [t for t in image.tags if t.startswith(repo_prefix)]
            if tags:
                size = int(image.attrs.get("Size") or 0)
                found.append(
                    {"tags": tags, "id": image.short_id, "size": size, "labels": image.labels}
                )
        return found


def list_sandboxes(client: docker.DockerClient) -> list[dict[str, Any]]:
    """Every container (running or not) that carries sandloop's label.

    Two list calls and nothing per container: containers come and go meanwhile (auto-removed
    sandboxes) and a leftover's image may be gone, and neither may fail the listing.
    """
    with engine_errors("listing containers"):
        summaries = client.api.containers(all=True, filters={"label": LABEL})
        names = {image["Id"]: image.get("RepoTags") or [] for image in client.api.images()}
    rows = []
    for summary in summaries:
        labels = summary.get("Labels") or {}
        image_id = str(summary.get("ImageID") or "")
        tags = [tag for tag in names.get(image_id, []) if tag != "<none>:<none>"]
        created = datetime.fromtimestamp(int(summary.get("Created") or 0), UTC)
        rows.append(
            {
                "id": str(summary["Id"])[:12],
                "name": str((summary.get("Names") or ["?"])[0]).lstrip("/"),
                "image": tags[0] if tags else image_id.removeprefix("sha256:")[:12] or "?",
                "status": str(summary.get("State") or "?"),
                "created": created.isoformat(),
                "host": labels.get("org.sandloop.host", ""),
                "host_pid": labels.get("org.sandloop.host-pid", ""),
            }
        )
    return rows


def remove_container(client: docker.DockerClient, container_id: str) -> None:
    """Force-remove a container; a container already gone is not an error."""
    with engine_errors(f"removing container {container_id}"), suppress(docker.errors.NotFound):
        client.containers.get(container_id).remove(force=True)


def remove_labelled(client: docker.DockerClient, label: str | Sequence[str]) -> int:
    """Force-remove every container carrying ``label`` (``key=value``; a list: all of them);
    how many there were.

    A container that is already gone, or that the engine refuses to remove, is passed over:
    the others are still removed.
    """
    labels = [label] if isinstance(label, str) else list(label)
    with engine_errors(f"listing containers labelled {', '.join(labels)}"):
        found = client.containers.list(all=True, filters={"label": labels})
    for container in found:
        gone = suppress(docker.errors.NotFound)
        with suppress(SandboxError), engine_errors(f"removing container {container.id}"), gone:
            container.remove(force=True)
    return len(found)

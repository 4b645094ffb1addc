"""Shared fixtures. Docker-backed tests skip honestly without an engine, and fail instead when
``SANDLOOP_REQUIRE_DOCKER=1`` (CI sets it)."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import container_leaks

REQUIRE_DOCKER = os.environ.get("SANDLOOP_REQUIRE_DOCKER") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """The user's own sandloop config and state never reach a test: every process the suite
    starts reads an empty config folder and keeps its run records in a scratch folder."""
    # A suite started in the background of a non-interactive shell inherits SIGINT ignored, and
    # so would every `sandloop` process it starts: the Ctrl-C tests need it delivered.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    scratch = Path(tempfile.mkdtemp(prefix="sandloop-tests-"))
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        (scratch / name).mkdir()
        os.environ[name] = str(scratch / name)


def docker_unavailable(reason: str) -> None:
    """Skip the test, or fail it when CI demands a Docker engine."""
    if REQUIRE_DOCKER:
        pytest.fail(f"SANDLOOP_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(f"no Docker engine: {reason}")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client for an engine that answers ``ping``."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        docker_unavailable(f"the Docker engine did not answer ({exc.__class__.__name__}: {exc})")
    yield client
    client.close()


def _uses_docker(module: pytest.Module) -> bool:
    """Whether a test of the module is marked ``docker`` or asks for the engine's client."""
    items = [item for item in module.session.items if item.getparent(pytest.Module) is module]
    return any(
        item.get_closest_marker("docker") is not None
        or "docker_client" in getattr(item, "fixturenames", ())
        for item in items
    )


@pytest.fixture(scope="module", autouse=True)
def no_sandloop_container_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each module that uses Docker: no sandloop container of this test process is left
    (``container_leaks``); the module fails at its teardown otherwise. Containers there before
    it started are not counted (set up first, this check runs after every module fixture)."""
    module = request.node
    client = (
        container_leaks.engine()
        if isinstance(module, pytest.Module) and _uses_docker(module)
        else None
    )
    if client is None:
        yield
        return
    before = set(container_leaks.sandloop_containers(client))
    try:
        yield
        left = container_leaks.leaked(client, before)
        assert left == [], f"{module.name} left sandloop containers behind: {left}"
    finally:
        client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    """The coding image: ``$SANDLOOP_TEST_IMAGE`` when set, else sandloop/base built once per
    session (reused when it is up to date)."""
    override = os.environ.get("SANDLOOP_TEST_IMAGE")
    if override:
        import docker.errors

        try:
            docker_client.images.get(override)
        except docker.errors.ImageNotFound:
            docker_unavailable(f"SANDLOOP_TEST_IMAGE={override} does not exist")
        return override
    from sandloop.errors import SandboxError
    from sandloop.sandboxes.images import build_images

    try:
        return build_images(["base"], log=lambda line: None)[0]
    except SandboxError as exc:
        docker_unavailable(f"the base image could not be built: {exc}")
        raise  # unreachable: docker_unavailable skips or fails


@pytest.fixture(scope="session")
def engine_runtimes(docker_client: Any) -> list[str]:
    """The OCI runtimes the test engine has."""
    return sorted((docker_client.info().get("Runtimes") or {}).keys())


@pytest.fixture
def gvisor(engine_runtimes: list[str]) -> str:
    """gVisor's runtime name, ``"runsc"``; the test is skipped on an engine without it, and
    fails instead under ``SANDLOOP_REQUIRE_DOCKER=1`` (CI's ``tools/ensure_docker.sh`` adds it)."""
    if "runsc" not in engine_runtimes:
        reason = "the engine has no 'runsc' runtime (gVisor: tools/ensure_docker.sh adds it)"
        if REQUIRE_DOCKER:
            pytest.fail(f"SANDLOOP_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return "runsc"


@pytest.fixture(params=["runc", "gvisor"])
def runtime(request: pytest.FixtureRequest) -> str | None:
    """Each OCI runtime a sandbox test runs under: the engine's default, then gVisor."""
    return request.getfixturevalue("gvisor") if request.param == "gvisor" else None


@pytest.fixture(scope="module")
def k8s_double(docker_client: Any, base_image: str) -> Iterator[Any]:
    """A Kubernetes API double (``sandloop.testing.k8s_double``: not a cluster) on 127.0.0.1,
    its pods real containers of the test engine; one per test module. At the module's end no
    pod and no container of the double may be left (the double removes none itself before
    this check)."""
    from sandloop.testing.k8s_double import DOUBLE_LABEL, KubernetesApiDouble

    double = KubernetesApiDouble(docker_client, runtime_classes={"gvisor": "runsc"})
    with double:
        yield double
        assert double.pods == {}, f"pods left behind: {sorted(double.pods)}"
        assert double.policies == {}, f"network policies left behind: {sorted(double.policies)}"
        left = docker_client.containers.list(all=True, filters={"label": DOUBLE_LABEL})
        assert [c.name for c in left if c.labels.get(DOUBLE_LABEL) == double.id] == []


@pytest.fixture(scope="module")
def k8s_kubeconfig(k8s_double: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kubeconfig for the module's Kubernetes API double."""
    return str(k8s_double.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config"))

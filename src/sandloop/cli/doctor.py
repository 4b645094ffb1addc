"""``sandloop doctor``: check the Docker engine, the images, the API key and base URL.

Part of ``cli``. Each check prints ``ok``, ``warn`` or ``FAIL`` with what it found and, when
something is wrong, the command that fixes it. Exit status 1 when a check failed. The endpoint
is probed with one request that costs no tokens (``GET /responses/<an id that cannot exist>``).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from sandloop.client import DEFAULT_BASE_URL, probe_endpoint
from sandloop.errors import SandloopError
from sandloop.sandboxes.images import available_images, image_tag, package_version

__all__ = ("Check", "register", "run_checks")

Level = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True, slots=True)
class Check:
    """The result of one check."""

    name: str
    level: Level
    found: str
    fix: str = ""


def register(parser: argparse.ArgumentParser) -> None:
    """Fill the parser of ``sandloop doctor``."""
    parser.description = "Check that sandloop can run here and say how to fix what is missing."
    parser.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    checks = run_checks()
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{check.level:4}  {check.name:{width}}  {check.found}")
        if check.fix:
            print(f"      {'':{width}}  fix: {check.fix}")
    failed = [c for c in checks if c.level == "FAIL"]
    print(f"\n{len(failed)} problem(s)" if failed else "\neverything sandloop needs is here")
    return 1 if failed else 0


def run_checks() -> list[Check]:
    """Every check, in the order they are shown."""
    python = ".".join(map(str, sys.version_info[:3]))
    checks = [Check("sandloop", "ok", f"version {package_version()} on Python {python}")]
    checks += _docker_checks()
    checks.append(_api_key())
    base = _base_url()
    checks.append(base)
    if base.level != "FAIL":
        checks.append(_endpoint())
    return checks


def _docker_checks() -> list[Check]:
    from sandloop.sandboxes import docker as engine

    try:
        client = engine.connect(timeout=10)
    except SandloopError as exc:
        fix = (
            "start the Docker engine (e.g. `sudo systemctl start docker`) or set DOCKER_HOST; "
            "meanwhile `sandloop demo` and `sandloop run --local` work without isolation"
        )
        return [Check("docker engine", "FAIL", str(exc), fix)]
    try:
        version = client.version()
        found = f"Docker {version.get('Version', '?')} (API {version.get('ApiVersion', '?')})"
        checks = [Check("docker engine", "ok", found), _gvisor(engine.engine_runtimes(client))]
        checks += _image_checks(engine.list_images(client, "sandloop/"))
        checks.append(_leftovers(engine.list_sandboxes(client)))
    finally:
        client.close()
    return checks


def _gvisor(runtimes: list[str]) -> Check:
    """Whether ``DockerSandbox(runtime="runsc")`` can run here (optional: runc is the default)."""
    if "runsc" in runtimes:
        return Check(
            "gvisor", "ok", "the engine has the runsc runtime (DockerSandbox(runtime='runsc'))"
        )
    return Check(
        "gvisor",
        "warn",
        f"the engine has no runsc runtime (optional; it has {', '.join(runtimes) or 'none'})",
        "install runsc and register it in /etc/docker/daemon.json (tools/ensure_docker.sh)",
    )


def _image_checks(rows: list[dict[str, Any]]) -> list[Check]:
    present = {tag for row in rows for tag in row["tags"]}
    checks = []
    for name in available_images():
        tag = image_tag(name)
        if tag in present:
            checks.append(Check(f"image {name}", "ok", tag))
        else:
            level: Level = "FAIL" if name == "base" else "warn"
            needed = "needed by sandloop run" if name == "base" else "optional"
            fix = f"sandloop images build {name}"
            checks.append(Check(f"image {name}", level, f"{tag} not built ({needed})", fix))
    return checks


def _leftovers(rows: list[dict[str, Any]]) -> Check:
    from sandloop.cli.sandboxes import _alive

    gone = [row for row in rows if not _alive(row)]
    if gone:
        return Check(
            "containers",
            "warn",
            f"{len(gone)} leftover sandbox container(s) of exited runs",
            "sandloop sandboxes prune",
        )
    return Check("containers", "ok", f"{len(rows)} sandbox container(s) running, no leftovers")


def _api_key() -> Check:
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        return Check(
            "api key",
            "warn",
            "OPENAI_API_KEY is not set (needed to talk to the OpenAI API)",
            "export OPENAI_API_KEY=sk-...  (not needed for `sandloop demo`, --replay, or a "
            "--base-url on 127.0.0.1)",
        )
    if not key.startswith("sk-") or len(key) < 20:
        return Check("api key", "warn", "OPENAI_API_KEY is set but does not look like a key")
    return Check("api key", "ok", f"OPENAI_API_KEY is set (sk-…{key[-4:]})")


def _base_url() -> Check:
    url = os.environ.get("OPENAI_BASE_URL", "").strip()
    if not url:
        return Check("base url", "ok", f"{DEFAULT_BASE_URL} (default)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(
            "base url",
            "FAIL",
            f"OPENAI_BASE_URL={url!r} is not an http(s) URL",
            f"export OPENAI_BASE_URL={DEFAULT_BASE_URL}  (or unset it)",
        )
    if not parts.path.rstrip("/").endswith("/v1"):
        return Check(
            "base url",
            "warn",
            f"OPENAI_BASE_URL={url} does not end in /v1; "
            f"requests go to {url.rstrip('/')}/responses",
        )
    return Check("base url", "ok", f"{url} (from OPENAI_BASE_URL)")


def _endpoint() -> Check:
    url = os.environ.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL
    key = os.environ.get("OPENAI_API_KEY", "").strip() or None
    probe = probe_endpoint(url, key)
    if probe.verdict == "ok":
        return Check("endpoint", "ok", f"{url}: {probe.detail}")
    if probe.verdict == "refused":
        fix = "check OPENAI_API_KEY (a local server may want any non-empty key)"
        return Check("endpoint", "FAIL", f"{url}: {probe.detail}", fix)
    if probe.verdict == "unexpected":
        fix = "OPENAI_BASE_URL should be the API root that serves /responses (usually .../v1)"
        return Check("endpoint", "FAIL", f"{url}: {probe.detail}", fix)
    fix = "start the server, or point OPENAI_BASE_URL (or --base-url) at one that runs"
    return Check("endpoint", "FAIL", probe.detail, fix)

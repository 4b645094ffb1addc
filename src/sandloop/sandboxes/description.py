"""Sandboxes as data: ``{"kind": ..., <options>}`` and back (``sandbox_from_dict``).

Part of ``sandboxes``. A description is a sandbox's *configuration*, never its state: the same
dict comes out of a sandbox before and after it starts, and rebuilding it always gives a new,
unstarted sandbox (a new container, a fresh copy of the workspace). That is what a
:class:`~sandloop.RunSpec` run in another process, or a resumed run, needs. Each kind
describes itself (``DockerSandbox.to_dict()``, ``LocalSandbox.to_dict()``); a pool describes
its factory (``SandboxPool.to_dict()``). Paths are stored as given: a relative workspace is
relative to the working directory of the process that rebuilds it (give absolute paths to
mean one place).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sandloop._import_path import resolve_import_path
from sandloop.errors import ConfigError

if TYPE_CHECKING:
    from sandloop.sandboxes.base import Sandbox

T = TypeVar("T")

__all__ = ("build_from", "options_of", "sandbox_from_dict")


def sandbox_from_dict(data: Any) -> Sandbox:
    """A new, unstarted sandbox from a sandbox's ``to_dict()`` output, by its ``"kind"``.

    ``"docker"``, ``"kubernetes"`` and ``"local"`` are the built-in kinds; ``"module:Class"``
    names a :class:`~sandloop.sandboxes.base.Sandbox` subclass of yours, rebuilt by its
    ``from_dict``.

    Raises:
        ConfigError: the description is malformed or names an unknown kind or option.
    """
    from sandloop.sandboxes.base import Sandbox

    if not isinstance(data, Mapping) or not isinstance(data.get("kind"), str):
        raise ConfigError(f"a sandbox description is a dict with a 'kind', not {data!r}")
    kind = data["kind"]
    if kind == "docker":
        from sandloop.sandboxes.docker import DockerSandbox

        return DockerSandbox.from_dict(data)
    if kind == "kubernetes":
        from sandloop.sandboxes.kubernetes import KubernetesSandbox

        return KubernetesSandbox.from_dict(data)
    if kind == "local":
        from sandloop.sandboxes.local import LocalSandbox

        return LocalSandbox.from_dict(data)
    if kind == "pool":
        raise ConfigError("a pool is not a sandbox: rebuild it with SandboxPool.from_dict()")
    if ":" not in kind:
        raise ConfigError(
            f"unknown sandbox kind {kind!r} (known: docker, kubernetes, local, 'module:Class')"
        )
    cls = resolve_import_path(kind, what="sandbox")
    if not (isinstance(cls, type) and issubclass(cls, Sandbox)):
        raise ConfigError(f"sandbox kind {kind!r} is not a Sandbox class")
    return cls.from_dict(data)


def options_of(data: Mapping[str, Any], kind: str, cls: type[Any]) -> dict[str, Any]:
    """The constructor arguments in a description of ``kind``, checked against ``cls``.

    Raises:
        ConfigError: the kind differs, or an option is one ``cls`` does not take.
    """
    if data.get("kind") != kind:
        raise ConfigError(f"not a {kind!r} sandbox description: kind {data.get('kind')!r}")
    options = {key: value for key, value in data.items() if key != "kind"}
    params = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ConfigError(f"a {kind!r} sandbox has no option(s) {', '.join(unknown)}")
    return options


def build_from(cls: type[T], options: Mapping[str, Any]) -> T:
    """``cls(**options)``, a wrongly typed value being a ``ConfigError`` (not a ``TypeError``).

    Raises:
        ConfigError: the constructor refused the options.
    """
    try:
        return cls(**options)
    except (TypeError, ValueError, AttributeError, LookupError) as exc:
        raise ConfigError(f"bad {cls.__name__} option value: {exc}") from exc

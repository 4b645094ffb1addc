"""Import paths (``module:qualname``): how a description names code another process can load.

A leaf like ``errors``: tool descriptions (``executors``) and a pool's factory (``sandboxes``)
name their functions this way. Naming is checked when a description is written, so a path
that another process could not import — a closure, a lambda, a function of ``__main__`` — is
refused then, with the object named, instead of failing later somewhere else.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sandloop.errors import ConfigError

__all__ = ("import_path_of", "resolve_import_path")


def import_path_of(obj: Any, *, what: str, leads_back: Callable[[Any], bool] | None = None) -> str:
    """The ``module:qualname`` of ``obj``, checked to import back to ``obj``.

    Args:
        obj: A module-level function or class.
        what: Words naming ``obj`` in the error (``"tool 'add'"``).
        leads_back: Whether the object the path names will do instead of ``obj`` itself
            (a decorated function's name leads to its tool object); default: only ``obj``.

    Raises:
        ConfigError: ``obj`` is a lambda, a closure or nested function, lives in ``__main__``,
            or its path does not lead back to it.
    """
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ConfigError(f"{what} cannot be described: {obj!r} has no importable name")
    path = f"{module}:{qualname}"
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise ConfigError(
            f"{what} cannot be described: {path} is a lambda, closure or nested function, which "
            "another process cannot import; define it at module level"
        )
    if module == "__main__":
        raise ConfigError(
            f"{what} cannot be described: {qualname} is defined in __main__ (the running "
            "script), which another process cannot import; move it into a module"
        )
    try:
        found = resolve_import_path(path, what=what)
    except ConfigError as exc:
        raise ConfigError(f"{what} cannot be described: {exc}") from exc
    if found is not obj and not (leads_back is not None and leads_back(found)):
        raise ConfigError(
            f"{what} cannot be described: {path} names {found!r}, not this object "
            "(it was replaced or rebound); describe the object its module holds"
        )
    return path


def resolve_import_path(path: str, *, what: str) -> Any:
    """Import ``module:qualname`` and return the object it names.

    Raises:
        ConfigError: the path is malformed, or the module or a name in it is missing.
    """
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise ConfigError(f"{what}: {path!r} is not an import path like 'package.module:name'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{what}: cannot import {path!r}: {exc}") from exc
    return target

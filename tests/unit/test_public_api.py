"""The public namespaces are honest: exported names exist; importing has no side effects."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import pytest

import sandloop

SUBPACKAGES = sorted(
    f"sandloop.{m.name}" for m in pkgutil.iter_modules(sandloop.__path__) if m.ispkg
)


@pytest.mark.parametrize("module_name", ["sandloop", "sandloop.errors", *SUBPACKAGES])
def test_every_name_in_all_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, tuple), f"{module_name}.__all__ must be a tuple"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ names missing attributes: {missing}"
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ has duplicates"


@pytest.mark.parametrize("module_name", ["sandloop", "sandloop.errors", *SUBPACKAGES])
def test_every_public_name_is_in_all(module_name: str) -> None:
    # The other direction: whatever a namespace defines, or re-exports from below itself, without
    # a leading underscore is listed in __all__ (imports from elsewhere, such as an error class or
    # typing.Any, are not the namespace's own names).
    module = importlib.import_module(module_name)
    exported = set(getattr(module, "__all__", ()))
    unlisted = sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and _defined_under(value, module_name)
        and name not in exported
    )
    assert not unlisted, f"{module_name} has public names missing from __all__: {unlisted}"


def _defined_under(value: object, package: str) -> bool:
    origin = getattr(value, "__module__", None)
    if not isinstance(origin, str) or isinstance(value, bool):
        return False  # a constant such as TYPE_CHECKING, or a __future__ feature
    return origin == package or origin.startswith(package + ".")


def test_public_classes_live_in_their_subpackage_namespace() -> None:
    for name in sandloop.__all__:
        obj = getattr(sandloop, name)
        module = getattr(obj, "__module__", "")
        if module and module != "typing":  # type aliases such as Item report "typing"
            assert module.startswith("sandloop"), f"sandloop.{name} comes from {module}"


def test_import_starts_no_threads() -> None:
    code = (
        "import threading; import sandloop; "
        "assert threading.active_count() == 1, threading.enumerate(); "
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

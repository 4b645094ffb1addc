"""Start-up stays light: ``import sandloop``, ``sandloop --help`` and ``--version`` load none of
the heavy dependencies, and a command's module is imported only when that command is chosen.

Time itself is measured by ``tools/bench_cli.py``; these tests check what makes it short.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sandloop
from sandloop.cli import COMMANDS, build_parser, subcommand_parser

#: What a start-up must not load: each costs tens of milliseconds or more.
HEAVY = (
    "httpx",
    "pydantic",
    "docker",
    "rich",
    "anyio",
    "sandloop.items",
    "sandloop.client",
    "sandloop.view",
)


def _modules_after(code: str) -> list[str]:
    """Every module loaded in a fresh interpreter once ``code`` ran."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(out.stdout.splitlines()[-1]))


def _loaded_after(code: str) -> set[str]:
    """The top-level packages and ``sandloop`` subpackages loaded once ``code`` ran."""
    return {
        ".".join(m.split(".")[:2]) if m.startswith("sandloop.") else m.split(".")[0]
        for m in _modules_after(code)
    }


def _cli(*argv: str) -> str:
    return (
        "from sandloop.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({list(argv)!r})\n"
    )


@pytest.mark.parametrize(
    "code",
    [
        "import sandloop",
        _cli("--help"),
        _cli("--version"),
        _cli("run", "--help"),
        _cli("view", "--help"),
    ],
    ids=["import", "help", "version", "run-help", "view-help"],
)
def test_start_up_loads_no_heavy_module(code: str) -> None:
    loaded = _loaded_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_module_is_imported_only_when_chosen() -> None:
    modules = _modules_after(_cli("sandboxes", "--help"))
    assert "sandloop.cli.sandboxes" in modules
    assert "sandloop.cli.run" not in modules
    assert "sandloop.cli.doctor" not in modules
    assert "docker" not in modules  # sandboxes' module itself defers the Docker SDK


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_fills_its_parser_and_takes_debug(name: str) -> None:
    parser = subcommand_parser(build_parser(), name)
    assert parser.prog == f"sandloop {name}"
    assert "--debug" in parser.format_help()
    assert parser.get_default("func") is not None or parser._subparsers is not None


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"sandloop {sandloop.__version__}\n"


def test_lazy_names_match_the_typed_imports() -> None:
    # mypy reads the `if TYPE_CHECKING:` imports, the runtime reads _LAZY: they must agree.
    source = Path(sandloop.__file__).read_text(encoding="utf-8")
    typed: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                assert stmt.module
                typed[stmt.module] = tuple(alias.name for alias in stmt.names)
    assert typed == sandloop._LAZY
    lazy = {n for group in typed.values() for n in group}
    code = "import sandloop; print(sorted(set(sandloop.__all__) - set(vars(sandloop))))"
    missing = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert missing.strip() == str(sorted(lazy))  # every public name is defined or lazy


def test_lazy_names_are_the_subpackages_objects() -> None:
    import importlib

    for module, names in sandloop._LAZY.items():
        for name in names:
            assert getattr(sandloop, name) is getattr(importlib.import_module(module), name)
    assert sandloop.loop.events.RunEvent is sandloop.RunEvent  # a subpackage, found on use
    with pytest.raises(AttributeError):
        _ = sandloop.no_such_name

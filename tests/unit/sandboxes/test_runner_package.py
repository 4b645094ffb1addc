"""The runner program as a package: parsed for the oldest python it promises, run as a zip."""

from __future__ import annotations

import ast
import base64
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from sandloop.sandboxes._runner_program import OLDEST_PYTHON, RUNNER_DIR, runner_files, runner_zip


def _pyenv_python(version: tuple[int, int]) -> str | None:
    """An interpreter of exactly ``version`` from pyenv, or on PATH as pythonX.Y."""
    wanted = "{}.{}".format(*version)
    versions = Path.home() / ".pyenv" / "versions"
    for candidate in sorted(versions.glob(f"{wanted}.*")) if versions.is_dir() else []:
        exe = candidate / "bin" / "python3"
        if exe.is_file():
            return str(exe)
    return shutil.which(f"python{wanted}")


@pytest.mark.parametrize("rel", [str(p) for p in runner_files()])
def test_every_runner_file_parses_for_the_oldest_python(rel: str) -> None:
    source = (RUNNER_DIR / rel).read_text()
    ast.parse(source, filename=rel, feature_version=OLDEST_PYTHON)


def test_the_runner_imports_only_the_standard_library_and_itself() -> None:
    stdlib = sys.stdlib_module_names
    for rel in runner_files():
        tree = ast.parse((RUNNER_DIR / rel).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                assert top in stdlib or top in ("__future__", "sandloop_runner"), (rel, name)


def _hello(proc: subprocess.CompletedProcess[bytes]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr
    (size,) = struct.unpack(">I", proc.stdout[:4])
    frame = json.loads(proc.stdout[4 : 4 + size])
    assert frame["id"] == 0
    result: dict[str, object] = frame["result"]
    return result


def test_the_zip_is_the_same_every_time() -> None:
    runner_zip.cache_clear()
    first = runner_zip()
    runner_zip.cache_clear()
    assert runner_zip() == first


def test_the_zip_runs_with_the_oldest_python(tmp_path: Path) -> None:
    python = _pyenv_python(OLDEST_PYTHON)
    if python is None:
        pytest.skip("no python{}.{} here (pyenv or PATH)".format(*OLDEST_PYTHON))
    archive = tmp_path / "runner.zip"
    archive.write_bytes(runner_zip())
    with subprocess.Popen(
        [python, str(archive), str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        hello = _read_frame(proc.stdout)["result"]
        assert str(hello["python"]).startswith("{}.{}.".format(*OLDEST_PYTHON))
        request = json.dumps({"id": 1, "op": "exec", "argv": ["echo", "hi"]}).encode()
        proc.stdin.write(struct.pack(">I", len(request)) + request)
        proc.stdin.flush()
        reply = _read_frame(proc.stdout)
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    assert reply["id"] == 1
    assert reply["ok"], reply
    assert reply["result"]["exit_code"] == 0
    assert base64.b64decode(reply["result"]["stdout"]) == b"hi\n"


def _read_frame(stream: IO[bytes]) -> dict[str, Any]:
    (size,) = struct.unpack(">I", stream.read(4))
    frame: dict[str, Any] = json.loads(stream.read(size))
    return frame


def test_the_directory_runs_too(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(RUNNER_DIR), str(tmp_path)],
        input=b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert _hello(proc)["hello"] == "sandloop-runner"


def test_the_host_never_imports_the_runner() -> None:
    host = RUNNER_DIR.parent.parent  # src/sandloop
    for path in host.rglob("*.py"):
        if RUNNER_DIR in path.parents:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            runner = [n for n in names if "sandloop_runner" in n or n.endswith("._runner")]
            assert not runner, path

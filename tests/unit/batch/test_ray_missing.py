"""Without the ray extra, ``--executor ray`` says how to install it (and nothing runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# ``sys.modules["ray"] = None`` makes ``import ray`` fail as it does where Ray is not installed.
MAIN = (
    "import sys; sys.modules['ray'] = None; from sandloop.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def test_the_ray_executor_without_ray_names_the_extra(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "a", "repo": str(tmp_path), "prompt": "p"}) + "\n")
    command = [sys.executable, "-c", MAIN, "batch", str(tasks), "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [*command, "--executor", "ray"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'sandloop[ray]'" in done.stderr
    assert not (tmp_path / "out").exists()

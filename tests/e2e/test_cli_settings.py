"""`sandloop run` settings: --instructions, --timeout, --token-budget, --max-retries and the
config files (the user's, and the repository's restricted sandloop.toml), through the real CLI
process against the scripted server and a real Docker sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandloop.testing import ScriptedResponsesServer, Turn, delay, message, server_error, shell_call

pytestmark = pytest.mark.docker


@pytest.fixture
def repo(tmp_path: Path, base_image: str) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.txt").write_text("a\n")
    return root


def sandloop(repo: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    clean.update(SANDLOOP_HOME=str(home / "state"), XDG_CONFIG_HOME=str(home / "config"), **env)
    return subprocess.run(
        [sys.executable, "-m", "sandloop.cli", "run", "--repo", str(repo), *args, "Do it"],
        capture_output=True,
        text=True,
        timeout=180,
        env=clean,
        stdin=subprocess.DEVNULL,
    )


def _final(text: str = "done") -> list[Any]:
    return [message(text, phase="final_answer")]


def test_instructions_from_a_flag_and_from_a_file(repo: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("Answer in French.\n")
    for flags, expected in (
        (["--instructions", "Be brief."], "Be brief."),
        (["--instructions-file", str(notes)], "Answer in French.\n"),
    ):
        with ScriptedResponsesServer([_final()]) as server:
            done = sandloop(repo, tmp_path, "--base-url", server.base_url, *flags)
            (request,) = server.create_requests
        assert done.returncode == 0, done.stderr
        assert request.body["instructions"] == expected
        # The repository here is no git repository: the run says it edits it in place.
        assert "is not a git repository: the agent edits it in place" in done.stdout


def test_max_retries_bounds_the_retries_of_a_failing_server(repo: Path, tmp_path: Path) -> None:
    failing = [Turn(None, faults=[server_error(500)])]
    with ScriptedResponsesServer(failing, check_protocol=False) as server:
        done = sandloop(repo, tmp_path, "--base-url", server.base_url, "--max-retries", "0")
        assert len(server.create_requests) == 1  # no retry at all
    assert done.returncode == 1
    assert "500" in done.stderr
    with ScriptedResponsesServer([Turn(_final(), faults=[server_error(500)])]) as server:
        again = sandloop(repo, tmp_path, "--base-url", server.base_url, "--max-retries", "1")
        assert len(server.create_requests) == 2  # one retry, then the answer
    assert again.returncode == 0, again.stderr


def test_timeout_and_token_budget_stop_the_run(repo: Path, tmp_path: Path) -> None:
    with ScriptedResponsesServer([Turn(_final(), faults=[delay(30)])]) as server:
        done = sandloop(repo, tmp_path, "--base-url", server.base_url, "--timeout", "1")
        server.close()
    assert done.returncode == 1
    assert "the run took longer than its 1 s limit" in done.stderr
    # One turn only: a second request would be an extra one (and counted below).
    script = [
        Turn(
            [shell_call(["true"])],
            usage={"input_tokens": 900, "output_tokens": 200, "total_tokens": 1100},
        ),
    ]
    with ScriptedResponsesServer(script) as server:
        spent = sandloop(repo, tmp_path, "--base-url", server.base_url, "--token-budget", "1000")
        assert len(server.create_requests) == 1  # stopped before a second model call
        server.close()
    assert spent.returncode == 1
    assert "budget" in spent.stderr.lower(), spent.stderr


def test_config_files_give_defaults_flags_override_them(repo: Path, tmp_path: Path) -> None:
    user = tmp_path / "config" / "sandloop"
    user.mkdir(parents=True)
    (user / "config.toml").write_text('model = "from-user"\nmax_turns = 7\n')
    models = []
    for repo_file, flags in ((None, []), ('model = "from-repo"\n', []), (None, ["--model", "x"])):
        if repo_file is not None:
            (repo / "sandloop.toml").write_text(repo_file)
        with ScriptedResponsesServer([_final()]) as server:
            done = sandloop(repo, tmp_path, "--base-url", server.base_url, *flags)
            (request,) = server.create_requests
        assert done.returncode == 0, done.stderr
        models.append((request.body["model"], request.body.get("max_output_tokens")))
    assert [model for model, _ in models] == ["from-user", "from-repo", "x"]


@pytest.mark.parametrize(
    "setting", ["network = true", 'approve = "auto"', 'base_url = "http://127.0.0.1:1/v1"']
)
def test_a_repository_config_cannot_loosen_the_sandbox_or_move_the_key(
    repo: Path, tmp_path: Path, setting: str
) -> None:
    # In bind mode the model writes the repository: its file may not hand the next run more.
    (repo / "sandloop.toml").write_text(setting + "\n")
    with ScriptedResponsesServer([]) as server:
        done = sandloop(repo, tmp_path, "--base-url", server.base_url)
        assert server.requests == []
    assert done.returncode == 2
    assert "may not be set in a repository's sandloop.toml" in done.stderr


def test_a_repository_config_that_is_a_link_is_refused(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.toml"
    target.write_text('model = "linked"\n')
    (repo / "sandloop.toml").symlink_to(target)
    with ScriptedResponsesServer([]) as server:
        done = sandloop(repo, tmp_path, "--base-url", server.base_url)
    assert done.returncode == 2
    assert "cannot be read as a config file" in done.stderr

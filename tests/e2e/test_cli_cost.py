"""`sandloop run` shows what the run cost: dollars when the model is priced, "unpriced" when
not (never $0); through the real CLI process against the scripted server (``--local``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandloop.testing import ScriptedResponsesServer, Turn, message

USAGE = {
    "input_tokens": 1000,
    "input_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 0},
    "output_tokens": 100,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 1100,
}


def run_priced(tmp_path: Path, *flags: str, priced: bool) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SANDLOOP_"))}
    env.update(SANDLOOP_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    if priced:
        prices = tmp_path / "prices.json"
        prices.write_text(json.dumps({"models": {"house": {"input": 2, "cached_input": 0.5,
                                                           "output": 8}}}))  # fmt: skip
        env["SANDLOOP_PRICES"] = str(prices)
    with ScriptedResponsesServer([Turn([message("hi", phase="final_answer")], usage=USAGE)]) as s:
        return subprocess.run(
            [sys.executable, "-m", "sandloop", "run", "--local", "--repo", str(repo),
             "--base-url", s.base_url, "--model", "house", *flags, "Say hi"],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip


# 600 plain * $2 + 400 cached * $0.5 + 100 output * $8, per million tokens
DOLLARS = (600 * 2 + 400 * 0.5 + 100 * 8) / 1e6


@pytest.mark.parametrize("json_output", [False, True], ids=["terminal", "json"])
def test_a_priced_run_shows_its_cost(tmp_path: Path, json_output: bool) -> None:
    done = run_priced(tmp_path, *(["--json"] if json_output else []), priced=True)
    assert done.returncode == 0, done.stderr
    if json_output:
        ended = json.loads(done.stdout.splitlines()[-1])
        assert ended["event"] == "run_ended"
        assert ended["cost"]["total"] == pytest.approx(DOLLARS)
        return
    assert f"· ${DOLLARS:.4f}" in done.stdout


def test_an_unpriced_run_says_so(tmp_path: Path) -> None:
    done = run_priced(tmp_path, "--json", priced=False)
    assert done.returncode == 0, done.stderr
    ended = json.loads(done.stdout.splitlines()[-1])
    assert ended["cost"]["total"] is None
    assert ended["cost"]["unpriced"] == ["house"]
    plain = run_priced(tmp_path / "again", priced=False)
    assert "cost unpriced (house)" in plain.stdout

"""``sandloop run`` as a subprocess against the scripted server, with a real Docker sandbox.

Each test starts a ScriptedResponsesServer on 127.0.0.1, runs ``python -m sandloop.cli run
--base-url ...`` on a fresh git repository (the demo's buggy project), and checks what a user
would notice: the exit status, the terminal output, the repository on disk, the transcript, and
that no container is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandloop.cli import build_parser
from sandloop.cli.demo_command import demo_data
from sandloop.testing import (
    RecordedRequest,
    ScriptedResponsesServer,
    Turn,
    TurnLike,
    apply_patch_call,
    drop_connection,
    local_shell_call,
    message,
    shell_call,
)

pytestmark = pytest.mark.docker

TESTS = "python3 -B -m unittest"
FIX = (
    "     for line in lines:\n"
    "-        total += line.unit_cents\n"
    "+        total += line.unit_cents * line.quantity\n"
)
FIXED_LINE = "total += line.unit_cents * line.quantity"


IMAGE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def sandbox_image(base_image: str) -> None:
    """Every run uses the session's base image (built once, or $SANDLOOP_TEST_IMAGE)."""
    IMAGE["tag"] = base_image


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The demo's buggy project as a committed git repository."""
    path = tmp_path / "repo"
    shutil.copytree(demo_data() / "project", path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "buggy"], check=True)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(SANDLOOP_HOME=str(home), SANDLOOP_IMAGE=IMAGE["tag"], COLUMNS="200", **extra)
    return env


def sandloop(
    *args: str, home: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandloop.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        env=cli_env(home, **env),
    )


def transcript(home: Path) -> list[dict[str, Any]]:
    (run_dir,) = (home / "runs").iterdir()
    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def fixing_script() -> list[Any]:
    """Run the tests (fail), fix with apply_patch, run them again (pass), answer."""

    def after_fix(request: RecordedRequest) -> list[Any]:
        (output,) = request.body["input"]
        assert output["type"] == "apply_patch_call_output"
        assert output["status"] == "completed", output
        return [shell_call([TESTS])]

    return [
        [message("Running the tests.", phase="commentary"), shell_call([TESTS])],
        [apply_patch_call("update_file", "shop/pricing.py", FIX)],
        after_fix,
        [message("Fixed the subtotal: it now multiplies by the quantity.", phase="final_answer")],
    ]


def outcomes(request: RecordedRequest) -> list[Any]:
    return [entry["outcome"] for entry in request.body["input"][0]["output"]]


def test_run_fixes_the_repository(repo: Path, home: Path) -> None:
    with ScriptedResponsesServer(fixing_script()) as server:
        done = sandloop(
            "run", "--repo", str(repo), "--base-url", server.base_url, "Fix it", home=home
        )
        assert done.returncode == 0, done.stderr
        assert outcomes(server.create_requests[1])[0]["exit_code"] == 1
        assert outcomes(server.create_requests[3])[0]["exit_code"] == 0
    assert FIXED_LINE in (repo / "shop" / "pricing.py").read_text()
    out = done.stdout
    assert "Running the tests." in out
    assert "✗ shell python3 -B -m unittest  exit 1" in out  # the tests failed: no ✓
    assert "✓ apply_patch update_file shop/pricing.py  completed" in out
    assert "exit 0" in out
    assert "Fixed the subtotal" in out
    assert "shop/pricing.py +1 -1" in out  # the git diff stat of the changed file
    assert "completed in 4 turn(s)" in out
    records = transcript(home)
    kinds = [r["type"] for r in records]
    assert kinds[0] == "run"
    assert kinds.count("request") == kinds.count("response") == 4
    assert kinds.count("tool_output") == 3
    assert records[-1]["type"] == "end"
    assert records[-1]["status"] == "completed"
    assert f"{home / 'runs'}" in out  # the transcript's location is printed


def test_a_failed_run_exits_1_with_one_clear_sentence(repo: Path, home: Path) -> None:
    script = [Turn([], status="failed", error={"code": "server_error", "message": "Model broke."})]
    with ScriptedResponsesServer(script) as server:
        done = sandloop(
            "run", "--repo", str(repo), "--base-url", server.base_url, "Fix it", home=home
        )
    assert done.returncode == 1
    assert "Model broke." in done.stderr
    assert "Traceback" not in done.stderr
    assert transcript(home)[-1]["status"] == "failed"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(repo: Path, home: Path, where: str) -> None:
    # `sandloop --debug run ...` and `sandloop run --debug ...` (the README's synopsis) alike.
    script = [Turn([], status="failed")]
    flags = ["run", "--repo", str(repo), "--base-url"]
    argv = ["--debug", *flags] if where == "before" else [*flags[:1], "--debug", *flags[1:]]
    with ScriptedResponsesServer(script) as server:
        done = sandloop(*argv, server.base_url, "Fix it", home=home)
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr


def test_debug_is_accepted_by_every_subcommand() -> None:
    parser = build_parser()
    assert parser.parse_args(["sandboxes", "ls", "--debug"]).debug is True
    assert parser.parse_args(["--debug", "images", "ls"]).debug is True
    assert getattr(parser.parse_args(["images", "ls"]), "debug", False) is False


def test_usage_errors_exit_2(repo: Path, home: Path) -> None:
    bad_flag = sandloop("run", "--max-turns", "0", "x", home=home)
    assert bad_flag.returncode == 2
    assert "--max-turns" in bad_flag.stderr
    no_key = sandloop("run", "--repo", str(repo), "x", home=home)
    assert no_key.returncode == 2
    assert "OPENAI_API_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr
    no_repo = sandloop("run", "--repo", str(repo / "missing"), "x", home=home)
    assert no_repo.returncode == 2
    assert "not a directory" in no_repo.stderr


def test_approve_deny_runs_nothing(repo: Path, home: Path) -> None:
    def denied(request: RecordedRequest) -> list[Any]:
        (output,) = request.body["input"]
        assert output["type"] == "shell_call_output"
        assert "--approve deny" in json.dumps(output)
        return [message("I was not allowed to run anything.", phase="final_answer")]

    script: list[TurnLike] = [[shell_call(["touch created-by-agent"])], denied]
    with ScriptedResponsesServer(script) as server:
        done = sandloop(
            "run",
            "--repo",
            str(repo),
            "--base-url",
            server.base_url,
            "--approve",
            "deny",
            "Touch a file",
            home=home,
        )
    assert done.returncode == 0, done.stderr
    assert not (repo / "created-by-agent").exists()
    assert "✗ shell touch created-by-agent  denied" in done.stdout


def test_approve_ask_prompts_for_each_call(repo: Path, home: Path) -> None:
    outputs: list[str] = []

    def after(request: RecordedRequest) -> list[Any]:
        outputs.extend(str(item["output"]) for item in request.body["input"])
        return [message("done", phase="final_answer")]

    script: list[TurnLike] = [
        [shell_call(["touch yes-file"]), shell_call(["touch no-file"])],
        after,
    ]
    with ScriptedResponsesServer(script) as server:
        done = sandloop(
            "run",
            "--repo",
            str(repo),
            "--base-url",
            server.base_url,
            "--approve",
            "ask",
            "Touch files",
            home=home,
            stdin="y\nn\n",
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Allow? [y/N]") == 2
    assert (repo / "yes-file").exists()
    assert not (repo / "no-file").exists()
    # The refusal is said once, not "denied this call: the user refused this call".
    assert "'stderr': 'The user denied this shell call. Do not retry it as is.'" in outputs[1]


def test_approve_ask_without_a_terminal_is_refused_before_any_request(
    repo: Path, home: Path
) -> None:
    with ScriptedResponsesServer([]) as server:  # any request at all would be an extra one
        done = subprocess.run(
            [sys.executable, "-m", "sandloop.cli", "run", "--approve", "ask", "--repo", str(repo),
             "--base-url", server.base_url, "Touch files"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
            env=cli_env(home),
        )  # fmt: skip
        assert server.requests == []
    assert done.returncode == 2, done.stderr
    assert "--approve ask: standard input is not a terminal" in done.stderr
    assert "--approve auto or --approve deny" in done.stderr


def test_approve_ask_says_when_its_input_ran_out(repo: Path, home: Path) -> None:
    def after(request: RecordedRequest) -> list[Any]:
        return [message("done", phase="final_answer")]

    script: list[TurnLike] = [
        [shell_call(["touch yes-file"]), shell_call(["touch no-file"])],
        after,
    ]
    with ScriptedResponsesServer(script) as server:
        done = sandloop(
            "run", "--repo", str(repo), "--base-url", server.base_url, "--approve", "ask",
            "Touch files", home=home, stdin="y\n",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Allow? [y/N]") == 2
    assert "(no answer: standard input has ended) denied" in done.stderr
    assert (repo / "yes-file").exists()
    assert not (repo / "no-file").exists()


def test_approve_ask_shows_the_patch_it_asks_about(repo: Path, home: Path) -> None:
    # Approving "update_file shop/pricing.py" blind is no approval: the prompt shows the diff.
    script = [
        [apply_patch_call("update_file", "shop/pricing.py", FIX)],
        [message("not applied", phase="final_answer")],
    ]
    with ScriptedResponsesServer(script) as server:
        done = sandloop(
            "run",
            "--repo",
            str(repo),
            "--base-url",
            server.base_url,
            "--approve",
            "ask",
            "Fix it",
            home=home,
            stdin="n\n",
        )
    assert done.returncode == 0, done.stderr
    prompt = done.stderr[: done.stderr.index("Allow? [y/N]")]
    assert "update_file shop/pricing.py" in prompt
    assert "+        total += line.unit_cents * line.quantity" in prompt
    assert FIXED_LINE not in (repo / "shop" / "pricing.py").read_text()


def test_copy_mode_leaves_the_repository_alone(repo: Path, home: Path) -> None:
    with ScriptedResponsesServer(fixing_script()) as server:
        done = sandloop(
            "run", "--copy", "--diff", "--repo", str(repo), "--base-url", server.base_url,
            "Fix it", home=home,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert FIXED_LINE not in (repo / "shop" / "pricing.py").read_text()
    (run_dir,) = (home / "runs").iterdir()
    patch = (run_dir / "changes.patch").read_text()
    assert f"+        {FIXED_LINE}" in patch
    assert "changes.patch" in done.stdout
    assert f"+        {FIXED_LINE}" in done.stdout  # --diff: the patch is shown too
    applied = subprocess.run(["git", "-C", str(repo), "apply", str(run_dir / "changes.patch")])
    assert applied.returncode == 0
    assert FIXED_LINE in (repo / "shop" / "pricing.py").read_text()


def test_json_prints_one_event_per_line(repo: Path, home: Path) -> None:
    with ScriptedResponsesServer(fixing_script()) as server:
        done = sandloop(
            "run", "--json", "--repo", str(repo), "--base-url", server.base_url, "Fix it", home=home
        )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_ended"
    assert kinds.count("tool_call_finished") == 3
    finished = [e for e in events if e["event"] == "tool_call_finished"]
    assert [e["outcome"] for e in finished] == ["exit 1", "completed", "exit 0"]
    assert "text_delta" in kinds
    end = events[-1]
    assert end["status"] == "completed"
    assert end["changes"] == [
        {"path": "shop/pricing.py", "added": 1, "removed": 1, "status": "modified"}
    ]


def record_fixing_run(repo: Path, home: Path, cassette: Path) -> Path:
    """Run the fixing script on ``repo`` with ``--record`` and return the cassette."""
    with ScriptedResponsesServer(fixing_script()) as server:
        recorded = sandloop(
            "run", "--repo", str(repo), "--base-url", server.base_url,
            "--record", str(cassette), "Fix it", home=home,
        )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    return cassette


def test_record_then_replay_without_a_server(repo: Path, home: Path, tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    shutil.copytree(repo, pristine)
    cassette = record_fixing_run(repo, home, tmp_path / "run.cassette.json")
    assert len(json.loads(cassette.read_text())["exchanges"]) == 4
    # Nothing listens on the environment's base URL: the replay must not need it.
    replayed = sandloop(
        "run",
        "--repo",
        str(pristine),
        "--replay",
        str(cassette),
        "Fix it",
        home=tmp_path / "home2",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    assert replayed.returncode == 0, replayed.stderr
    assert FIXED_LINE in (pristine / "shop" / "pricing.py").read_text()
    assert "exit 1" in replayed.stdout
    assert "exit 0" in replayed.stdout


def test_replay_names_the_turn_where_the_run_diverged(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    shutil.copytree(repo, fixed)
    cassette = record_fixing_run(repo, home, tmp_path / "run.cassette.json")
    # Already fixed: the first test run now passes where the cassette saw it fail.
    shutil.copy(repo / "shop" / "pricing.py", fixed / "shop" / "pricing.py")
    done = sandloop(
        "run", "--repo", str(fixed), "--replay", str(cassette), "Fix it", home=tmp_path / "h2"
    )
    assert done.returncode == 1
    assert "diverged from the cassette at turn 2" in done.stderr
    assert "exit 0" in done.stderr
    assert "exit 1" in done.stderr
    assert "Traceback" not in done.stderr
    other_task = sandloop(
        "run", "--repo", str(fixed), "--replay", str(cassette), "Do more", home=tmp_path / "h3"
    )
    assert other_task.returncode == 1
    assert "diverged from the cassette at turn 1" in other_task.stderr
    assert "'Do more'" in other_task.stderr


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_removes_the_container_and_keeps_the_transcript(
    repo: Path, home: Path, docker_client: Any, signum: int, status: int
) -> None:
    server = ScriptedResponsesServer([[shell_call(["sleep 300"], timeout_ms=600_000)]]).start()
    label = "org.sandloop.host-pid=none"
    try:
        with subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandloop.cli",
                "run",
                "--repo",
                str(repo),
                "--base-url",
                server.base_url,
                "Wait",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(home),
        ) as proc:
            label = f"org.sandloop.host-pid={proc.pid}"
            try:
                _wait_for(lambda: _has_tool_call_running(docker_client, label), proc)
                proc.send_signal(signum)
                out, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    finally:
        server.close()
        for leftover in docker_client.containers.list(all=True, filters={"label": label}):
            leftover.remove(force=True)  # only when the test failed: do not leak containers
    assert proc.returncode == status, err
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
    assert "interrupted: the sandbox was removed" in out
    records = transcript(home)
    assert records[-1]["type"] == "end"
    assert records[-1]["status"] == "cancelled"
    assert [r["type"] for r in records].count("response") == 1


def _has_tool_call_running(client: Any, label: str) -> bool:
    for container in client.containers.list(filters={"label": label}):
        top = container.top()
        if any("sleep 300" in " ".join(p) for p in top.get("Processes") or []):
            return True
    return False


def _wait_for(condition: Any, proc: subprocess.Popen[str]) -> None:
    for _ in range(600):
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"sandloop exited early ({proc.returncode}): {proc.communicate()}")
        time.sleep(0.1)
    pytest.fail("the sandbox never started the command")


def test_local_shell_and_network_flags(repo: Path, home: Path) -> None:
    def answer(request: RecordedRequest) -> list[Any]:
        (output,) = request.body["input"]
        assert output["type"] == "local_shell_call_output"
        assert "hello from the sandbox" in output["output"]
        return [message("It said hello.", phase="final_answer")]

    script: list[TurnLike] = [[local_shell_call(["echo", "hello from the sandbox"])], answer]
    with ScriptedResponsesServer(script) as server:
        done = sandloop(
            "run",
            "--local-shell",
            "--repo",
            str(repo),
            "--base-url",
            server.base_url,
            "Say hello",
            home=home,
        )
        tools = [t["type"] for t in server.create_requests[0].body["tools"]]
    assert done.returncode == 0, done.stderr
    assert tools == ["shell", "apply_patch", "local_shell"]
    assert "✓ local_shell echo hello from the sandbox  completed" in done.stdout
    assert "no network" in done.stdout


def test_a_missing_image_says_how_to_build_it(repo: Path, home: Path) -> None:
    with ScriptedResponsesServer([]) as server:
        done = sandloop(
            "run",
            "--image",
            "sandloop/no-such-image:0",
            "--repo",
            str(repo),
            "--base-url",
            server.base_url,
            "x",
            home=home,
        )
    assert done.returncode == 1
    assert "sandloop images build" in done.stderr
    assert "Traceback" not in done.stderr
    assert transcript(home)[-1]["status"] == "failed"


def test_ctrl_c_at_an_approval_prompt_still_cleans_up(
    repo: Path, home: Path, docker_client: Any
) -> None:
    server = ScriptedResponsesServer([[shell_call(["touch never-run"])]]).start()
    label = "org.sandloop.host-pid=none"
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "sandloop.cli", "run", "--approve", "ask", "--repo", str(repo),
             "--base-url", server.base_url, "Touch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=cli_env(home),
        ) as proc:  # fmt: skip
            label = f"org.sandloop.host-pid={proc.pid}"
            try:
                # The response is in the transcript: the prompt is up, waiting on stdin.
                _wait_for(lambda: _transcript_has(home, "response"), proc)
                time.sleep(0.5)
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    finally:
        server.close()
        for leftover in docker_client.containers.list(all=True, filters={"label": label}):
            leftover.remove(force=True)
    assert proc.returncode == 130, err
    assert "Allow? [y/N]" in err
    assert "interrupted: the sandbox was removed" in out
    assert not (repo / "never-run").exists()
    assert docker_client.containers.list(all=True, filters={"label": label}) == []
    assert transcript(home)[-1]["status"] == "cancelled"


def _transcript_has(home: Path, kind: str) -> bool:
    runs = home / "runs"
    if not runs.is_dir():
        return False
    return any(f'"type": "{kind}"' in p.read_text() for p in runs.glob("*/transcript.jsonl"))


def test_an_answer_cut_mid_stream_is_retried_and_shown_once(repo: Path, home: Path) -> None:
    answer = "Checked the code.\nNothing needs fixing: the tests are about prices, and they add up."
    # Cut after three text deltas: the first line of the answer has already been printed.
    cut = drop_connection(after_events=7)
    turns = [Turn([message(answer, phase="final_answer")], faults=[cut])]
    with ScriptedResponsesServer(turns) as server:
        done = sandloop(
            "run", "--repo", str(repo), "--base-url", server.base_url, "Check it", home=home
        )
        assert done.returncode == 0, done.stdout + done.stderr
        first, again = server.create_requests
        assert first.body == again.body
    out = done.stdout
    (notice,) = [line for line in out.splitlines() if line.startswith("↻")]
    assert notice.startswith("↻ answer cut off (connection lost): retrying in ")
    assert notice.endswith(" s (attempt 2 of 3); the text above is discarded")
    assert out.count("Nothing needs fixing: the tests are about prices, and they add up.") == 1
    assert out.index(notice) < out.rindex("Checked the code.")
    assert "completed in 1 turn(s)" in out
    records = transcript(home)
    kinds = [r["type"] for r in records]
    assert kinds.count("request") == 2
    assert kinds.count("response") == 1

"""How fast a large run's and a large batch's ``sandloop view`` pages open in a browser.

Two records, then their pages loaded in headless Chromium (``tests/e2e/browser_support.py``):

* a real 500-turn run: ``sandloop run --local`` against the scripted Responses server, each turn
  a shell call (every fifth one a long output, collapsed on the page) or an apply_patch call,
  then the final answer;
* a 500-task batch directory: each task a real 3-turn run's journal, diff and test log (one
  ``sandloop.run`` with a LocalSandbox, copied), with varied statuses, times and costs in its
  ``result.json``. (Running 500 Docker sandboxes is ``tools/bench_batch.py``'s job; this
  measures the page.)
* with ``--computer-turns N``: a real N-turn computer-use run (the sandloop/computer image, a
  click on a form each turn, every turn's screenshot on the page), read from its journal.

For each: how long ``sandloop view`` takes to write the page(s), the page's size, and — the
median of ``--repeat`` loads in a fresh tab — the browser's own DOMContentLoaded and load event
times (ms from the start of navigation) and ours (from asking to navigate to the load event).
Run: ``python tools/bench_view.py [--turns 500] [--tasks 500] [--repeat 5] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from browser_support import Timing, browser_binary, chromium

import sandloop
from sandloop.cli.changes import tree_diff
from sandloop.sandboxes import LocalSandbox
from sandloop.testing import (
    ScriptedResponsesServer,
    apply_patch_call,
    computer_call,
    message,
    shell_call,
)


def big_run(root: Path, turns: int) -> Path:
    """A real run of ``turns`` model calls: its run directory."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    (repo / "notes.txt").write_text("start\n")
    script: list[Any] = []
    for turn in range(1, turns):
        if turn % 3 == 0:
            diff = f"+line {turn}\n+second line of {turn}\n"
            script.append([apply_patch_call("create_file", f"files/f{turn}.txt", diff)])
        elif turn % 5 == 0:
            script.append([shell_call([f"seq 1 2000 | sed 's/^/turn {turn} line /'"])])
        else:
            script.append(
                [message(f"Turn {turn}: looking around.", phase="commentary"), shell_call(["ls"])]
            )
    script.append([message("Done: the files are written.", phase="final_answer")])
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["SANDLOOP_HOME"] = str(home)
    with ScriptedResponsesServer(script) as server:
        command = [sys.executable, "-m", "sandloop.cli", "run", "--local", "--repo", str(repo)]
        command += ["--base-url", server.base_url, "--max-turns", str(turns + 5), "--json"]
        done = subprocess.run(
            [*command, "Write the files."], env=env, capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"the {turns}-turn run failed: {done.stderr[-2000:]}")
    (run_dir,) = (home / "runs").iterdir()
    return run_dir


def small_task(root: Path) -> Path:
    """A real 3-turn run's journal, diff and test log, as a batch task directory holds them."""
    workspace, folder = root / "workspace", root / "task"
    workspace.mkdir(parents=True)
    folder.mkdir()
    (workspace / "ops.py").write_text("def add(a, b):\n    return a - b\n")
    fix = "@@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
    script = [
        [shell_call(["cat ops.py"])],
        [apply_patch_call("update_file", "ops.py", fix)],
        [message("Fixed add.", phase="final_answer")],
    ]
    agent = sandloop.Agent(
        "gpt-5.1", tools=[sandloop.ShellTool(), sandloop.ApplyPatchTool()], instructions="Fix it."
    )
    before = root / "before"
    shutil.copytree(workspace, before)
    journal = folder / "journal.jsonl"
    with ScriptedResponsesServer(script) as server:
        client = sandloop.ResponsesClient(base_url=server.base_url, api_key="sk-bench")
        sandbox = LocalSandbox(workspace)
        sandloop.run_sync(agent, "Fix add.", client=client, sandbox=sandbox, journal=journal)
    (folder / "changes.patch").write_text(tree_diff(before, workspace))
    test = subprocess.run(
        [sys.executable, "-c", "from ops import add; assert add(2, 3) == 5"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    (folder / "test.txt").write_text(f"$ assert add(2, 3) == 5\nexit {test.returncode}\n")
    return folder


def computer_run(root: Path, turns: int) -> Path:
    """A real ``turns``-turn computer-use run: its journal."""
    import anyio

    from sandloop.executors.computer import ComputerTool, DesktopComputer
    from sandloop.sandboxes.docker import DockerSandbox
    from sandloop.sandboxes.images import image_tag

    page = (
        '<!doctype html><title>Form</title><body style="margin:0;font:20px sans-serif">'
        '<input id="n" style="position:absolute;left:100px;top:100px;width:400px"></body>'
    )
    workspace, journal = root / "workspace", root / "journal.jsonl"
    workspace.mkdir(parents=True)
    (workspace / "page.html").write_text(page)
    script: list[Any] = [[computer_call({"type": "screenshot"})]]
    for turn in range(2, turns):
        click = {"type": "click", "button": "left", "x": 100 + turn % 400, "y": 110}
        script.append([computer_call([click, {"type": "type", "text": f"{turn % 10}"}])])
    script.append([message("Done.", phase="final_answer")])

    async def go() -> None:
        async with DockerSandbox(image_tag("computer"), workspace=workspace) as sandbox:
            desktop = DesktopComputer(sandbox, display_size=(1280, 800), environment="browser")
            url = "file:///workspace/page.html"
            await desktop.launch(["browser", "--kiosk", "--force-device-scale-factor=1", url])
            await anyio.sleep(5)  # the browser window opens
            tools = [ComputerTool(desktop, preview=True)]
            agent = sandloop.Agent("computer-use-preview", tools=tools, max_turns=turns + 5)
            with ScriptedResponsesServer(script) as server:
                client = sandloop.ResponsesClient(base_url=server.base_url, api_key="sk-bench")
                async with client:
                    await sandloop.run(
                        agent, "Type.", sandbox=sandbox, client=client, journal=journal
                    )

    anyio.run(go)
    return journal


def big_batch(root: Path, tasks: int) -> Path:
    """A batch output directory of ``tasks`` tasks (see the module's docstring)."""
    model = small_task(root / "model")
    out = root / "batch"
    pick = random.Random(17)
    statuses = ["solved"] * 6 + ["unsolved"] * 2 + ["failed", "error", "timeout"]
    for number in range(tasks):
        task_id = f"task-{number:04d}"
        folder = out / "tasks" / task_id
        shutil.copytree(model, folder)
        status = pick.choice(statuses)
        record: dict[str, Any] = {
            "id": task_id,
            "status": status,
            "reason": None if status == "solved" else f"test exited {pick.randint(1, 3)}",
            "turns": pick.randint(1, 40),
            "tokens": pick.randint(500, 90_000),
            "cost": round(pick.uniform(0.001, 0.4), 6),
            "wall_time": round(pick.uniform(5, 600), 3),
            "attempt": 1,
            "resumed": False,
            "labels": {},
        }
        (folder / "result.json").write_text(json.dumps(record))
    (out / "summary.json").write_text(json.dumps({"tasks": tasks, "unfinished": 0}))
    return out


def view(path: Path) -> tuple[Path, float]:
    """``sandloop view PATH``: the page and the seconds it took to write it."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sandloop.cli", "view", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip()), time.perf_counter() - start


#: Milliseconds the page's script takes to sort the batch table by time (a click on its header).
SORT = """(() => { const start = performance.now();
  document.querySelectorAll('table.tasks th')[6].click();
  return performance.now() - start; })()"""
#: Milliseconds to load and decode every (lazy) screenshot of a computer run's page.
DECODE = """(async () => { const start = performance.now();
  await Promise.all([...document.images].map(i => { i.loading = 'eager'; return i.decode(); }));
  return performance.now() - start; })()"""
#: Milliseconds to open every collapsed block of a run page and lay it out.
EXPAND = """(() => { const start = performance.now();
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.body.getBoundingClientRect(); return performance.now() - start; })()"""


def measure(binary: str, page: Path, repeat: int, action: str) -> tuple[list[Timing], float]:
    """``repeat`` loads of ``page``, each in a fresh browser, and the median ms of ``action``
    run on the loaded page."""
    timings, acted = [], []
    for _ in range(repeat):
        with chromium(binary) as tab:
            timings.append(tab.open(page.as_uri()))
            acted.append(float(tab.evaluate(action)))
    return timings, statistics.median(acted)


def report(label: str, page: Path, seconds: float, timings: list[Timing]) -> None:
    pages = list(page.parent.rglob("*.html")) if page.name == "index.html" else [page]
    size, files = sum(p.stat().st_size for p in pages), len(pages)
    ready = statistics.median(t.dom_ready for t in timings)
    load = statistics.median(t.load for t in timings)
    wall = statistics.median(t.wall for t in timings)
    print(
        f"{label:<18} view {seconds:6.2f} s  {files:>4} page(s) {size / 1e6:7.2f} MB  "
        f"DOMContentLoaded {ready:7.0f} ms  load {load:7.0f} ms  navigate→load {wall:7.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--computer-turns", type=int, default=0, help="0: no computer run")
    parser.add_argument("--keep", type=Path, help="make the records here and keep them")
    args = parser.parse_args()
    binary = browser_binary()
    if binary is None:
        raise SystemExit("no chromium: run tools/ensure_browser.sh")
    root = args.keep or Path(tempfile.mkdtemp(prefix="sandloop-bench-view-"))
    try:
        print(f"making a {args.turns}-turn run and a {args.tasks}-task batch in {root}")
        run_dir = big_run(root / "run", args.turns)
        batch = big_batch(root / "batch", args.tasks)
        cases = [
            (f"{args.turns}-turn run", run_dir, EXPAND, "open every collapsed block"),
            (f"{args.tasks}-task batch", batch, SORT, "sort the table by time"),
        ]
        if args.computer_turns:
            journal = computer_run(root / "computer", args.computer_turns)
            cases.append(
                (f"{args.computer_turns}-turn computer", journal, DECODE, "decode every screenshot")
            )
        for label, path, action, doing in cases:
            page, seconds = view(path)
            timings, acted = measure(binary, page, args.repeat, action)
            report(label, page, seconds, timings)
            print(f"{'':<18} {doing}: {acted:.0f} ms")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

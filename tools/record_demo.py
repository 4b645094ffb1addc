"""Record the cassette ``sandloop demo`` replays: ``python tools/record_demo.py``.

The model's side of the demo is scripted here (a ScriptedResponsesServer on 127.0.0.1 plays
it, with realistic token usage): run the tests, read the code, fix it with apply_patch, run
the tests again, answer. The CLI session records the exchanges against a fresh copy of the
bundled project with every tool call really executing (in Docker; ``--local``: in a
LocalSandbox), so the cassette holds the real requests (instructions, tools, tool outputs)
the CLI sends. Re-run it whenever the CLI's
instructions or tools change: the demo's replay checks them.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

import anyio

from sandloop.cli.display import JsonDisplay
from sandloop.cli.session import SessionOptions, run_session
from sandloop.testing import ScriptedResponsesServer, Turn, apply_patch_call, message, shell_call

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "sandloop" / "cli" / "demo"
TASK = "The tests of this project fail. Find the bug and fix it."
MODEL = "gpt-5.1"
TESTS = "python3 -B -m unittest -v"

FIX = (
    '     """The sum of unit price times quantity over all lines, in cents."""\n'
    "     total = 0\n"
    "     for line in lines:\n"
    "-        total += line.unit_cents\n"
    "+        total += line.unit_cents * line.quantity\n"
    "     return total\n"
)

FINAL = (
    "Fixed: `subtotal` in `shop/pricing.py` added each line's unit price once and ignored its "
    "quantity, so every cart with more than one of an item was undercharged. It now adds "
    "`unit_cents * quantity`. The three failing tests (quantities, half-up discount rounding, "
    "no discount) all depended on it; the whole suite passes now (5 tests)."
)


def usage(input_tokens: int, cached: int, output_tokens: int, reasoning: int) -> dict[str, object]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


SCRIPT = [
    Turn(
        [
            message("I'll start by running the test suite to see what fails.", phase="commentary"),
            shell_call([TESTS], timeout_ms=120_000),
        ],
        usage=usage(1630, 0, 96, 64),
    ),
    Turn(
        [
            message(
                "Three of five tests fail, and all of them involve quantities greater than one. "
                "Let me read the pricing code.",
                phase="commentary",
            ),
            shell_call(["cat shop/pricing.py"]),
        ],
        usage=usage(2410, 1536, 88, 40),
    ),
    Turn(
        [
            message(
                "`subtotal` adds `line.unit_cents` once per line and never multiplies by the "
                "quantity. Fixing it.",
                phase="commentary",
            ),
            apply_patch_call("update_file", "shop/pricing.py", FIX),
        ],
        usage=usage(2790, 2304, 212, 128),
    ),
    Turn(
        [
            message("Running the tests again.", phase="commentary"),
            shell_call([TESTS], timeout_ms=120_000),
        ],
        usage=usage(2851, 2688, 41, 0),
    ),
    Turn([message(FINAL, phase="final_answer")], usage=usage(3102, 2816, 118, 32)),
]


async def record(target: Path, *, local: bool) -> int:
    work = Path(tempfile.mkdtemp(prefix="sandloop-record-"))
    try:
        project = work / "project"
        shutil.copytree(DEMO / "project", project)
        with ScriptedResponsesServer(SCRIPT) as server:
            options = SessionOptions(
                task=TASK,
                repo=project,
                model=MODEL,
                local=local,
                base_url=server.base_url,
                record=target,
                run_root=work / "runs",
            )
            outcome = await run_session(options, JsonDisplay(io.StringIO()))
        if not outcome.ok:
            print(f"recording failed: {outcome.error}", file=sys.stderr)
            return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    target = DEMO / "cassette.json"
    # Docker by default, so the recorded outputs show /workspace paths, as a demo run shows.
    status = anyio.run(partial(record, target, local="--local" in sys.argv))
    if status == 0:
        print(f"wrote {target.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: sandloop's V4A engine against openai-agents' ``apply_diff`` on the same diff.

A 20,000-line Python-like file (many repeated lines, as real code has) gets 200 hunks spread
over it, each with 3 lines of context and a ``@@`` anchor. Both engines run in this process on
the same input; both results are checked against the expected file. Prints the best time of
several rounds for each and the ratio.

    python tools/bench_patch.py [--lines 20000] [--hunks 200] [--rounds 7]

Needs the ``bench`` extra (``openai-agents``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from agents.apply_diff import apply_diff as agents_apply_diff

from sandloop.patching import apply_v4a

FUNCTION = (
    "def func_{k}(x):",
    '    """Return x shifted by {k}."""',
    "    y = x + {k}",
    "    if y > 10:",
    "        return y",
    "    return None",
    "",
    "",
)


def make_file(lines: int) -> list[str]:
    """About ``lines`` lines of small functions sharing most of their lines."""
    out: list[str] = []
    k = 0
    while len(out) < lines:
        out.extend(line.format(k=k) for line in FUNCTION)
        k += 1
    return out[:lines]


def make_diff(original: list[str], hunks: int) -> tuple[str, list[str]]:
    """A V4A body changing ``hunks`` evenly spread functions, and the expected result."""
    functions = len(original) // len(FUNCTION)
    step = max(1, functions // hunks)
    expected = list(original)
    body: list[str] = []
    for k in range(0, step * hunks, step):
        at = k * len(FUNCTION) + 2  # the `y = x + k` line
        old, new = original[at], original[at].replace("+", "-")
        expected[at] = new
        body.append(f"@@ def func_{k}(x):")
        body += [f" {line}" for line in original[at - 1 : at]]
        body += [f"-{old}", f"+{new}"]
        body += [f" {line}" for line in original[at + 1 : at + 4]]
    return "\n".join(body) + "\n", expected


def best_of(rounds: int, run: Callable[[], str]) -> tuple[float, str]:
    best, result = float("inf"), ""
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--hunks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    lines = make_file(args.lines)
    original = "\n".join(lines) + "\n"
    diff, expected_lines = make_diff(lines, args.hunks)
    expected = "\n".join(expected_lines) + "\n"

    ours, ours_out = best_of(args.rounds, lambda: apply_v4a(original, diff, path="big.py"))
    theirs, theirs_out = best_of(args.rounds, lambda: agents_apply_diff(original, diff))
    assert ours_out == expected, "sandloop produced a wrong result"
    assert theirs_out == expected, "openai-agents produced a wrong result"

    print(f"file: {len(lines)} lines, diff: {args.hunks} hunks, best of {args.rounds} rounds")
    print(f"sandloop.patching.apply_v4a : {ours * 1000:9.2f} ms")
    print(f"agents.apply_diff           : {theirs * 1000:9.2f} ms")
    print(f"ratio (agents / sandloop)   : {theirs / ours:9.1f}x")


if __name__ == "__main__":
    main()

"""The matcher's worst cases: repeated lines cost linear work, and a Budget stops it."""

from __future__ import annotations

import pytest

from sandloop.errors import PatchConflictError, PatchTimeoutError
from sandloop.patching import Budget, apply_diff, apply_unified
from sandloop.patching._match import LineIndex

ALTERNATING = "a\nb\n" * 80_000


def test_a_block_of_alternating_lines_is_found_where_the_pattern_breaks() -> None:
    text = ALTERNATING + "a\nc\n" + ALTERNATING
    body = " a\n b\n" * 2000 + " a\n-c\n+d\n"
    out = apply_diff(text, body, path="f")
    assert out == ALTERNATING + "a\nd\n" + ALTERNATING


def test_the_hostile_alternating_diff_fails_as_a_conflict() -> None:
    with pytest.raises(PatchConflictError, match="hunk 1 did not apply"):
        apply_diff(ALTERNATING, " a\n b\n" * 2000 + " a\n-a\n+c\n", path="f")


def test_near_picks_the_closest_occurrence_earlier_on_a_tie() -> None:
    index = LineIndex(["x", "y", "x", "y", "x", "y"])
    assert index.find_block(["x", "y"], start=0, near=3) == 2
    assert index.find_block(["x", "y"], start=0, near=5) == 4
    assert index.find_block(["x", "y"], start=3, near=0) == 4
    assert index.find_block(["y", "x"], start=0) == 1
    assert index.find_block(["z"], start=0) is None


def test_unified_line_numbers_choose_among_repeated_blocks() -> None:
    text = "k\nv\n" * 5
    diff = "--- a/f\n+++ b/f\n@@ -7,2 +7,2 @@\n k\n-v\n+w\n"
    assert apply_unified(text, diff, path="f") == "k\nv\n" * 3 + "k\nw\n" + "k\nv\n"


def test_a_spent_budget_stops_matching_with_a_typed_error() -> None:
    body = "".join(f"@@\n-{'a' if i % 2 == 0 else 'b'}\n+x\n" for i in range(50))
    with pytest.raises(PatchTimeoutError, match="took longer than 0 s") as info:
        apply_diff(ALTERNATING, body, path="f", budget=Budget(0))
    assert info.value.seconds == 0


def test_the_walk_for_files_past_the_code_points_agrees_with_the_fast_path() -> None:
    # Files with more distinct lines than code points fall back to walking positions.
    lines = ["x", "y", "x", "y", "z", "x", "y"]
    index = LineIndex(lines)
    for block, near in ((["x", "y"], None), (["x", "y"], 4), (["y", "z"], None), (["q"], None)):
        assert index._walk(block, start=0, near=near, level=0) == index.find_block(
            block, start=0, near=near
        )

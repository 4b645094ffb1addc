"""Standard unified diffs, parsed with unidiff and located with the same fuzz ladder."""

from __future__ import annotations

import pytest

from sandloop.errors import PatchConflictError, PatchParseError
from sandloop.patching import apply_diff, apply_unified, create_from_diff, is_unified

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 11))


def test_git_style_diff_applies() -> None:
    diff = (
        "diff --git a/f.txt b/f.txt\nindex 123..456 100644\n--- a/f.txt\n+++ b/f.txt\n"
        "@@ -2,3 +2,3 @@ some section\n line 2\n-line 3\n+LINE 3\n line 4\n"
    )
    assert apply_diff(ORIGINAL, diff, path="f.txt") == ORIGINAL.replace("line 3\n", "LINE 3\n")


def test_wrong_line_counts_are_recounted() -> None:
    diff = "--- a/f\n+++ b/f\n@@ -2,7 +2,9 @@\n line 2\n-line 3\n+x\n+y\n"
    assert apply_unified(ORIGINAL, diff, path="f") == ORIGINAL.replace("line 3\n", "x\ny\n")


def test_headers_may_be_missing() -> None:
    assert apply_unified("a\nb\n", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n", path="f") == "a\nc\n"


def test_the_match_closest_to_the_header_line_wins() -> None:
    original = "x\nsame\nx\nsame\nx\nsame\n"
    diff = "@@ -4,1 +4,1 @@\n-same\n+changed\n"
    assert apply_unified(original, diff, path="f") == "x\nsame\nx\nchanged\nx\nsame\n"


def test_wrong_line_numbers_still_find_the_lines() -> None:
    diff = "@@ -1,2 +1,2 @@\n line 7\n-line 8\n+eight\n"
    assert apply_unified(ORIGINAL, diff, path="f") == ORIGINAL.replace("line 8\n", "eight\n")


def test_several_hunks_and_blank_context_lines() -> None:
    original = "a\n\nb\nc\n\nd\n"
    diff = "@@ -1,3 +1,3 @@\n-a\n+A\n\n b\n@@ -4,3 +4,3 @@\n c\n\n-d\n+D\n"
    assert apply_unified(original, diff, path="f") == "A\n\nb\nc\n\nD\n"


def test_pure_insertion_uses_the_line_number() -> None:
    diff = "@@ -3,0 +4,1 @@\n+inserted\n"
    result = apply_unified(ORIGINAL, diff, path="f")
    assert result.splitlines()[:5] == ["line 1", "line 2", "line 3", "inserted", "line 4"]


def test_no_newline_marker_removes_the_final_newline() -> None:
    diff = "@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    assert apply_unified("a\nb\n", diff, path="f") == "a\nc"


def test_no_newline_marker_on_the_old_side_adds_it() -> None:
    diff = "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
    assert apply_unified("a\nb", diff, path="f") == "a\nc\n"


def test_crlf_is_kept() -> None:
    assert apply_unified("a\r\nb\r\n", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n", path="f") == "a\r\nc\r\n"


def test_new_file_against_dev_null() -> None:
    diff = "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+one\n+two\n"
    assert is_unified(diff)
    assert create_from_diff(diff, path="new.py") == "one\ntwo\n"


def test_multi_file_diff_picks_the_named_file() -> None:
    diff = "--- a/other\n+++ b/other\n@@ -1 +1 @@\n-x\n+y\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
    assert apply_unified("a\n", diff, path="f") == "b\n"


def test_multi_file_diff_about_other_files_is_refused() -> None:
    diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-x\n+y\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(PatchParseError, match=r"about 2 files \(x, y\)"):
        apply_unified("a\n", diff, path="f")


def test_unparseable_unified_diff() -> None:
    with pytest.raises(PatchParseError, match="not a valid unified diff") as err:
        apply_unified("a\n", "--- a/f\n+++ b/f\nrandom\n@@ -1 +1 @@\n-a\n+b\n", path="f")
    assert err.value.path == "f"


def test_conflict_reports_like_v4a() -> None:
    with pytest.raises(PatchConflictError) as err:
        apply_unified(ORIGINAL, "@@ -2,2 +2,2 @@\n line 2\n-line three\n+3\n", path="f")
    assert (err.value.hunk, err.value.line) == (1, "line three")
    assert "line 3" in err.value.closest


def test_removed_and_added_lines_that_look_like_file_headers() -> None:
    diff = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n--- x\n+++ y\n keep\n"
    assert apply_unified("-- x\nkeep\n", diff, path="f") == "++ y\nkeep\n"


def test_too_small_line_counts_do_not_drop_changes() -> None:
    diff = "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n+b\n-c\n+d\n"
    assert apply_unified("a\nc\n", diff, path="f") == "b\nd\n"

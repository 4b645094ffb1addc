"""V4A update and create bodies: every row of the behaviour table in notes/V4A.md."""

from __future__ import annotations

import pytest

from sandloop.errors import PatchConflictError, PatchParseError
from sandloop.patching import apply_diff, apply_v4a, create_from_v4a

GREET = 'def greet():\n    print("Hi")\n    return None\n'


def test_replaces_a_line_under_an_anchor() -> None:
    diff = '@@ def greet():\n-    print("Hi")\n+    print("Hello, world!")\n     return None\n'
    assert apply_v4a(GREET, diff, path="a.py") == (
        'def greet():\n    print("Hello, world!")\n    return None\n'
    )


def test_first_hunk_may_omit_the_anchor() -> None:
    assert apply_v4a("a\nb\nc\n", " a\n-b\n+B\n c\n", path="f") == "a\nB\nc\n"


# --- the fuzz ladder ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_line", "diff_line"),
    [
        pytest.param("x = 1   ", "x = 1", id="trailing-whitespace"),
        pytest.param("\tx = 1", "    x = 1", id="surrounding-whitespace"),
        pytest.param("a \u2013 b \u2014 c \u2212 d", "a - b - c - d", id="dashes"),
        pytest.param("say \u201chi\u201d and \u2018yo\u2019", "say \"hi\" and 'yo'", id="quotes"),
        pytest.param("a\u00a0b\u2003c\u202fd", "a b c d", id="unicode-spaces"),
        pytest.param("a - b", "a \u2011 b", id="ascii-in-file-unicode-in-diff"),
    ],
)
def test_fuzz_ladder_matches_and_keeps_the_files_context(file_line: str, diff_line: str) -> None:
    original = f"start\n{file_line}\nold\nend\n"
    diff = f" start\n {diff_line}\n-old\n+new\n end\n"
    # The context line keeps the file's own text, not the diff's approximation of it.
    assert apply_v4a(original, diff, path="f") == f"start\n{file_line}\nnew\nend\n"


def test_an_exact_match_wins_over_an_earlier_fuzzy_one() -> None:
    original = "x = 1  \ny\nx = 1\ny\n"
    assert apply_v4a(original, " x = 1\n-y\n+z\n", path="f") == "x = 1  \ny\nx = 1\nz\n"


def test_fuzz_does_not_match_different_text() -> None:
    with pytest.raises(PatchConflictError):
        apply_v4a("say 'hi'\n", '-say "hi"\n+bye\n', path="f")


# --- anchors ------------------------------------------------------------------------------


def test_repeated_context_matches_the_occurrence_after_the_anchor() -> None:
    original = "def a():\n    return 0\ndef b():\n    return 0\n"
    diff = "@@ def b():\n-    return 0\n+    return 1\n"
    assert apply_v4a(original, diff, path="f") == "def a():\n    return 0\ndef b():\n    return 1\n"


def test_stacked_anchors_narrow_the_search_step_by_step() -> None:
    original = (
        "class A:\n    def method(self):\n        pass\n"
        "class Other:\n    def method(self):\n        pass\n"
    )
    diff = "@@ class Other:\n@@     def method(self):\n-        pass\n+        return 1\n"
    assert apply_v4a(original, diff, path="f") == original.replace("pass\n", "return 1\n").replace(
        "return 1\nclass", "pass\nclass", 1
    )


def test_each_stacked_anchor_must_be_found() -> None:
    original = "class A:\n    def method(self):\n        pass\n"
    diff = "@@ class Missing:\n@@     def method(self):\n-        pass\n+        return 1\n"
    with pytest.raises(PatchConflictError) as err:
        apply_v4a(original, diff, path="m.py")
    assert err.value.line == "class Missing:"
    assert err.value.hunk == 1


def test_a_single_anchor_that_is_missing_fails_instead_of_being_ignored() -> None:
    with pytest.raises(PatchConflictError) as err:
        apply_v4a(GREET, '@@ def hello():\n-    print("Hi")\n+    pass\n', path="a.py")
    assert "anchor" in str(err.value)
    assert "def hello():" in str(err.value)
    assert err.value.closest == ("def greet():",)


def test_the_anchor_line_may_be_repeated_as_context() -> None:
    diff = '@@ def greet():\n def greet():\n-    print("Hi")\n+    pass\n'
    assert apply_v4a(GREET, diff, path="a.py") == "def greet():\n    pass\n    return None\n"


def test_anchors_are_searched_after_the_previous_hunk() -> None:
    original = "f():\n  x\nf():\n  x\n"
    diff = "@@ f():\n-  x\n+  y\n@@ f():\n-  x\n+  z\n"
    assert apply_v4a(original, diff, path="f") == "f():\n  y\nf():\n  z\n"


def test_hunks_out_of_order_fail() -> None:
    with pytest.raises(PatchConflictError) as err:
        apply_v4a("a\nb\nc\n", "-c\n+C\n@@\n-a\n+A\n", path="f")
    assert err.value.hunk == 2


# --- pure additions -------------------------------------------------------------------------


def test_pure_addition_goes_right_after_its_anchor() -> None:
    original = "import os\n\ndef main():\n    pass\n"
    assert apply_v4a(original, "@@ import os\n+import sys\n", path="f") == (
        "import os\nimport sys\n\ndef main():\n    pass\n"
    )


def test_pure_addition_without_anchor_goes_at_the_end() -> None:
    assert apply_v4a("a\nb\n", "+c\n+d\n", path="f") == "a\nb\nc\nd\n"


def test_pure_addition_to_an_empty_file() -> None:
    assert apply_v4a("", "+first\n", path="f") == "first\n"


# --- *** End of File and final newlines ----------------------------------------------------


def test_end_of_file_matches_the_real_last_lines() -> None:
    original = "x\nend\nx\nend\n"
    diff = " x\n-end\n+END\n*** End of File\n"
    assert apply_v4a(original, diff, path="f") == "x\nend\nx\nEND\n"


def test_end_of_file_hunk_adding_a_blank_line_keeps_the_final_newline() -> None:
    diff = "@@\n last\n+\n*** End of File\n"
    assert apply_v4a("first\nlast\n", diff, path="f") == "first\nlast\n\n"


def test_end_of_file_append_does_not_double_the_final_newline() -> None:
    diff = " last\n+more\n*** End of File\n"
    assert apply_v4a("first\nlast\n", diff, path="f") == "first\nlast\nmore\n"


def test_a_file_without_final_newline_keeps_it_that_way() -> None:
    assert apply_v4a("a\nb", " a\n-b\n+c\n", path="f") == "a\nc"


def test_end_of_file_hunk_that_is_not_at_the_end_fails_clearly() -> None:
    with pytest.raises(PatchConflictError) as err:
        apply_v4a("a\nb\nc\n", "-a\n+A\n*** End of File\n", path="f.txt")
    message = str(err.value)
    assert "End of File" in message
    assert "line 1" in message
    assert err.value.closest == ("a", "b", "c")


def test_created_file_always_ends_with_a_newline() -> None:
    assert create_from_v4a("+one\n+two") == "one\ntwo\n"
    assert create_from_v4a("+one\n+two\n") == "one\ntwo\n"
    assert create_from_v4a("+one\n+\n") == "one\n\n"
    assert create_from_v4a("") == ""


def test_created_file_empty_lines_are_kept_inside_and_dropped_at_the_end() -> None:
    assert create_from_v4a("+a\n\n+b\n\n\n") == "a\n\nb\n"


# --- line endings and encodings -------------------------------------------------------------


def test_crlf_file_stays_crlf_and_added_lines_get_crlf() -> None:
    original = "a\r\nb\r\nc\r\n"
    assert apply_v4a(original, " a\n-b\n+B\n+B2\n", path="f") == "a\r\nB\r\nB2\r\nc\r\n"


def test_crlf_diff_against_crlf_file() -> None:
    assert apply_v4a("a\r\nb\r\n", " a\r\n-b\r\n+c\r\n", path="f") == "a\r\nc\r\n"


def test_mixed_endings_are_written_uniformly() -> None:
    result = apply_v4a("a\r\nb\r\nc\n", "-a\n+A\n", path="f")
    assert result == "A\r\nb\r\nc\r\n"


def test_crlf_created_file() -> None:
    assert create_from_v4a("+a\r\n+b\r\n") == "a\r\nb\r\n"


def test_byte_order_mark_is_kept_and_ignored_for_matching() -> None:
    assert apply_v4a("\ufeffa\nb\n", "-a\n+A\n", path="f") == "\ufeffA\nb\n"


# --- failure messages -----------------------------------------------------------------------


def test_conflict_names_file_hunk_first_bad_line_and_closest_lines() -> None:
    original = "".join(f"line {i}\n" for i in range(1, 21))
    diff = "@@\n line 9\n-line 10\n+changed\n@@\n line 14\n-line fifteen\n+changed\n line 16\n"
    with pytest.raises(PatchConflictError) as err:
        apply_v4a(original, diff, path="src/data.txt")
    exc = err.value
    assert (exc.path, exc.hunk, exc.line) == ("src/data.txt", 2, "line fifteen")
    assert exc.closest == ("line 13", "line 14", "line 15", "line 16", "line 17")
    message = str(exc)
    assert message.startswith("src/data.txt: hunk 2 did not apply")
    assert "line 2 of the hunk, `line fifteen`" in message
    assert "   15 | line 15" in message
    assert "Nothing was changed" in message


def test_conflict_when_no_line_of_the_hunk_exists_shows_similar_lines() -> None:
    with pytest.raises(PatchConflictError) as err:
        apply_v4a(GREET, '-    print("Hey")\n+    pass\n', path="a.py")
    assert err.value.line == '    print("Hey")'
    assert err.value.closest == ('    print("Hi")',)
    assert "none of its lines is in the file" in str(err.value)


def test_nothing_is_returned_when_a_later_hunk_fails() -> None:
    with pytest.raises(PatchConflictError) as err:
        apply_v4a("a\nb\n", "-a\n+A\n@@\n-zzz\n+y\n", path="f")
    assert err.value.hunk == 2


@pytest.mark.parametrize(
    ("diff", "line_number", "words"),
    [
        pytest.param(" a\nxyz\n", 2, "does not start with ' ' (context)", id="bad-prefix"),
        pytest.param(" a\n*** End of File\n+b\n", 3, "follows `*** End of File`", id="after-eof"),
        pytest.param("@@ a\n@@\n", 1, "hunk 1 has no lines", id="empty-hunk"),
        pytest.param("-a\n+b\n@@ x\n", 3, "hunk 2 has no lines", id="empty-last-hunk"),
    ],
)
def test_parse_errors_give_the_diff_line(diff: str, line_number: int, words: str) -> None:
    with pytest.raises(PatchParseError) as err:
        apply_v4a("a\n", diff, path="p.txt")
    assert err.value.line_number == line_number
    assert err.value.path == "p.txt"
    assert words in str(err.value)
    assert f"line {line_number} of the diff" in str(err.value)


def test_an_empty_update_diff_is_an_error() -> None:
    with pytest.raises(PatchParseError, match="no changes"):
        apply_v4a("a\n", "\n\n", path="f")


def test_create_line_without_plus_is_an_error() -> None:
    with pytest.raises(PatchParseError) as err:
        create_from_v4a("+a\nb\n", path="new.txt")
    assert err.value.line_number == 2
    assert "new.txt: line 2" in str(err.value)


# --- dialect detection -------------------------------------------------------------------------


def test_apply_diff_accepts_a_one_file_envelope() -> None:
    envelope = "*** Begin Patch\n*** Update File: f\n-a\n+b\n*** End Patch\n"
    assert apply_diff("a\n", envelope, path="f") == "b\n"


def test_apply_diff_refuses_a_multi_file_envelope() -> None:
    envelope = "*** Begin Patch\n*** Update File: f\n-a\n+b\n*** Delete File: g\n*** End Patch\n"
    with pytest.raises(PatchParseError, match="whole patch envelope"):
        apply_diff("a\n", envelope, path="f")


def test_context_repeated_from_the_previous_hunk_is_not_duplicated() -> None:
    original = "a\nb\nc\nd\ne\nf\n"
    diff = "@@\n a\n-b\n+B\n c\n d\n@@\n c\n d\n-e\n+E\n f\n"
    assert apply_v4a(original, diff, path="f") == "a\nB\nc\nd\nE\nf\n"


def test_repeating_lines_the_previous_hunk_changed_still_fails() -> None:
    original = "a\nb\nc\nd\n"
    with pytest.raises(PatchConflictError) as err:
        apply_v4a(original, "@@\n a\n-b\n+B\n@@\n-b\n+X\n c\n", path="f")
    assert err.value.hunk == 2


def test_a_hunk_running_past_the_end_of_the_file_says_so() -> None:
    with pytest.raises(PatchConflictError) as err:
        apply_v4a("x\na\nb\n", " a\n b\n-c\n+d\n", path="f")
    assert err.value.line == "c"
    assert "line 3 of the hunk, `c`, is past the end of the file" in str(err.value)
    assert err.value.closest == ("a", "b")

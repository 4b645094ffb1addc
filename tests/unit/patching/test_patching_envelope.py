"""The *** Begin Patch envelope: parsing, and all-or-nothing planning against file texts."""

from __future__ import annotations

import pytest

from sandloop.errors import PatchConflictError, PatchParseError
from sandloop.patching import FileChange, FileOp, parse_envelope, plan_envelope

EXAMPLE = """*** Begin Patch
*** Add File: hello.txt
+Hello world
*** Update File: src/app.py
*** Move to: src/main.py
@@ def greet():
-print("Hi")
+print("Hello, world!")
*** Delete File: obsolete.txt
*** End Patch
"""

APP = 'def greet():\nprint("Hi")\n'


def test_parses_the_example_from_the_notes() -> None:
    assert parse_envelope(EXAMPLE) == [
        FileOp("add", "hello.txt", "+Hello world", line_offset=2),
        FileOp(
            "update",
            "src/app.py",
            '@@ def greet():\n-print("Hi")\n+print("Hello, world!")',
            move_to="src/main.py",
            line_offset=5,
        ),
        FileOp("delete", "obsolete.txt"),
    ]


def test_plan_computes_every_change_and_the_summary() -> None:
    files = {"src/app.py": APP, "obsolete.txt": "old\n"}
    plan = plan_envelope(parse_envelope(EXAMPLE), files)
    assert plan.summary == ("A hello.txt", "R src/app.py -> src/main.py", "D obsolete.txt")
    assert plan.changes == (
        FileChange("hello.txt", None, "Hello world\n"),
        FileChange("src/main.py", None, 'def greet():\nprint("Hello, world!")\n'),
        FileChange("src/app.py", APP, None),
        FileChange("obsolete.txt", "old\n", None),
    )
    assert plan.touched() == ("hello.txt", "src/main.py", "src/app.py", "obsolete.txt")


def test_one_failing_operation_fails_the_whole_plan() -> None:
    ops = parse_envelope(EXAMPLE.replace('-print("Hi")', '-print("Bye")'))
    with pytest.raises(PatchConflictError) as err:
        plan_envelope(ops, {"src/app.py": APP, "obsolete.txt": "old\n"})
    assert err.value.path == "src/app.py"


def test_add_overwrites_an_existing_file() -> None:
    ops = parse_envelope("*** Begin Patch\n*** Add File: a\n+new\n*** End Patch")
    plan = plan_envelope(ops, {"a": "old\n"})
    assert plan.changes == (FileChange("a", "old\n", "new\n"),)
    assert plan.summary == ("A a",)


def test_move_overwrites_an_existing_destination() -> None:
    text = "*** Begin Patch\n*** Update File: a\n*** Move to: b\n-x\n+y\n*** End Patch\n"
    plan = plan_envelope(parse_envelope(text), {"a": "x\n", "b": "other\n"})
    assert plan.changes == (FileChange("b", "other\n", "y\n"), FileChange("a", "x\n", None))


def test_pure_rename_without_changes() -> None:
    text = "*** Begin Patch\n*** Update File: a\n*** Move to: b\n*** End Patch\n"
    plan = plan_envelope(parse_envelope(text), {"a": "x\n"})
    assert plan.summary == ("R a -> b",)
    assert plan.changes == (FileChange("b", None, "x\n"), FileChange("a", "x\n", None))


def test_create_on_an_existing_different_file_fails() -> None:
    with pytest.raises(PatchConflictError, match="already exists with other content"):
        plan_envelope([FileOp("create", "a", "+new")], {"a": "old\n"})


def test_create_on_an_identical_file_succeeds_without_changes() -> None:
    plan = plan_envelope([FileOp("create", "a", "+same")], {"a": "same\n"})
    assert plan.changes == ()
    assert plan.summary == ("A a",)


@pytest.mark.parametrize("kind", ["update", "delete"])
def test_update_or_delete_of_a_missing_file_fails(kind: str) -> None:
    op = FileOp("update", "gone.txt", "-a\n+b\n") if kind == "update" else FileOp("delete", "gone")
    with pytest.raises(PatchConflictError, match="does not exist") as err:
        plan_envelope([op], {})
    assert err.value.path == op.path


def test_operations_see_the_results_of_earlier_ones() -> None:
    text = (
        "*** Begin Patch\n*** Add File: a\n+one\n*** Update File: a\n-one\n+two\n"
        "*** Delete File: b\n*** End Patch\n"
    )
    plan = plan_envelope(parse_envelope(text), {"b": "x\n"})
    assert plan.summary == ("A a", "M a", "D b")
    assert plan.changes == (FileChange("a", None, "two\n"), FileChange("b", "x\n", None))


def test_crlf_lines_blank_surroundings_and_missing_final_newline_are_accepted() -> None:
    text = "\n\r\n*** Begin Patch\r\n*** Delete File: a\r\n*** End Patch"
    assert parse_envelope(text) == [FileOp("delete", "a")]


def test_envelope_parse_error_line_numbers_point_into_the_envelope() -> None:
    text = "*** Begin Patch\n*** Update File: a\n@@\n-x\nbogus\n*** End Patch\n"
    with pytest.raises(PatchParseError) as err:
        plan_envelope(parse_envelope(text), {"a": "x\n"})
    assert err.value.line_number == 5


@pytest.mark.parametrize(
    ("text", "line_number", "words"),
    [
        pytest.param("*** Update File: a\n-x\n", 1, "starts with `*** Begin Patch`", id="no-begin"),
        pytest.param("", 1, "starts with `*** Begin Patch`", id="empty"),
        pytest.param("*** Begin Patch\n*** Delete File: a\n", 3, "looks cut off", id="no-end"),
        pytest.param("*** Begin Patch\n*** End Patch\n", 2, "no file sections", id="no-sections"),
        pytest.param(
            "*** Begin Patch\n*** Frobnicate File: a\n*** End Patch\n",
            2,
            "expected `*** Add File:`",
            id="unknown-section",
        ),
        pytest.param(
            "*** Begin Patch\n*** Update File: a\n-x\n*** Something\n*** End Patch\n",
            4,
            "unknown marker",
            id="unknown-marker",
        ),
        pytest.param(
            "*** Begin Patch\n*** Add File:  \n+x\n*** End Patch\n", 2, "needs a path", id="no-path"
        ),
        pytest.param(
            "*** Begin Patch\n*** Update File: a\n*** Move to:\n-x\n*** End Patch\n",
            3,
            "needs a path",
            id="no-move-path",
        ),
        pytest.param(
            "*** Begin Patch\n*** Update File: a\n*** End Patch\n",
            2,
            "has no changes",
            id="empty-update",
        ),
        pytest.param(
            "*** Begin Patch\n*** Delete File: a\n*** End Patch\nmore\n",
            4,
            "text after",
            id="trailing-text",
        ),
    ],
)
def test_envelope_errors(text: str, line_number: int, words: str) -> None:
    with pytest.raises(PatchParseError) as err:
        parse_envelope(text)
    assert err.value.line_number == line_number
    assert words in str(err.value)
    assert str(err.value).startswith(f"patch line {line_number}:")


def test_add_section_lines_must_start_with_plus() -> None:
    text = "*** Begin Patch\n*** Add File: a\n+x\ny\n*** End Patch\n"
    with pytest.raises(PatchParseError) as err:
        plan_envelope(parse_envelope(text), {})
    assert err.value.line_number == 4

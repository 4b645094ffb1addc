"""A patch failure says once, at its end, whether the files are as they were."""

from __future__ import annotations

import pickle

import pytest

from sandloop.errors import PatchConflictError, PatchError, PatchTimeoutError
from sandloop.patching import Budget, apply_diff


def test_the_sentence_is_built_from_the_flag() -> None:
    assert str(PatchError("a.txt is binary.")) == "a.txt is binary. Nothing was changed."
    left = PatchError("could not write a.txt.", path="a.txt", nothing_changed=False)
    assert left.nothing_changed is False
    assert str(left) == (
        "could not write a.txt. Some files may be left changed: re-read them before patching again."
    )
    assert "Nothing was changed" not in str(left)


def test_a_next_step_follows_the_sentence_and_quoted_lines_end_a_line() -> None:
    error = PatchConflictError("a.txt: hunk 1:\n  1 | x\n", next_step="Resend it.")
    assert str(error) == "a.txt: hunk 1:\n  1 | x\nNothing was changed. Resend it."


def test_the_flag_survives_pickle() -> None:
    error = PatchError("could not write a.txt.", path="a.txt", nothing_changed=False)
    back = pickle.loads(pickle.dumps(error))
    assert (str(back), back.path, back.nothing_changed) == (str(error), "a.txt", False)


@pytest.mark.parametrize(
    ("original", "diff"),
    [
        ("x = 1\n", " x = 2\n-y\n+z\n"),  # context not in the file
        ("x = 1\n", "@@ def nowhere\n-x = 1\n+x = 2\n"),  # anchor not in the file
        ("x = 1\n", "bogus\n"),  # not a diff line
    ],
)
def test_every_patching_failure_says_it_once(original: str, diff: str) -> None:
    with pytest.raises(PatchError) as err:
        apply_diff(original, diff, path="a.py")
    assert err.value.nothing_changed
    assert str(err.value).count("othing was changed") == 1


def test_a_matching_timeout_says_it_once() -> None:
    budget = Budget(-1.0)  # already past
    with pytest.raises(PatchTimeoutError) as err:
        budget.check()
    assert str(err.value).endswith("context lines. Nothing was changed.")

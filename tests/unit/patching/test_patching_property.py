"""Property: a V4A diff written for random edits of a random file reproduces the edited file.

The diff writer below plays the model: ~3 lines of context, hunks merged when their context
would overlap, and more leading context whenever the block would first match earlier in the
file (so a correct engine has exactly one right answer).
"""

from __future__ import annotations

import difflib

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sandloop.patching import apply_unified, apply_v4a

CONTEXT = 3

# Few distinct lines, so blocks repeat and the search order matters.
common_lines = st.sampled_from(
    ["", "a", "b", "    return x", "def f():", "}", "  # note  ", "-- x", "++ y", "@@ z"]
)
any_line = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"],
        exclude_characters="\r\n\x85\u2028\u2029\x0b\x0c\x1c\x1d\x1e",
    ),
    max_size=12,
)
lines = st.lists(st.one_of(common_lines, common_lines, any_line), max_size=40)


@st.composite
def edited(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    old = draw(lines)
    new = list(old)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(new)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert" or not new:
            new[at:at] = draw(st.lists(st.one_of(common_lines, any_line), min_size=1, max_size=3))
        elif action == "delete":
            del new[min(at, len(new) - 1)]
        else:
            new[min(at, len(new) - 1)] = draw(st.one_of(common_lines, any_line))
    return old, new


def write_v4a(old: list[str], new: list[str], *, context: int = CONTEXT) -> str:
    """A V4A body turning ``old`` into ``new``, as a careful model would write it."""
    entries: list[tuple[str, str, int]] = []  # (prefix, text, position in old)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            entries += [(" ", old[k], k) for k in range(i1, i2)]
            continue
        entries += [("-", old[k], k) for k in range(i1, i2)]
        entries += [("+", text, i2) for text in new[j1:j2]]
    changes = [i for i, e in enumerate(entries) if e[0] != " "]
    groups: list[list[int]] = []
    for i in changes:
        if groups and i - groups[-1][-1] <= 2 * context + 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    body: list[str] = []
    done = 0  # entries already covered by earlier hunks
    for group in groups:
        first, last = group[0], group[-1]
        end = min(len(entries), last + 1 + context)
        start = max(done, first - context)
        if not _old_lines(entries[start:end]) and end < len(entries):
            end += 1  # a pure addition needs one line to say where it goes
        while start > done and not _first_match_is(entries, start, end, old, cursor=done):
            start -= 1
        body.append("@@")
        body += [prefix + text for prefix, text, _ in entries[start:end]]
        done = end
    return "\n".join(body) + "\n"


def _first_match_is(
    entries: list[tuple[str, str, int]], start: int, end: int, old: list[str], *, cursor: int
) -> bool:
    block = _old_lines(entries[start:end])
    olds = [pos for prefix, _, pos in entries[start:end] if prefix != "+"]
    if not block:
        return True
    floor = next((pos for prefix, _, pos in entries[cursor:] if prefix != "+"), len(old))
    for at in range(floor, len(old) - len(block) + 1):
        if old[at : at + len(block)] == block:
            return at == olds[0]
    return False


def _old_lines(entries: list[tuple[str, str, int]]) -> list[str]:
    return [text for prefix, text, _ in entries if prefix != "+"]


@settings(max_examples=400, deadline=None)
@given(
    edit=edited(),
    eol=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
    context=st.integers(0, CONTEXT),
)
def test_generated_v4a_diff_reproduces_the_edit(
    edit: tuple[list[str], list[str]], eol: str, final_newline: bool, context: int
) -> None:
    old, new = edit
    # Text cannot say "a last empty line without a newline": that file reads back one line short.
    assume(old != new and not (old and old[-1] == "" and not final_newline))
    original = eol.join(old) + (eol if old and final_newline else "")
    written_eol = eol if "\n" in original else "\n"
    keeps_newline = final_newline or not original
    expected = written_eol.join(new) + (written_eol if new and keeps_newline else "")
    assert apply_v4a(original, write_v4a(old, new, context=context), path="random.txt") == expected


@settings(max_examples=300, deadline=None)
@given(edit=edited(), context=st.integers(0, CONTEXT))
def test_difflib_unified_diff_reproduces_the_edit(
    edit: tuple[list[str], list[str]], context: int
) -> None:
    old, new = edit
    assume(old != new)
    original = "".join(f"{line}\n" for line in old)
    diff = "\n".join(
        difflib.unified_diff(old, new, "a/random.txt", "b/random.txt", n=context, lineterm="")
    )
    expected = "".join(f"{line}\n" for line in new)
    assert apply_unified(original, diff + "\n", path="random.txt") == expected

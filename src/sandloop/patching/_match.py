"""Finding a hunk's lines in a file: the fuzz ladder over an index of the file's lines.

Used by every dialect in ``sandloop.patching``. The file is indexed once per fuzz level (a map
from normalised line to its sorted positions), so locating a block costs the occurrences of its
rarest line, not a scan of the file: a patch of many hunks stays linear in the file size.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections.abc import Callable, Sequence

__all__ = ("LEVELS", "LineIndex", "fold")

# Unicode punctuation models write where the file has ASCII (or the reverse).
_FOLD_TABLE = str.maketrans(
    {
        **dict.fromkeys(["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015"], "-"),
        "\u2212": "-",
        **dict.fromkeys(["\u2018", "\u2019", "\u201a", "\u201b"], "'"),
        **dict.fromkeys(["\u201c", "\u201d", "\u201e", "\u201f"], '"'),
        **dict.fromkeys(
            ["\u00a0", *(chr(c) for c in range(0x2000, 0x200B)), "\u202f", "\u205f", "\u3000"],
            " ",
        ),
    }
)


def fold(line: str) -> str:
    """Surrounding whitespace dropped and Unicode dashes, quotes and spaces made ASCII."""
    return line.translate(_FOLD_TABLE).strip()


def _exact(line: str) -> str:
    return line


def _rstrip(line: str) -> str:
    return line.rstrip()


def _strip(line: str) -> str:
    return line.strip()


#: The fuzz ladder, strictest first: how two lines may differ and still match.
LEVELS: tuple[Callable[[str], str], ...] = (_exact, _rstrip, _strip, fold)

# Beyond this many candidate positions, a failure report stops looking for a closer one.
_DIAGNOSE_BUDGET = 5000
# Lines after the search start compared with a missing line, looking for look-alikes.
_SIMILAR_SPAN = 20_000


class LineIndex:
    """The lines of one file, indexed for forward searches at every fuzz level."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        self._keys: dict[int, Sequence[str]] = {0: lines}
        self._positions: dict[int, _Positions] = {}

    def keys(self, level: int) -> Sequence[str]:
        """Every line normalised for ``level``."""
        if level not in self._keys:
            self._keys[level] = [LEVELS[level](line) for line in self.lines]
        return self._keys[level]

    def positions(self, level: int, key: str) -> list[int]:
        """Sorted positions of the lines whose ``level`` key is ``key``."""
        table = self._positions.get(level)
        if table is None:
            table = self._positions[level] = _Positions(self.keys(level))
        return table.get(key)

    def find_line(self, text: str, *, start: int) -> int | None:
        """First position at or after ``start`` of a line matching ``text``, strictest first."""
        for level, norm in enumerate(LEVELS):
            found = self.positions(level, norm(text))
            i = bisect_left(found, start)
            if i < len(found):
                return found[i]
        return None

    def find_block(
        self, block: Sequence[str], *, start: int, eof: bool = False, near: int | None = None
    ) -> int | None:
        """Where ``block`` occurs at or after ``start``, strictest fuzz level first.

        Args:
            block: The lines to find, in order (not empty).
            start: The first position the block may begin at.
            eof: The block must end at the end of the file.
            near: Prefer the occurrence closest to this position (unified diffs' line numbers)
                instead of the first one.
        """
        for level in range(len(LEVELS)):
            found = self._find_at(block, start=start, eof=eof, near=near, level=level)
            if found is not None:
                return found
        return None

    def _find_at(
        self, block: Sequence[str], *, start: int, eof: bool, near: int | None, level: int
    ) -> int | None:
        norm = LEVELS[level]
        want = [norm(line) for line in block]
        keys = self.keys(level)
        size = len(want)
        if eof:
            at = len(keys) - size
            return at if at >= start and list(keys[at:]) == want else None
        # Walk the occurrences of the block's rarest line: each fixes one candidate start.
        pivot = min(range(size), key=lambda i: len(self.positions(level, want[i])))
        found = self.positions(level, want[pivot])
        best: int | None = None
        for pos in found[bisect_left(found, start + pivot) :]:
            at = pos - pivot
            if list(keys[at : at + size]) != want:
                continue
            if near is None:
                return at
            if best is not None and abs(at - near) >= abs(best - near):
                break  # positions only move away from ``near`` from here on
            best = at
        return best

    def closest(self, block: Sequence[str], *, start: int) -> tuple[int, int]:
        """For a block that was not found: where it came closest, and its first bad line.

        Returns:
            ``(position, index)``: the file position where the block matches the most lines
            (at the loosest level), and the index in ``block`` of the first line that differs
            there. The position is -1 when no line of the block exists in the file.
        """
        level = len(LEVELS) - 1
        want = [LEVELS[level](line) for line in block]
        keys = self.keys(level)
        best, best_score, budget = -1, 0, _DIAGNOSE_BUDGET
        for i, key in enumerate(want):
            found = self.positions(level, key)
            for pos in found[bisect_left(found, start + i) :]:
                if budget <= 0:
                    break
                budget -= 1
                at = pos - i
                # A window running past the end of the file still counts what it matches.
                window = keys[at : at + len(want)]
                score = sum(a == b for a, b in zip(window, want[: len(window)], strict=True))
                if score > best_score:
                    best, best_score = at, score
        if best < 0:
            return -1, 0
        bad = next(
            (i for i, key in enumerate(want) if best + i >= len(keys) or keys[best + i] != key),
            len(want) - 1,
        )
        return best, bad

    def similar(self, text: str, *, start: int, limit: int = 3) -> list[int]:
        """Positions of the lines most like ``text`` (for a line that is nowhere in the file)."""
        region = [line.strip() for line in self.lines[start : start + _SIMILAR_SPAN]]
        picks = difflib.get_close_matches(text.strip(), region, n=limit, cutoff=0.5)
        return sorted({start + region.index(p) for p in picks})


class _Positions:
    """Where each distinct line occurs.

    A line seen once is stored as a bare int and only repeated lines get a list: a list per
    line would wake the garbage collector thousands of times on a big file.
    """

    __slots__ = ("_first", "_repeats")

    def __init__(self, keys: Sequence[str]) -> None:
        first: dict[str, int] = {}
        repeats: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            seen = first.setdefault(key, i)
            if seen != i:
                more = repeats.get(key)
                if more is None:
                    repeats[key] = [seen, i]
                else:
                    more.append(i)
        self._first = first
        self._repeats = repeats

    def get(self, key: str) -> list[int]:
        more = self._repeats.get(key)
        if more is not None:
            return more
        seen = self._first.get(key)
        return [] if seen is None else [seen]

"""Finding a hunk's lines in a file: the fuzz ladder over an index of the file's lines.

Used by every dialect in ``sandloop.patching``. The file is indexed once per fuzz level: a map
from normalised line to its sorted positions, and the file written as a string of one code point
per line (each distinct line its own code point). Finding a block of lines is then one
``str.find`` of the block's code points: linear in the file whatever the lines repeat (a block of
alternating lines against a file of alternating lines used to cost the product of their sizes).
The loops that remain check a :class:`~sandloop.patching._budget.Budget`, so a caller can bound
the time a match may take.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import islice

from sandloop.patching._budget import Budget

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

# Lines a failure report compares while looking for where a block came closest.
_DIAGNOSE_BUDGET = 200_000
# Characters of a missing line compared with look-alikes (difflib is quadratic in them).
_SIMILAR_CHARS = 200
# Lines after the search start compared with a missing line, looking for look-alikes.
_SIMILAR_SPAN = 20_000


class LineIndex:
    """The lines of one file, indexed for forward searches at every fuzz level."""

    def __init__(self, lines: Sequence[str], *, budget: Budget | None = None) -> None:
        self.lines = lines
        self.budget = budget or Budget()
        self._keys: dict[int, Sequence[str]] = {0: lines}
        self._positions: dict[int, _Positions] = {}
        self._coded: dict[int, tuple[dict[str, str], str] | None] = {}

    def keys(self, level: int) -> Sequence[str]:
        """Every line normalised for ``level``."""
        if level not in self._keys:
            self.budget.check()
            self._keys[level] = [LEVELS[level](line) for line in self.lines]
            self.budget.check()
        return self._keys[level]

    def coded(self, level: int) -> tuple[dict[str, str], str] | None:
        """The file at ``level`` as one code point per line, and the line → code point map.

        ``None`` when the file has more distinct lines than there are code points.
        """
        if level not in self._coded:
            codes: dict[str, str] = {}
            for key in self.keys(level):
                if key not in codes:
                    if len(codes) > 0x10FFFF:
                        self._coded[level] = None
                        return None
                    codes[key] = chr(len(codes))
            self.budget.check()
            self._coded[level] = (codes, "".join(map(codes.__getitem__, self.keys(level))))
            self.budget.check()
        return self._coded[level]

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
        coded = self.coded(level)
        if coded is None:
            return self._walk(want, start=start, near=near, level=level)
        codes, text = coded
        if any(key not in codes for key in want):
            return None
        needle = "".join(map(codes.__getitem__, want))
        if near is None:
            at = text.find(needle, start)
            return at if at >= 0 else None
        # The last occurrence starting at or before ``near``, and the first one after it.
        before = text.rfind(needle, start, near + size) if near >= start else -1
        after = text.find(needle, max(start, near))
        found = [p for p in (before, after) if p >= 0]
        return min(found, key=lambda p: (abs(p - near), p)) if found else None

    def _walk(self, want: list[str], *, start: int, near: int | None, level: int) -> int | None:
        """Slow path (more distinct lines than code points): walk the rarest line's positions."""
        keys, size = self.keys(level), len(want)
        pivot = min(range(size), key=lambda i: len(self.positions(level, want[i])))
        found = self.positions(level, want[pivot])
        best: int | None = None
        for count, pos in enumerate(found[bisect_left(found, start + pivot) :]):
            if count % 1024 == 0:
                self.budget.check()
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
            if budget <= 0:
                break
            self.budget.check()
            found = self.positions(level, key)
            first = bisect_left(found, start + i)
            # Each candidate compares a whole window: a budget of lines bounds the work.
            for pos in islice(found, first, first + max(1, budget // len(want))):
                budget -= len(want)
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
        self.budget.check()
        region = [
            line.strip()[:_SIMILAR_CHARS] for line in self.lines[start : start + _SIMILAR_SPAN]
        ]
        wanted = text.strip()[:_SIMILAR_CHARS]
        picks = difflib.get_close_matches(wanted, region, n=limit, cutoff=0.5)
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

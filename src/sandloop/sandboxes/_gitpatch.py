"""One file's change as git-style patch bytes, with file names quoted the way git quotes them.

Where it sits: ``_copy.diff_trees`` calls it for every changed path of a copy-mode workspace.
Everything is bytes: a name or a line that is not UTF-8 goes through unchanged (names quoted),
and only ``\\n`` ends a line (``\\r``, form feeds and U+2028 are content, as they are to git).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ("file_diff", "quote_path")

_ESCAPES = {7: b"\\a", 8: b"\\b", 9: b"\\t", 10: b"\\n", 11: b"\\v", 12: b"\\f", 13: b"\\r"}
_ESCAPES |= {ord('"'): b'\\"', ord("\\"): b"\\\\"}


def quote_path(name: bytes) -> bytes:
    """``name`` as git writes it in a patch header: as is when plain, else C-quoted.

    Quoted (in double quotes) when it holds a control byte, ``"``, ``\\``, DEL or any byte
    from 0x80 (git's default ``core.quotePath``): ``\\n``, ``\\t``, ``\\"``, ``\\\\`` and the
    like by name, every other such byte as a three-digit octal escape. Spaces stay as they are.
    """
    if not any(byte < 0x20 or byte >= 0x7F or byte in b'"\\' for byte in name):
        return name
    out = bytearray(b'"')
    for byte in name:
        if byte in _ESCAPES:
            out += _ESCAPES[byte]
        elif byte < 0x20 or byte >= 0x7F:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    ends = [line + b"\n" for line in lines[:-1]]
    return [*ends, lines[-1]] if lines[-1] else ends


def file_diff(
    path: bytes, old_mode: int | None, new_mode: int | None, old: bytes, new: bytes
) -> bytes:
    """The ``diff --git`` section taking ``path`` from ``old`` to ``new``.

    A mode of ``None`` means the file does not exist on that side. Content holding a NUL byte
    is binary (git's rule) and comes out as a ``Binary files ... differ`` line.
    """
    a, b = quote_path(b"a/" + path), quote_path(b"b/" + path)
    head = [b"diff --git %s %s\n" % (a, b)]
    if old_mode is None and new_mode is not None:
        head.append(b"new file mode %o\n" % new_mode)
    elif new_mode is None and old_mode is not None:
        head.append(b"deleted file mode %o\n" % old_mode)
    elif old_mode is not None and new_mode is not None and old_mode != new_mode:
        head += [b"old mode %o\n" % old_mode, b"new mode %o\n" % new_mode]
    if old == new:
        return b"".join(head)
    a = a if old_mode is not None else b"/dev/null"
    b = b if new_mode is not None else b"/dev/null"
    if b"\0" in old or b"\0" in new:
        return b"".join([*head, b"Binary files %s and %s differ\n" % (a, b)])
    # git ends a name that holds a space with a tab, so no reader takes the space for its end.
    tab_a, tab_b = (b"\t" if b" " in name else b"" for name in (a, b))
    head += [b"--- %s%s\n" % (a, tab_a), b"+++ %s%s\n" % (b, tab_b)]
    hunks = difflib.diff_bytes(difflib.unified_diff, _lines(old), _lines(new), n=3)
    return b"".join(head) + b"".join(_mark_missing_newlines(hunks))


def _mark_missing_newlines(lines: Iterable[bytes]) -> Iterable[bytes]:
    for i, line in enumerate(lines):
        if i < 2:
            continue  # difflib's own ---/+++ lines: written above, quoted
        if line.startswith(b"@@"):
            yield line if line.endswith(b"\n") else line + b"\n"
        elif line.endswith(b"\n"):
            yield line
        else:
            yield line + b"\n\\ No newline at end of file\n"

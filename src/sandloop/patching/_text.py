"""Text files as lines: the shape every patch dialect edits.

Bottom of ``sandloop.patching``. A file is split once into lines without their endings, plus
what is needed to write it back byte for byte where nothing changed: the line ending it uses,
whether it ends with one, and a byte-order mark.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("TextLines", "join_lines", "split_lines")

_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class TextLines:
    """A text file cut into lines.

    Attributes:
        lines: The lines, without line endings.
        eol: The line ending written between lines: ``"\\n"`` or ``"\\r\\n"``.
        final_newline: The text ends with a line ending (an empty text counts as one).
        bom: The text starts with a UTF-8 byte-order mark, kept on output.
    """

    lines: tuple[str, ...]
    eol: str = "\n"
    final_newline: bool = True
    bom: bool = False


def split_lines(text: str) -> TextLines:
    """Cut ``text`` into lines, noting its line ending, final newline and byte-order mark.

    The ending is the one most lines use; a file is never written back with mixed endings.
    """
    bom = text.startswith(_BOM)
    if bom:
        text = text[1:]
    crlf = text.count("\r\n")
    eol = "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"
    if not text:
        return TextLines((), eol, True, bom)
    final_newline = text.endswith("\n")
    parts = text.split("\n")
    if final_newline:
        parts.pop()
    lines = tuple(p[:-1] if p.endswith("\r") else p for p in parts)
    return TextLines(lines, eol, final_newline, bom)


def join_lines(
    lines: list[str] | tuple[str, ...],
    *,
    eol: str = "\n",
    final_newline: bool = True,
    bom: bool = False,
) -> str:
    """The inverse of :func:`split_lines`: lines joined by ``eol``."""
    body = eol.join(lines)
    if lines and final_newline:
        body += eol
    return (_BOM + body) if bom else body

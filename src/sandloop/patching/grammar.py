"""The Lark grammar of the ``*** Begin Patch`` envelope, for a grammar-constrained custom tool.

Sent as ``format: {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR}`` on a
custom tool named ``apply_patch`` (see ``ApplyPatchTool(as_custom=True)``), so a model without the
hosted ``apply_patch`` tool can only write envelopes :func:`sandloop.patching.parse_envelope`
accepts. Written from ``notes/V4A.md``; every line, including the last, ends with a newline
except that the one after ``*** End Patch`` is optional.
"""

from __future__ import annotations

__all__ = ("APPLY_PATCH_GRAMMAR",)

APPLY_PATCH_GRAMMAR = r"""
start: "*** Begin Patch" NL file_op+ "*** End Patch" NL?

file_op: added_file | deleted_file | updated_file

added_file: "*** Add File: " PATH NL ADDED_LINE+
deleted_file: "*** Delete File: " PATH NL
updated_file: "*** Update File: " PATH NL (renamed changes? | changes)
renamed: "*** Move to: " PATH NL

changes: (leading_lines anchored_hunk* | anchored_hunk+) END_OF_FILE?
leading_lines: DIFF_LINE+
anchored_hunk: ANCHOR+ DIFF_LINE+

ANCHOR: /@@( [^\n]*)?\n/
DIFF_LINE: /[ +\-][^\n]*\n/
ADDED_LINE: /\+[^\n]*\n/
END_OF_FILE: "*** End of File" NL
PATH: /[^\s*][^\n]*/
NL: "\n"
""".lstrip()

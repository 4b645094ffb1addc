"""The Lark grammar we send with the custom apply_patch tool: valid envelopes parse, others don't.

Every envelope the grammar accepts must also be accepted by our parser (checked on the cases).
"""

from __future__ import annotations

import lark
import pytest

from sandloop.patching import APPLY_PATCH_GRAMMAR, parse_envelope


@pytest.fixture(scope="module", params=["lalr", "earley"])
def parser(request: pytest.FixtureRequest) -> lark.Lark:
    return lark.Lark(APPLY_PATCH_GRAMMAR, parser=request.param)


VALID = {
    "notes-example": (
        "*** Begin Patch\n*** Add File: hello.txt\n+Hello world\n*** Update File: src/app.py\n"
        '*** Move to: src/main.py\n@@ def greet():\n-print("Hi")\n+print("Hello, world!")\n'
        "*** Delete File: obsolete.txt\n*** End Patch\n"
    ),
    "no-final-newline": "*** Begin Patch\n*** Delete File: a\n*** End Patch",
    "stacked-anchors-and-eof": (
        "*** Begin Patch\n*** Update File: a.py\n@@ class A:\n@@     def f(self):\n-        pass\n"
        "+        return 1\n@@\n x\n+y\n*** End of File\n*** End Patch\n"
    ),
    "first-hunk-without-anchor": (
        "*** Begin Patch\n*** Update File: a\n a\n-b\n+c\n@@ d\n e\n-f\n*** End Patch\n"
    ),
    "pure-rename": "*** Begin Patch\n*** Update File: a\n*** Move to: b\n*** End Patch\n",
    "empty-added-line": "*** Begin Patch\n*** Add File: a\n+\n+x\n*** End Patch\n",
}

INVALID = {
    "no-begin": "*** Update File: a\n-x\n*** End Patch\n",
    "no-end": "*** Begin Patch\n*** Delete File: a\n",
    "no-sections": "*** Begin Patch\n*** End Patch\n",
    "add-without-lines": "*** Begin Patch\n*** Add File: a\n*** End Patch\n",
    "add-line-without-plus": "*** Begin Patch\n*** Add File: a\nx\n*** End Patch\n",
    "update-without-changes": "*** Begin Patch\n*** Update File: a\n*** End Patch\n",
    "bad-prefix": "*** Begin Patch\n*** Update File: a\n-x\n?y\n*** End Patch\n",
    "anchor-without-lines": "*** Begin Patch\n*** Update File: a\n@@ x\n*** End Patch\n",
    "unknown-section": "*** Begin Patch\n*** Copy File: a\n*** End Patch\n",
    "missing-path": "*** Begin Patch\n*** Delete File: \n*** End Patch\n",
    "text-after-end": "*** Begin Patch\n*** Delete File: a\n*** End Patch\nhello\n",
    "lines-after-eof": (
        "*** Begin Patch\n*** Update File: a\n-x\n*** End of File\n+y\n*** End Patch\n"
    ),
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_valid_envelopes_parse(parser: lark.Lark, text: str) -> None:
    parser.parse(text)
    assert parse_envelope(text)


@pytest.mark.parametrize("text", INVALID.values(), ids=INVALID.keys())
def test_invalid_envelopes_are_rejected(parser: lark.Lark, text: str) -> None:
    with pytest.raises(lark.exceptions.LarkError):
        parser.parse(text)

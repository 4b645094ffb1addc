"""sandloop.patching: the apply_patch engine. Pure functions on text, no I/O.

Sits beside the executors: ``ApplyPatchTool`` reads files through the sandbox, hands their text
here, and writes back what comes out. Three inputs are understood:

* V4A bodies, as the hosted ``apply_patch`` tool sends them (:func:`apply_v4a`,
  :func:`create_from_v4a`);
* standard unified diffs (:func:`apply_unified`), detected by their ``@@ -a,b +c,d @@`` headers;
* the ``*** Begin Patch`` envelope of several file operations (:func:`parse_envelope`,
  :func:`plan_envelope`), applied all or nothing.

Failures raise :class:`~sandloop.errors.PatchParseError` or
:class:`~sandloop.errors.PatchConflictError`, whose messages name the file, the hunk, the first
line that did not match and the closest lines present.
"""

from sandloop.patching._budget import Budget
from sandloop.patching._envelope import FileOp, parse_envelope
from sandloop.patching._plan import (
    FileChange,
    PatchPlan,
    apply_diff,
    create_from_diff,
    plan_envelope,
)
from sandloop.patching._unified import apply_unified, is_unified
from sandloop.patching._v4a import apply_v4a, create_from_v4a
from sandloop.patching.grammar import APPLY_PATCH_GRAMMAR
from sandloop.patching.paths import workspace_path

__all__ = (
    "APPLY_PATCH_GRAMMAR",
    "Budget",
    "FileChange",
    "FileOp",
    "PatchPlan",
    "apply_diff",
    "apply_unified",
    "apply_v4a",
    "create_from_diff",
    "create_from_v4a",
    "is_unified",
    "parse_envelope",
    "plan_envelope",
    "workspace_path",
)

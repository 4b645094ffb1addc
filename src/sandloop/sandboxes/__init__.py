"""sandloop.sandboxes: where tool calls run.

``Sandbox`` is the contract executors code against; ``LocalSandbox`` runs the in-sandbox runner
as a local subprocess (not isolated).
"""

from sandloop.sandboxes.base import DEFAULT_MAX_OUTPUT, ExecResult, FileEntry, Sandbox
from sandloop.sandboxes.local import LocalSandbox

__all__ = ("DEFAULT_MAX_OUTPUT", "ExecResult", "FileEntry", "LocalSandbox", "Sandbox")

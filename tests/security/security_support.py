"""Names shared by the security tests (uniquely named: test dirs are not packages)."""

from __future__ import annotations

import os

from sandloop.sandboxes.docker import DEFAULT_IMAGE

#: The image under test.
IMAGE = os.environ.get("SANDLOOP_TEST_IMAGE", DEFAULT_IMAGE)
#: Extra label on every container these tests create, to find (only) ours.
TEST_LABEL = {"org.sandloop.test": "security"}

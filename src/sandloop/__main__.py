"""``python -m sandloop``: the ``sandloop`` command."""

import sys

from sandloop.cli import main

sys.exit(main())

"""``python -m sandloop.cli``."""

import sys

from sandloop.cli import main

sys.exit(main())

"""Runs the runner: ``python3 runner/ ROOT`` or ``python3 runner.zip ROOT``."""

import sys

from sandloop_runner.serve import main

sys.exit(main(sys.argv))

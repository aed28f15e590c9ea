"""``python -m gisttracker`` is the same as the ``gisttracker`` command."""

import sys

from gisttracker.cli import main

sys.exit(main())

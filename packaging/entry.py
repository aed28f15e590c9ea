"""The bundles' program: both executables (``gisttracker``, ``gisttracker-window``) run this.

It is the ``gisttracker`` command. The windowed executable has no standard streams on
Windows; :func:`ui.launcher.main` gives it harmless ones before anything prints.
"""

import sys

from ui.launcher import main

sys.exit(main())

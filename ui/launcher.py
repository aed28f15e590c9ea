"""Entry point of the windowed program (``gisttracker-window``; the bundles' GUI executable).

It is the ``gisttracker`` command (same options: ``--db PATH``, ``--startup-check``), started
as a GUI program: on Windows it opens no console window. A GUI program there has no standard
streams (``sys.stdout`` is None under ``pythonw`` and in a windowed bundle). ``print`` and
argparse quietly drop output then, but code that writes to the stream itself (the JSON
output of a subcommand, logging, faulthandler) would crash; the streams go to the null
device instead, and anything a user must see is shown in a message box by the window.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def ensure_streams() -> None:
    """Give a program started without a console somewhere harmless to print to."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            # Kept open for the life of the process, like the streams it stands in for.
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def main(argv: Sequence[str] | None = None) -> int:
    """Start the window (with the command line's options); returns the exit code."""
    ensure_streams()
    from gisttracker.cli import main as cli_main

    return cli_main(argv)

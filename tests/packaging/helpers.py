"""Running an installed program the way a user does: out of the source tree, in a clean
environment that cannot reach the checkout."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUDY_KEYS = {"NCT03862768", "NCT04933669", "NCT06038552", "PREOP-DURATION", "RECTAL-LE"}


def user_environment(home: Path) -> dict[str, str]:
    """The environment of a user who has never run the program: a fresh home, no display
    (``--startup-check`` must choose the offscreen platform itself), nothing that points
    Python at the checkout or its virtual environment."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DISPLAY", "WAYLAND_DISPLAY",
               "QT_QPA_PLATFORM", "GISTTRACKER_DB", "XDG_DATA_HOME", "XDG_CONFIG_HOME"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    return env


def run(program: Path | str, args: Sequence[str], cwd: Path, env: dict[str, str],
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(program), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)

"""Where the program's data files live: study protocols, icons, fonts, translations, help.

This module is the only place that knows. The repository keeps two top-level folders,
``seeds/`` (one protocol file per study) and ``resources/`` (icons, fonts, style sheets,
translations, help). An installed program carries the same two folders *inside* the
``gisttracker`` package, as ``gisttracker/_data/seeds`` and ``gisttracker/_data/resources``:
``setup.py`` copies them there when it builds a wheel, and ``packaging/gisttracker.spec`` does
the same for a PyInstaller bundle. A source checkout (the editable install used in
development, or the tests run from the repository) has no ``_data`` folder and reads the
repository's folders directly, so an edited protocol takes effect without reinstalling.

Both cases start from ``importlib.resources.files("gisttracker")``: the answer follows the
package wherever Python imported it from (site-packages, a bundle's ``_internal`` folder, a
checkout). Only a real folder on disk is supported (not a zip import), because SQLite,
reportlab and Qt all want file paths.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

PACKAGE = "gisttracker"
# The folder inside the installed package that holds the copies of seeds/ and resources/.
INSTALLED_DATA = "_data"


class ResourceError(RuntimeError):
    """The package is not on a file system, so its data files cannot be handed out as paths."""


@cache
def package_dir() -> Path:
    """The folder of the imported ``gisttracker`` package."""
    # Where the package was imported from, when that is a folder on disk (a checkout, a
    # wheel, a bundle's _internal): the answer importlib.resources gives, without its 15 ms
    # of imports at every start. Anything else is left to importlib.resources to say.
    origin = getattr(sys.modules.get(PACKAGE), "__file__", None)
    if origin and Path(origin).parent.is_dir():
        return Path(origin).parent
    from importlib.resources import files

    root = files(PACKAGE)
    if not isinstance(root, Path):
        raise ResourceError(
            f"gisttracker was imported from {root!r}, not from a folder; its data files "
            "(protocols, fonts, icons) need a normal installation")
    return root


@cache
def data_root() -> Path:
    """The folder that holds ``seeds/`` and ``resources/``.

    Inside the package when installed (wheel, bundle); the repository root in a checkout.
    """
    installed = package_dir() / INSTALLED_DATA
    if installed.is_dir():
        return installed
    return package_dir().parent


def is_installed_copy() -> bool:
    """True when the data comes from an installed copy (wheel or bundle), not a checkout."""
    return data_root() != package_dir().parent


def seeds_dir() -> Path:
    """The shipped study protocol files (``*.toml``)."""
    return data_root() / "seeds"


def resources_dir() -> Path:
    """Icons, fonts, style sheets, translations and help."""
    return data_root() / "resources"


def fonts_dir() -> Path:
    """Fonts shipped with the program and their licence texts (``resources/fonts``)."""
    return resources_dir() / "fonts"


def translations_dir() -> Path:
    """gettext catalogues: ``<lang>/LC_MESSAGES/gisttracker.mo``."""
    return resources_dir() / "translations"


def icon_path(name: str = "gisttracker.svg") -> Path:
    """An icon file from ``resources/icons``."""
    return resources_dir() / "icons" / name

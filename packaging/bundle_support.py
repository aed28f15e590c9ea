"""Helpers shared by the PyInstaller spec and ``build.py``: data files, fonts, icons, version.

Plain Python (no PyInstaller import), so ``build.py`` can use it before PyInstaller runs and
the tests can check it. Paths inside the bundle mirror an installed wheel:
``gisttracker/_data/seeds`` and ``gisttracker/_data/resources`` (see gisttracker/resources.py).
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePath

INSTALLED_DATA = "gisttracker/_data"
# Not data: caches, editor droppings, and the fonts' own README (kept in the repository).
SKIPPED_PARTS = {"__pycache__", ".DS_Store"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", "~"}


@dataclass(frozen=True)
class FontPackage:
    """A Debian package the report fonts come from, pinned to one release."""

    name: str
    url: str
    sha256: str
    # (path inside the package, file name in resources/fonts)
    files: tuple[tuple[str, str], ...]


# Debian 12 (bookworm) releases; the licence texts in resources/fonts are these packages'.
FONT_PACKAGES = (
    FontPackage(
        "fonts-dejavu-core",
        "https://deb.debian.org/debian/pool/main/f/fonts-dejavu/"
        "fonts-dejavu-core_2.37-6_all.deb",
        "8892669e51aab4dc56682c8e39d8ddb7d70fad83c369344e1e240bf3ca22bb76",
        (("usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"),
         ("usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf")),
    ),
    FontPackage(
        "fonts-wqy-zenhei",
        "https://deb.debian.org/debian/pool/main/f/fonts-wqy-zenhei/"
        "fonts-wqy-zenhei_0.9.45-8_all.deb",
        "cfed2c29164ff2f133e40ed2046610b172b8618d174840936ac4ec9b6fd668e7",
        (("usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "wqy-zenhei.ttc"),),
    ),
)
FONT_LICENCES = ("DejaVu-LICENSE.txt", "WenQuanYi-Zen-Hei-LICENSE.txt", "GPL-2.txt")

# Qt plugins a desktop window never loads, by plugin folder (None: the whole folder): the
# embedded-device platforms (framebuffer, EGLFS, VNC, Vulkan display), kiosk touch and evdev
# input, image formats the program never opens, and the GTK 3 theme, which would load the
# system's GTK against the bundle's own copies of cairo and pango (a known source of crashes)
# and drags some 5 MB of them in. Input methods (Chinese!), xcb, Wayland, Windows, Cocoa,
# offscreen, printing and SVG all stay.
DROPPED_QT_PLUGINS: dict[str, frozenset[str] | None] = {
    "egldeviceintegrations": None,
    "generic": None,
    "platforms": frozenset({"qeglfs", "qlinuxfb", "qminimalegl", "qvkkhrdisplay", "qvnc"}),
    "platformthemes": frozenset({"qgtk3"}),
    "imageformats": frozenset({"qtiff", "qwebp", "qwbmp", "qtga", "qpdf"}),
}
# Linux: the CUPS client library and the libraries the bundle would carry only for it (TLS,
# Kerberos, Avahi: some 10 MB). Qt's print plugin uses the system's libcups instead, which
# every Linux desktop that can print has, and which matches the system's CUPS server; the
# Reports area prints through the system's `lp` anyway (where there is no CUPS, it opens the
# PDF in the viewer). Names without their version suffix.
LINUX_SYSTEM_LIBRARIES = frozenset({
    "libcups", "libgnutls", "libp11-kit", "libunistring", "libidn2", "libnettle",
    "libhogweed", "libgmp", "libtasn1", "libgssapi_krb5", "libkrb5", "libk5crypto",
    "libkrb5support", "libcom_err", "libkeyutils", "libavahi-client", "libavahi-common",
})
# The languages the program speaks; Qt's own catalogues for the others are left out.
QT_LANGUAGES = ("en", "zh_CN")


class BuildError(SystemExit):
    """A build cannot go on; the message says what to do (and the exit code is 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"build: {message}")


def version(root: Path) -> str:
    """The program's version, read from ``gisttracker/__init__.py`` without importing it."""
    text = (root / "gisttracker" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise BuildError("gisttracker/__init__.py has no __version__")
    return found.group(1)


def _is_data(path: Path) -> bool:
    return (path.is_file() and not SKIPPED_PARTS.intersection(path.parts)
            and path.suffix not in SKIPPED_SUFFIXES and not path.name.endswith("~"))


def font_sources(root: Path) -> dict[str, Path]:
    """Where each report font file is on this machine: ``resources/fonts`` first, then the
    Debian packages' own paths. :class:`BuildError` names what is missing and how to get it.
    """
    found: dict[str, Path] = {}
    missing: list[str] = []
    for package in FONT_PACKAGES:
        for inside, name in package.files:
            for candidate in (root / "resources" / "fonts" / name, Path("/") / inside):
                if candidate.is_file():
                    found[name] = candidate
                    break
            else:
                missing.append(f"{name} ({package.name})")
    if missing:
        raise BuildError(
            "report fonts not found: " + ", ".join(missing) + ". On Debian/Ubuntu: apt-get "
            "install fonts-dejavu-core fonts-wqy-zenhei; elsewhere: python packaging/build.py "
            "fonts (copies them into resources/fonts from the Debian packages)")
    licences = [n for n in FONT_LICENCES if not (root / "resources" / "fonts" / n).is_file()]
    if licences:
        raise BuildError("font licence texts missing from resources/fonts: "
                         + ", ".join(licences))
    return found


def data_files(root: Path) -> list[tuple[str, str]]:
    """PyInstaller ``datas``: seeds/ and resources/ (as gisttracker/_data/...) and the fonts.

    Each entry is (source file, destination folder inside the bundle).
    """
    datas: list[tuple[str, str]] = []
    for folder in ("seeds", "resources"):
        base = root / folder
        if not base.is_dir():
            raise BuildError(f"{base} is missing")
        for path in sorted(base.rglob("*")):
            if _is_data(path):
                destination = Path(INSTALLED_DATA) / folder / path.relative_to(base).parent
                datas.append((str(path), destination.as_posix()))
    fonts_destination = f"{INSTALLED_DATA}/resources/fonts"
    for source in font_sources(root).values():
        if source.parent != root / "resources" / "fonts":  # those are in the list already
            datas.append((str(source), fonts_destination))
    return datas


def keep_qt_plugin(source: str, destination: str) -> bool:
    """False for a Qt plugin in :data:`DROPPED_QT_PLUGINS` (``destination`` is its folder in
    the bundle, e.g. ``PySide6/Qt/plugins/platforms``)."""
    folder = PurePath(destination).name
    if folder not in DROPPED_QT_PLUGINS:
        return True
    dropped = DROPPED_QT_PLUGINS[folder]
    if dropped is None:
        return False
    name = PurePath(source).name.split(".")[0]  # libqvnc.so, qvnc.dll, libqvnc.dylib
    return name.removeprefix("lib") not in dropped


def keep_binary(destination: str, platform: str) -> bool:
    """False for a shared library the bundle leaves to the system (on Linux, the CUPS stack:
    :data:`LINUX_SYSTEM_LIBRARIES`). Only libraries at the bundle's top level are system
    libraries; Qt's and Python's own sit in their package folders."""
    if not platform.startswith("linux") or "/" in destination:
        return True
    return destination.split(".so")[0] not in LINUX_SYSTEM_LIBRARIES


def must_not_strip(path: PurePath) -> bool:
    """Whether ``strip`` would break this library: the ones a wheel vendors under a
    ``<package>.libs`` folder (numpy's and scipy's OpenBLAS), whose ELF segments ``strip``
    leaves misaligned ("ELF load command address/offset not page-aligned")."""
    return any(part.endswith(".libs") for part in path.parts[:-1])


def strip_binaries(folder: Path) -> int:
    """Strip the symbols of the bundle's shared libraries and programs, except those
    :func:`must_not_strip` (PyInstaller's own ``strip`` option cannot leave any out).
    Returns how many files were stripped."""
    import subprocess

    stripped = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink() or must_not_strip(path.relative_to(folder)):
            continue
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
        done = subprocess.run(["strip", "--strip-unneeded", str(path)], capture_output=True,
                              check=False)
        stripped += done.returncode == 0
    return stripped


def keep_qt_translation(source: str) -> bool:
    """Keep Qt's ``.qm`` catalogues only for :data:`QT_LANGUAGES` (and every non-catalogue)."""
    name = PurePath(source).name
    if not name.endswith(".qm"):
        return True
    return any(name.endswith(f"_{language}.qm") for language in QT_LANGUAGES)


def icon_for_platform(root: Path) -> str | None:
    """The icon file PyInstaller gives the executables: .ico on Windows, .icns on macOS.

    ``build.py`` renders them from the SVG into ``build/icons`` first; Linux executables
    carry no icon (the desktop entry names the SVG).
    """
    icons = root / "build" / "icons"
    if sys.platform.startswith("win"):
        candidate = icons / "gisttracker.ico"
    elif sys.platform == "darwin":
        candidate = icons / "gisttracker.icns"
    else:
        return None
    return str(candidate) if candidate.is_file() else None


# ----- fetching the fonts on a machine without the Debian packages ---------------------------
def _deb_member(deb: bytes, prefix: str) -> bytes:
    """The member of the ``ar`` archive ``deb`` whose name starts with ``prefix``."""
    if not deb.startswith(b"!<arch>\n"):
        raise BuildError("not a Debian package (no ar header)")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset:offset + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = offset + 60
        if name.startswith(prefix):
            return deb[start:start + size]
        offset = start + size + (size % 2)  # members are padded to an even length
    raise BuildError(f"Debian package has no {prefix}* member")


def extract_fonts(deb: bytes, package: FontPackage, destination: Path) -> list[Path]:
    """Write ``package``'s font files out of the ``.deb`` bytes into ``destination``."""
    data = _deb_member(deb, "data.tar")
    written: list[Path] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        members = {m.name.removeprefix("./"): m for m in archive.getmembers()}
        for inside, name in package.files:
            member = members.get(inside)
            if member is None or not member.isfile():
                raise BuildError(f"{package.name} has no {inside}")
            source = archive.extractfile(member)
            assert source is not None
            target = destination / name
            with target.open("wb") as out:
                shutil.copyfileobj(source, out)
            written.append(target)
    return written


def fetch_fonts(destination: Path) -> list[Path]:
    """Download the pinned Debian font packages, check them, and unpack the fonts.

    For Windows and macOS build machines, which have neither package. The SHA-256 pins the
    exact release the licence texts describe.
    """
    destination.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for package in FONT_PACKAGES:
        if all((destination / name).is_file() for _inside, name in package.files):
            continue
        with urllib.request.urlopen(package.url, timeout=120) as response:
            deb = response.read()
        digest = hashlib.sha256(deb).hexdigest()
        if digest != package.sha256:
            raise BuildError(f"{package.url}: SHA-256 {digest} is not the pinned "
                             f"{package.sha256}; refusing to use it")
        written += extract_fonts(deb, package, destination)
    return written

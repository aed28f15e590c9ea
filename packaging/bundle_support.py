"""Helpers shared by the PyInstaller spec and ``build.py``: data files, fonts, icons, version.

Plain Python (no PyInstaller import), so ``build.py`` can use it before PyInstaller runs and
the tests can check it. Paths inside the bundle mirror an installed wheel:
``gisttracker/_data/seeds`` and ``gisttracker/_data/resources`` (see gisttracker/resources.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
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
# embedded-device platforms (framebuffer, EGLFS, VNC, Vulkan display) and the minimal one,
# kiosk touch and evdev input, image formats the program never opens (its only image is the
# SVG icon; PNG, BMP and XPM are built into QtGui), and the GTK 3 theme, which would load the
# system's GTK against the bundle's own copies of cairo and pango (a known source of crashes)
# and drags some 5 MB of them in.
# OpenGL: the window paints with Qt's raster engine (no QOpenGLWidget, no Qt Quick), so it
# never asks for an OpenGL context, and the plugins that make one (xcb's GLX and EGL
# integrations, Wayland's EGL and compositor-buffer clients) go, and with them libQt6OpenGL
# and libxcb-glx, which only they need. Wayland keeps its platform plugin, the xdg-shell the
# desktop compositors speak (GNOME, KDE, Sway…) and both window decorations (GNOME draws none
# itself); the automotive IVI shell, Qt's own compositor shell, the full-screen kiosk shell
# and the obsolete wl_shell go.
# What stays (measured with LD_DEBUG on a window session under X, 2026-11-30): the platforms
# xcb (X11), wayland and offscreen (--startup-check, headless runs); on Windows and macOS
# their own; the input contexts (compose and ibus: Chinese input methods), the XDG desktop
# portal theme (sandboxed file dialogs, dark mode), the CUPS print plugin, the SVG icon
# engine and image format, and the ICO format (Windows icons).
DROPPED_QT_PLUGINS: dict[str, frozenset[str] | None] = {
    "egldeviceintegrations": None,
    "generic": None,
    "platforms": frozenset({"qeglfs", "qlinuxfb", "qminimalegl", "qvkkhrdisplay", "qvnc",
                            "qminimal"}),
    "platformthemes": frozenset({"qgtk3"}),
    "imageformats": frozenset({"qtiff", "qwebp", "qwbmp", "qtga", "qpdf", "qjpeg", "qgif",
                               "qicns"}),
    "xcbglintegrations": None,
    "wayland-graphics-integration-client": None,
    "wayland-shell-integration": frozenset({"fullscreen-shell-v1", "ivi-shell", "qt-shell",
                                            "wl-shell-plugin"}),
}
# Linux: the CUPS client library and the libraries the bundle would carry only for it (TLS,
# Kerberos, Avahi: some 10 MB). Qt's print plugin uses the system's libcups instead, which
# every Linux desktop that can print has, and which matches the system's CUPS server; the
# Reports area prints through the system's `lp` anyway (where there is no CUPS, it opens the
# PDF in the viewer).
# Likewise the D-Bus client library and what the build machine's copy alone brings (systemd's
# library and its compression and crypto libraries: 2.8 MB). QtDBus talks to the desktop's
# session bus (input methods, the desktop portal), so the desktop's own libdbus is the right
# one, and every desktop has it: PySide6's own wheels leave it to the system too. (libzstd
# and liblzma stay: QtCore and Python's lzma module need them.) Names without their version
# suffix.
LINUX_SYSTEM_LIBRARIES = frozenset({
    "libcups", "libgnutls", "libp11-kit", "libunistring", "libidn2", "libnettle",
    "libhogweed", "libgmp", "libtasn1", "libgssapi_krb5", "libkrb5", "libk5crypto",
    "libkrb5support", "libcom_err", "libkeyutils", "libavahi-client", "libavahi-common",
    "libdbus-1", "libsystemd", "libgcrypt", "libgpg-error", "liblz4", "libcap",
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


def data_files(root: Path, work: Path | None = None) -> list[tuple[str, str]]:
    """PyInstaller ``datas``: seeds/ and resources/ (as gisttracker/_data/...) and the fonts.

    Each entry is (source file, destination folder inside the bundle). With ``work`` (a
    build folder), the font collections of :data:`SINGLE_FACE_FONTS` are written there with
    only the face the reports use, and that copy is the one bundled.
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
    if work is not None:
        for name, face in SINGLE_FACE_FONTS.items():
            trimmed = single_face_collection(font_sources(root)[name], work / name, face)
            datas = [(src, dest) for src, dest in datas
                     if not (Path(src).name == name and dest == fonts_destination)]
            datas.append((str(trimmed), fonts_destination))
    return datas


# WenQuanYi Zen Hei's collection holds three faces: Zen Hei (the reports', subfontIndex=0),
# Zen Hei Mono and Zen Hei Sharp, whose embedded bitmaps alone are 4.7 MB. The bundle keeps
# the first face, still as a collection (the reports open it the same way): 16.8 -> 11.6 MB.
# Of that face it also leaves out what reportlab, the font's only reader, never reads: the
# 45,000 glyph names of its PostScript table (which becomes format 3, names-free, as in
# every subset reportlab embeds: 0.45 MB) and the vertical metrics (vhea, vmtx: 0.18 MB;
# the reports set text horizontally). The outlines, character map, horizontal metrics and
# names are copied as they are, so the subsets embedded in a PDF are the same bytes
# (tests/packaging/test_bundle_support.py). Its licence (GPL 2 with the font embedding
# exception) covers the modified copy; its source is the Debian package in FONT_PACKAGES.
SINGLE_FACE_FONTS = {"wqy-zenhei.ttc": 0}
#: Tables of the kept face that reportlab does not read (see above).
UNREAD_FONT_TABLES = ("vhea", "vmtx")


def single_face_collection(source: Path, target: Path, face: int) -> Path:
    """Write the font collection ``source`` to ``target`` with only its face ``face``, without
    glyph names or vertical metrics (fontTools copies the other tables as they are)."""
    from fontTools.ttLib import TTCollection

    target.parent.mkdir(parents=True, exist_ok=True)
    with TTCollection(str(source), lazy=True) as collection:
        if not 0 <= face < len(collection.fonts):
            raise BuildError(f"{source} has no face {face}")
        font = collection.fonts[face]
        font["post"].formatType = 3.0
        for tag in UNREAD_FONT_TABLES:
            if tag in font:
                del font[tag]
        collection.fonts = [font]
        collection.save(str(target))
    return target


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


def link_duplicates(folder: Path) -> int:
    """Replace each file that is byte for byte a copy of another file in ``folder`` by a
    relative symbolic link to the first copy; returns the bytes saved.

    PyInstaller copies a library that two wheels' extensions need into each wheel's
    ``.libs`` folder: numpy's libgfortran and libquadmath (3 MB) sit in ``scipy.libs`` too.
    The loader finds a library through a link as well as through a file, and tar keeps the
    links. (Linux only: Windows has no links a user's unzip keeps.)"""
    first: dict[tuple[int, str], Path] = {}
    saved = 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size < 64 * 1024:
            continue
        size = path.stat().st_size
        key = (size, hashlib.sha256(path.read_bytes()).hexdigest())
        original = first.setdefault(key, path)
        if original is path:
            continue
        path.unlink()
        path.symlink_to(os.path.relpath(original, path.parent))
        saved += size
    return saved


# ----- ICU's data, trimmed to the program's languages (Linux) --------------------------------
# PySide6's Linux wheels carry ICU, and its data library (libicudata.so.NN, 32 MB) holds the
# locale data of every language on earth. Qt calls ICU for four things only (the symbols
# libQt6Core imports): collation (QCollator: sorting names, pinyin order for Chinese), case
# mapping (whose tables are built into libicuuc, not the data), time-zone names, and
# converters between Unicode and legacy encodings. The bundle keeps, of the data package,
# what those need in the program's languages (root, English, Simplified Chinese): the
# collation rules and zone names of those locales, the time-zone database, the shared
# tables (pool, supplemental data, likely subtags, normalisation), and the converters of
# the encodings a Chinese or Western site may still meet (GB18030, GBK, GB2312,
# Windows-1252; UTF-8/16/32 and Latin-1 need no data). It leaves out every other locale,
# the currency, language, unit and spell-out names, transliteration, break-iteration
# dictionaries (Qt does not call ICU's break iterators), character names and the other
# converters: 32 MB become about 4 MB. A locale left out falls back to the root collation
# order, as ICU does for any locale it lacks.
ICU_LANGUAGES = ("root", "en", "zh")
#: Traditional Chinese is not a language of the program (i18n.normalize refuses it).
ICU_DROPPED_SCRIPTS = frozenset({"Hant", "TW", "HK", "MO"})
ICU_KEPT_TREES = frozenset({"coll", "zone", "region"})
ICU_KEPT_CONVERTERS = frozenset({"gb18030", "windows-936-2000", "ibm-1383_P110-1999",
                                 "ibm-1386_P100-2001", "ibm-5348_P100-1997"})
ICU_DROPPED_FILES = frozenset({"unames.icu"})
# A locale's file name: a 2-3 letter language, then script (Hans), region (CN, 419) or
# variant (POSIX, "de__PHONEBOOK") parts; shared tables have other names ("pool",
# "res_index", "supplementalData").
_ICU_LOCALE = re.compile(r"^[a-z]{2,3}(_([A-Z][a-z]{3}|[A-Z0-9]*))*$")


def keep_icu_item(name: str) -> bool:
    """Whether the bundle keeps item ``name`` of ICU's data package (``coll/zh.res``,
    ``gb18030.cnv``, ``pool.res``: the path inside the package, without its prefix)."""
    parts = name.split("/")
    stem, _dot, kind = parts[-1].rpartition(".")
    words = stem.split("_")
    ours = (words[0] in ICU_LANGUAGES and not ICU_DROPPED_SCRIPTS.intersection(words[1:]))
    locale_kept = ours or not _ICU_LOCALE.match(stem)
    if len(parts) == 1:
        if kind == "cnv":
            return stem in ICU_KEPT_CONVERTERS
        return kind != "cfu" and parts[-1] not in ICU_DROPPED_FILES and locale_kept
    return parts[0] in ICU_KEPT_TREES and locale_kept


def icu_items(package: bytes) -> list[tuple[str, int]]:
    """The items of an ICU common data package (the ``icudtNNl.dat`` format: a data header,
    then a table of contents of (name offset, data offset) pairs), as (name, size)."""
    header_size, magic = struct.unpack_from("<H2s", package, 0)
    if magic != b"\xda\x27":
        raise BuildError("not an ICU data package (no ICU magic number)")
    count = struct.unpack_from("<I", package, header_size)[0]
    entries = [struct.unpack_from("<II", package, header_size + 4 + 8 * i)
               for i in range(count)]
    items = []
    for i, (name_at, data_at) in enumerate(entries):
        start = header_size + name_at
        name = package[start:package.index(b"\0", start)].decode("ascii")
        end = entries[i + 1][1] if i + 1 < count else len(package) - header_size
        items.append((name, end - data_at))
    return items


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BuildError(f"{name} not found: on Debian/Ubuntu apt-get install {package}")
    return found


def trim_icu_data(folder: Path, work: Path) -> tuple[int, int] | None:
    """Rebuild the bundle's ``libicudata.so.NN`` with only the items :func:`keep_icu_item`
    keeps; returns its size (bytes) before and after, or None when the bundle has no ICU.

    The data is the library's read-only section (the symbol ``icudtNN_dat``); ICU's own
    ``icupkg`` (Debian: icu-devtools) removes items and checks that nothing kept depends on
    a removed one; binutils' ``as`` and ``ld`` make the library again."""
    libraries = [p for p in folder.rglob("libicudata.so.*") if not p.is_symlink()]
    if not libraries:
        return None
    [library] = libraries
    version = library.name.removeprefix("libicudata.so.").split(".")[0]
    package_name = f"icudt{version}l"
    objcopy, icupkg = _tool("objcopy", "binutils"), _tool("icupkg", "icu-devtools")
    assembler, linker = _tool("as", "binutils"), _tool("ld", "binutils")
    work.mkdir(parents=True, exist_ok=True)
    full = work / f"{package_name}.dat"
    subprocess.run([objcopy, "-O", "binary", "--only-section=.rodata", str(library),
                    str(full)], check=True)
    package = full.read_bytes()
    items = icu_items(package)
    prefix = f"{package_name}/"
    if not items or not all(name.startswith(prefix) for name, _size in items):
        raise BuildError(f"{library}: its data is not the package {package_name}")
    removed = {name.removeprefix(prefix) for name, _size in items
               if not keep_icu_item(name.removeprefix(prefix))}
    trimmed = work / "trimmed" / full.name  # icupkg names the package after the file
    trimmed.parent.mkdir(exist_ok=True)
    while True:
        listing = work / "removed.txt"
        listing.write_text("".join(f"{name}\n" for name in sorted(removed)), encoding="ascii")
        done = subprocess.run([icupkg, "-r", str(listing), str(full), str(trimmed)],
                              capture_output=True, text=True)
        # A kept item that refers to a removed one (a Traditional Chinese locale whose
        # parent is Cantonese) goes too; icupkg names each and refuses to write.
        needing = set(re.findall(r"Item (\S+) depends on missing item",
                                 done.stdout + done.stderr))
        if done.returncode == 0:
            break
        if not needing or needing <= removed:
            raise BuildError(f"icupkg failed: {(done.stdout + done.stderr).strip()}")
        removed |= needing
    source = work / "icudata.S"
    source.write_text(
        f"    .section .rodata\n    .globl icudt{version}_dat\n"
        f"    .type icudt{version}_dat, @object\n    .balign 16\nicudt{version}_dat:\n"
        f'    .incbin "{trimmed}"\n    .size icudt{version}_dat, . - icudt{version}_dat\n'
        '    .section .note.GNU-stack,"",@progbits\n', encoding="ascii")
    subprocess.run([assembler, str(source), "-o", str(work / "icudata.o")], check=True)
    before = library.stat().st_size
    rebuilt = work / library.name
    subprocess.run([linker, "-shared", "-soname", library.name, "-o", str(rebuilt),
                    str(work / "icudata.o")], check=True)
    shutil.copyfile(rebuilt, library)
    return before, library.stat().st_size


# Data folders of libraries whose code the program never reaches: pytz's time-zone database
# (2.6 MB; pandas imports pytz, but the statistics hand it no time zones: pytz.utc needs no
# file, and the program's dates are calendar dates).
DROPPED_DATA_FOLDERS = ("pytz/zoneinfo",)


# Of the distributions' metadata, Help > About and ``--version`` read METADATA (name, version,
# licence, requirements) and the licence files, which stay. A wheel's RECORD (the list of
# its installed files with their hashes: 1.3 MB, and wrong for the bundle anyway) and
# platformdirs' software bill of materials (0.5 MB of CycloneDX JSON) are read by nothing.
DROPPED_METADATA_FILES = ("RECORD",)
DROPPED_METADATA_FOLDERS = ("sboms",)


def keep_data(destination: str) -> bool:
    """False for a data file whose folder in the bundle is in :data:`DROPPED_DATA_FOLDERS`,
    or a distribution's metadata no code reads (:data:`DROPPED_METADATA_FILES`,
    :data:`DROPPED_METADATA_FOLDERS`); ``destination`` is its path inside the bundle."""
    path = PurePath(destination)
    posix = path.as_posix()
    if any(posix == folder or posix.startswith(folder + "/")
           for folder in DROPPED_DATA_FOLDERS):
        return False
    if len(path.parts) > 1 and path.parts[0].endswith(".dist-info"):
        if len(path.parts) == 2 and path.name in DROPPED_METADATA_FILES:
            return False
        if path.parts[1] in DROPPED_METADATA_FOLDERS:
            return False
    return True


# ----- one copy of a library that two wheels both carry (Linux) -----------------------------
# Some libraries come into the bundle twice: once from the build machine (for Python's or Qt's
# own modules) and once vendored by a wheel under a renamed file. The loader needs only one:
# each pair below names the copy that is replaced by a link and the copy that stays, which
# must define every symbol (with its version) that the bundle's other libraries import from
# the one it replaces: :func:`link_shared_copies` checks that before linking and refuses the
# build otherwise, so an upgrade that breaks the rule fails loudly. (Through the link the
# loader maps the one file once: a library asked for under both names is the same object.)
#   - OpenSSL: Python's _ssl and _hashlib come with the build machine's libssl/libcrypto 3.0
#     (5.4 MB); psycopg's binary wheel vendors OpenSSL 3.5 for libpq, which needs symbols
#     3.0 lacks. OpenSSL keeps its ABI across 3.x, so Python's modules run on psycopg's copy.
#     (Its compiled-in certificate folder is psycopg's, so Python's ssl would find no system
#     certificates; the program makes no TLS connection of its own: ssl is only imported
#     because reportlab imports urllib.request. libpq, which does, is unaffected.)
#   - libXau: Pillow's vendored copy is a 2.1 MB file, 2.08 MB of it a hole that patchelf's
#     2 MiB-aligned segment left when the wheel was repaired; the system's (14 KB, already in
#     the bundle for Qt's xcb) serves Pillow's libxcb as well: the X authority file reader,
#     whose eight functions have not changed since 1988.
# (replaced, kept): glob patterns relative to the bundle's _internal folder
SHARED_COPIES: tuple[tuple[str, str], ...] = (
    ("libcrypto.so.3", "psycopg_binary.libs/libcrypto-*.so.3"),
    ("libssl.so.3", "psycopg_binary.libs/libssl-*.so.3"),
    ("pillow.libs/libXau-*.so.6*", "libXau.so.6"),
)


def _dynamic_symbols(library: Path) -> tuple[set[str], set[str]]:
    """The dynamic symbols ``library`` defines and those it imports, each as
    ``name@version`` (binutils readelf; the linker's section-boundary symbols left out)."""
    listing = subprocess.run([_tool("readelf", "binutils"), "--dyn-syms", "--wide",
                              str(library)], capture_output=True, text=True, check=True).stdout
    defined: set[str] = set()
    imported: set[str] = set()
    for line in listing.splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name [(version index)]
        if len(fields) >= 8 and fields[0].endswith(":") and fields[4] in {"GLOBAL", "WEAK"}:
            name = fields[7].replace("@@", "@")
            (imported if fields[6] == "UND" else defined).add(name)
    return defined - LINKER_SYMBOLS, imported


#: Symbols the linker defines in every library (section boundaries); nothing imports them.
LINKER_SYMBOLS = frozenset({"__bss_start", "_edata", "_end", "_init", "_fini"})


def _needed(library: Path) -> set[str]:
    """The libraries ``library`` names as NEEDED (file names or sonames)."""
    listing = subprocess.run([_tool("readelf", "binutils"), "--dynamic", "--wide",
                              str(library)], capture_output=True, text=True).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", listing))


def _elf_files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def link_shared_copies(internal: Path,
                       pairs: tuple[tuple[str, str], ...] = SHARED_COPIES) -> int:
    """Replace the first library of each pair in :data:`SHARED_COPIES` by a relative link to
    the second; returns the bytes saved. A pair whose files are not both in the bundle (one
    wheel not installed, another platform) is skipped. A kept copy that lacks a symbol which
    a library of the bundle imports from the replaced one raises :class:`BuildError`."""
    saved = 0
    elf_files: list[Path] | None = None
    for replaced_glob, kept_glob in pairs:
        replaced = [p for p in internal.glob(replaced_glob) if not p.is_symlink()]
        kept = [p for p in internal.glob(kept_glob) if not p.is_symlink()]
        if len(replaced) != 1 or len(kept) != 1:
            continue
        [old], [new] = replaced, kept
        if elf_files is None:
            elf_files = _elf_files(internal)
        old_defined, _ = _dynamic_symbols(old)
        wanted: set[str] = set()
        for user in elf_files:
            if user != old and old.name in _needed(user):
                wanted |= _dynamic_symbols(user)[1] & old_defined
        missing = wanted - _dynamic_symbols(new)[0]
        if missing:
            raise BuildError(
                f"{new.relative_to(internal)} cannot stand in for {old.relative_to(internal)}:"
                f" it lacks {len(missing)} of the symbols the bundle imports from it, e.g. "
                f"{sorted(missing)[:3]} (bundle_support.SHARED_COPIES)")
        size = old.stat().st_size
        old.unlink()
        old.symlink_to(os.path.relpath(new, old.parent))
        saved += size
    return saved


def keep_qt_translation(source: str) -> bool:
    """Keep Qt's ``.qm`` catalogues only for :data:`QT_LANGUAGES`, and of those only
    ``qtbase``, the one ``ui.language`` loads (the ``qt_`` meta-catalogue and Qt Help's are
    for modules the program does not have); every non-catalogue stays."""
    name = PurePath(source).name
    if not name.endswith(".qm"):
        return True
    return (name.startswith("qtbase_")
            and any(name.endswith(f"_{language}.qm") for language in QT_LANGUAGES))


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

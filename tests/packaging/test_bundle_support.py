"""The rules the bundle is built by: which Qt plugins, translations and system libraries stay,
what data goes in, and how fonts are unpacked from a Debian package on Windows and macOS."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from tests.packaging.helpers import ROOT

sys.path.insert(0, str(ROOT / "packaging"))
import bundle_support as support


@pytest.mark.parametrize(("source", "folder", "kept"), [
    ("/qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms", True),
    ("/qt/plugins/platforms/libqwayland.so", "PySide6/Qt/plugins/platforms", True),
    ("/qt/plugins/platforms/libqoffscreen.so", "PySide6/Qt/plugins/platforms", True),
    (r"C:\qt\plugins\platforms\qwindows.dll", "PySide6/plugins/platforms", True),
    ("/qt/plugins/platforms/libqcocoa.dylib", "PySide6/Qt/plugins/platforms", True),
    ("/qt/plugins/platforms/libqvnc.so", "PySide6/Qt/plugins/platforms", False),
    ("/qt/plugins/platforms/libqlinuxfb.so", "PySide6/Qt/plugins/platforms", False),
    ("/qt/plugins/platformthemes/libqgtk3.so", "PySide6/Qt/plugins/platformthemes", False),
    ("/qt/plugins/platformthemes/libqxdgdesktopportal.so", "PySide6/Qt/plugins/platformthemes",
     True),
    ("/qt/plugins/generic/libqtuiotouchplugin.so", "PySide6/Qt/plugins/generic", False),
    ("/qt/plugins/imageformats/libqsvg.so", "PySide6/Qt/plugins/imageformats", True),
    ("/qt/plugins/imageformats/libqtiff.so", "PySide6/Qt/plugins/imageformats", False),
    ("/qt/plugins/platforminputcontexts/libibusplatforminputcontextplugin.so",
     "PySide6/Qt/plugins/platforminputcontexts", True),  # Chinese input methods
    ("/qt/plugins/printsupport/libcupsprintersupport.so", "PySide6/Qt/plugins/printsupport",
     True),
])
def test_qt_plugins_kept_and_dropped(source: str, folder: str, kept: bool) -> None:
    assert support.keep_qt_plugin(source, folder) is kept


def test_qt_translations_only_for_the_programs_languages() -> None:
    assert support.keep_qt_translation("PySide6/Qt/translations/qtbase_zh_CN.qm")
    assert support.keep_qt_translation("PySide6/Qt/translations/qt_en.qm")
    assert not support.keep_qt_translation("PySide6/Qt/translations/qtbase_zh_TW.qm")
    assert not support.keep_qt_translation("PySide6/Qt/translations/qtbase_de.qm")
    assert support.keep_qt_translation("gisttracker/_data/seeds/x.toml")


def test_the_cups_stack_is_left_to_the_system_on_linux_only() -> None:
    assert not support.keep_binary("libcups.so.2", "linux")
    assert not support.keep_binary("libgnutls.so.30", "linux")
    assert support.keep_binary("libcrypto.so.3", "linux")  # Python's hashlib needs it
    assert support.keep_binary("libsqlite3.so.0", "linux")
    assert support.keep_binary("PySide6/Qt/lib/libQt6Core.so.6", "linux")
    assert support.keep_binary("libcups.2.dylib", "darwin")


def test_data_files_put_seeds_and_resources_inside_the_package() -> None:
    datas = support.data_files(ROOT)
    seeds = [src for src, dest in datas if dest == "gisttracker/_data/seeds"]
    assert sorted(Path(s).name for s in seeds) == sorted(p.name for p in
                                                         (ROOT / "seeds").glob("*.toml"))
    assert (str(ROOT / "resources" / "icons" / "gisttracker.svg"),
            "gisttracker/_data/resources/icons") in datas
    fonts = {Path(src).name for src, dest in datas
             if dest == "gisttracker/_data/resources/fonts"}
    assert {"DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "wqy-zenhei.ttc", "GPL-2.txt"} <= fonts
    assert not any("__pycache__" in src for src, _dest in datas)


def _deb(members: dict[str, bytes]) -> bytes:
    """A minimal Debian package: an ar archive whose data.tar.xz holds ``members``."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:xz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in (("debian-binary", b"2.0\n"), ("control.tar.xz", b"x"),
                       ("data.tar.xz", tar_bytes.getvalue())):
        out.write(f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n"
                  .encode("ascii"))
        out.write(data + (b"\n" if len(data) % 2 else b""))  # odd members are padded
    return out.getvalue()


def test_fonts_are_unpacked_from_a_debian_package(tmp_path: Path) -> None:
    package = support.FONT_PACKAGES[0]
    members = {inside: f"font {name}".encode() for inside, name in package.files}
    written = support.extract_fonts(_deb(members), package, tmp_path)
    assert sorted(p.name for p in written) == sorted(name for _i, name in package.files)
    assert (tmp_path / "DejaVuSans.ttf").read_bytes() == b"font DejaVuSans.ttf"


def test_a_package_without_the_font_is_refused(tmp_path: Path) -> None:
    with pytest.raises(support.BuildError, match="has no usr/share/fonts"):
        support.extract_fonts(_deb({"usr/share/doc/readme": b"x"}), support.FONT_PACKAGES[1],
                              tmp_path)
    with pytest.raises(support.BuildError, match="not a Debian package"):
        support.extract_fonts(b"<html>404</html>", support.FONT_PACKAGES[1], tmp_path)


def test_version_is_read_without_importing() -> None:
    from gisttracker import __version__

    assert support.version(ROOT) == __version__

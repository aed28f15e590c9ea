"""The rules the bundle is built by: which Qt plugins, translations and system libraries stay,
what data goes in, and how fonts are unpacked from a Debian package on Windows and macOS."""

from __future__ import annotations

import io
import os
import platform
import subprocess
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
    ("/qt/plugins/imageformats/libqico.so", "PySide6/Qt/plugins/imageformats", True),
    ("/qt/plugins/imageformats/libqjpeg.so", "PySide6/Qt/plugins/imageformats", False),
    ("/qt/plugins/platforms/libqminimal.so", "PySide6/Qt/plugins/platforms", False),
    ("/qt/plugins/iconengines/libqsvgicon.so", "PySide6/Qt/plugins/iconengines", True),
    ("/qt/plugins/platforminputcontexts/libcomposeplatforminputcontextplugin.so",
     "PySide6/Qt/plugins/platforminputcontexts", True),
    # The window never asks for OpenGL: no GL integrations, on X11 or Wayland.
    ("/qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
     "PySide6/Qt/plugins/xcbglintegrations", False),
    ("/qt/plugins/wayland-graphics-integration-client/libqt-plugin-wayland-egl.so",
     "PySide6/Qt/plugins/wayland-graphics-integration-client", False),
    # Wayland: the desktop compositors' shell and both decorations stay.
    ("/qt/plugins/wayland-shell-integration/libxdg-shell.so",
     "PySide6/Qt/plugins/wayland-shell-integration", True),
    ("/qt/plugins/wayland-shell-integration/libivi-shell.so",
     "PySide6/Qt/plugins/wayland-shell-integration", False),
    ("/qt/plugins/wayland-shell-integration/libwl-shell-plugin.so",
     "PySide6/Qt/plugins/wayland-shell-integration", False),
    ("/qt/plugins/wayland-decoration-client/libadwaita.so",
     "PySide6/Qt/plugins/wayland-decoration-client", True),
    ("/qt/plugins/wayland-decoration-client/libbradient.so",
     "PySide6/Qt/plugins/wayland-decoration-client", True),
])
def test_qt_plugins_kept_and_dropped(source: str, folder: str, kept: bool) -> None:
    assert support.keep_qt_plugin(source, folder) is kept


def test_qt_translations_only_for_the_programs_languages() -> None:
    assert support.keep_qt_translation("PySide6/Qt/translations/qtbase_zh_CN.qm")
    assert support.keep_qt_translation("PySide6/Qt/translations/qtbase_en.qm")
    # ui.language loads qtbase only; the meta-catalogue and Qt Help's are for other modules.
    assert not support.keep_qt_translation("PySide6/Qt/translations/qt_zh_CN.qm")
    assert not support.keep_qt_translation("PySide6/Qt/translations/qt_help_zh_CN.qm")
    assert not support.keep_qt_translation("PySide6/Qt/translations/qtbase_zh_TW.qm")
    assert not support.keep_qt_translation("PySide6/Qt/translations/qtbase_de.qm")
    assert support.keep_qt_translation("gisttracker/_data/seeds/x.toml")


def test_the_cups_stack_is_left_to_the_system_on_linux_only() -> None:
    assert not support.keep_binary("libcups.so.2", "linux")
    assert not support.keep_binary("libgnutls.so.30", "linux")
    assert support.keep_binary("libcrypto.so.3", "linux")  # Python's hashlib needs it
    assert support.keep_binary("libsqlite3.so.0", "linux")
    assert not support.keep_binary("libdbus-1.so.3", "linux")  # the desktop's session bus
    assert not support.keep_binary("libsystemd.so.0", "linux")
    assert support.keep_binary("libzstd.so.1", "linux")  # QtCore's
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


# ----- ICU's data, trimmed (Linux) ----------------------------------------------------------
@pytest.mark.parametrize(("item", "kept"), [
    ("coll/zh.res", True),             # pinyin order for Chinese names
    ("coll/zh_Hans_CN.res", True),
    ("coll/root.res", True),
    ("coll/ucadata.icu", True),
    ("coll/en_US_POSIX.res", True),
    ("coll/ja.res", False),
    ("coll/de__PHONEBOOK.res", False),
    ("coll/zh_Hant_TW.res", False),    # Traditional Chinese is not the program's
    ("zone/zh.res", True),
    ("zone/tzdbNames.res", True),
    ("zone/fr.res", False),
    ("zoneinfo64.res", True),
    ("metaZones.res", True),
    ("pool.res", True),
    ("res_index.res", True),
    ("ca_ES_VALENCIA.res", False),
    ("es_419.res", False),
    ("sr_Latn_BA.res", False),
    ("en_US_POSIX.res", True),
    ("supplementalData.res", True),
    ("likelySubtags.res", True),
    ("cnvalias.icu", True),
    ("uts46.nrm", True),
    ("gb18030.cnv", True),
    ("ibm-1386_P100-2001.cnv", True),  # GBK
    ("ibm-943_P15A-2003.cnv", False),  # Shift_JIS
    ("fr.res", False),
    ("zh_Hans.res", True),
    ("unames.icu", False),
    ("brkitr/cjdict.dict", False),     # Qt does not call ICU's break iterators
    ("translit/root.res", False),
    ("curr/zh.res", False),
    ("rbnf/en.res", False),
])
def test_icu_items_kept_and_dropped(item: str, kept: bool) -> None:
    assert support.keep_icu_item(item) is kept


_QT_ICU_PROBE = """
import functools
from PySide6.QtCore import QCollator, QCoreApplication, QLocale, QStringEncoder, QTimeZone
app = QCoreApplication([])
names = ["张三", "李四", "王五", "赵六", "阿", "Zeta", "alpha", "Émile", "émile", "Beta"]
for locale in ("zh_CN", "en_US", "de_DE"):
    collator = QCollator(QLocale(locale))
    print(locale, sorted(names, key=functools.cmp_to_key(collator.compare)))
    print(locale, QLocale(locale).toUpper("straße"), QLocale(locale).toLower("ÉMILE"))
for locale in ("zh_CN", "en_US"):  # (other languages' zone names fall back to English)
    for zone in (b"Asia/Shanghai", b"Europe/Berlin"):
        print(locale, QTimeZone(zone).displayName(
            QTimeZone.TimeType.StandardTime, QTimeZone.NameType.LongName, QLocale(locale)))
for encoding in ("GB18030", "GBK", "GB2312", "windows-1252"):
    print(encoding, QStringEncoder(encoding).isValid())
print([line.split()[-1] for line in open("/proc/self/maps") if "libicudata" in line][0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux bundles only")
def test_trimmed_icu_data_gives_qt_the_same_answers(tmp_path: Path) -> None:
    """The trimmed library, loaded in place of PySide6's, sorts Chinese names in pinyin
    order, names time zones in Chinese and English, and converts GB18030 exactly as the
    full one does, in a fifth of the room or less."""
    import subprocess

    import PySide6

    original = next(Path(PySide6.__file__).parent.glob("Qt/lib/libicudata.so.*"))
    folder = tmp_path / "bundle"
    folder.mkdir()
    library = folder / original.name
    library.write_bytes(original.read_bytes())
    sizes = support.trim_icu_data(folder, tmp_path / "work")
    assert sizes is not None
    before, after = sizes
    assert before == original.stat().st_size and after == library.stat().st_size
    assert after < before / 5, (before, after)

    def probe(preload: Path | None) -> list[str]:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        if preload is not None:
            env["LD_PRELOAD"] = str(preload)  # the loader then takes it for its soname
        done = subprocess.run([sys.executable, "-c", _QT_ICU_PROBE], env=env,
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.splitlines()

    full, trimmed = probe(None), probe(library)
    assert trimmed[-1] == str(library) and full[-1] != str(library)
    assert trimmed[:-1] == full[:-1]
    assert "zh_CN ['阿', '李四', '王五', '张三', '赵六'," in "\n".join(trimmed)
    assert "zh_CN 中国标准时间" in trimmed
    assert "GB18030 True" in trimmed


def test_identical_libraries_become_links(tmp_path: Path) -> None:
    numpy_libs, scipy_libs = tmp_path / "numpy.libs", tmp_path / "scipy.libs"
    numpy_libs.mkdir()
    scipy_libs.mkdir()
    blob = bytes(range(256)) * 1024
    (numpy_libs / "libgfortran.so.5").write_bytes(blob)
    (scipy_libs / "libgfortran.so.5").write_bytes(blob)
    (scipy_libs / "libother.so").write_bytes(blob[::-1])
    assert support.link_duplicates(tmp_path) == len(blob)
    link = scipy_libs / "libgfortran.so.5"
    assert link.is_symlink() and os.readlink(link) == "../numpy.libs/libgfortran.so.5"
    assert link.read_bytes() == blob
    assert not (scipy_libs / "libother.so").is_symlink()


def test_the_chinese_font_keeps_only_the_face_the_reports_use(tmp_path: Path) -> None:
    """The bundled WenQuanYi Zen Hei has its first face only, without glyph names and
    vertical metrics; reportlab still opens it as the reports do (subfontIndex=0), sets
    Chinese text with it, and embeds exactly the font subset the full collection gives."""
    from fontTools.ttLib import TTCollection
    from pypdf import PdfReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen.canvas import Canvas

    source = support.font_sources(ROOT)["wqy-zenhei.ttc"]
    datas = support.data_files(ROOT, tmp_path / "fonts")
    [bundled] = [Path(src) for src, dest in datas if Path(src).name == "wqy-zenhei.ttc"]
    assert bundled.parent == tmp_path / "fonts"
    assert bundled.stat().st_size < source.stat().st_size * 0.7
    with TTCollection(str(bundled)) as collection:
        [face] = collection.fonts
        assert face["post"].formatType == 3.0 and "vmtx" not in face
    text = "受试者入组：无进展生存期 PFS 12 个月 ≥ 50%"

    def embedded(font_file: Path, name: str) -> tuple[str, list[bytes]]:
        pdfmetrics.registerFont(TTFont(name, str(font_file), subfontIndex=0))
        pdf = tmp_path / f"{name}.pdf"
        canvas = Canvas(str(pdf))
        canvas.setFont(name, 12)
        canvas.drawString(72, 720, text)
        canvas.save()
        page = PdfReader(pdf).pages[0]
        # reportlab's subsets of the font, in order (the canvas's Helvetica has no file)
        fonts = [font for _key, font in sorted(page["/Resources"]["/Font"].items())
                 if "/FontDescriptor" in font]
        assert fonts
        return page.extract_text(), [font["/FontDescriptor"]["/FontFile2"].get_data()
                                     for font in fonts]

    bundled_text, bundled_subset = embedded(bundled, "Test-ZenHei-One-Face")
    full_text, full_subset = embedded(source, "Test-ZenHei-Full")
    assert text in bundled_text and bundled_text == full_text
    assert bundled_subset == full_subset
    with pytest.raises(support.BuildError, match="has no face 3"):
        support.single_face_collection(source, tmp_path / "x.ttc", 3)


def test_unread_distribution_metadata_is_left_out() -> None:
    assert not support.keep_data("pandas-2.3.3.dist-info/RECORD")
    assert not support.keep_data("platformdirs-4.14.9.dist-info/sboms/platformdirs.cdx.json")
    # Help > About reads METADATA; the licence texts travel with the program.
    assert support.keep_data("pandas-2.3.3.dist-info/METADATA")
    assert support.keep_data("numpy-2.4.6.dist-info/licenses/LICENSE.txt")
    assert support.keep_data("gisttracker/_data/resources/RECORD")


def _shared_library(folder: Path, name: str, defines: tuple[str, ...],
                    calls: tuple[str, ...] = (), needs: tuple[Path, ...] = ()) -> Path:
    """A tiny x86-64 shared library made with binutils (as, ld): it defines the functions
    ``defines`` and one more, ``<name>_user``, that calls ``calls`` in the libraries
    ``needs``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.split(".so")[0].removeprefix("lib").replace("-", "_")
    lines = ["    .text"]
    for symbol in (*defines, f"{stem}_user"):
        lines += [f"    .globl {symbol}", f"    .type {symbol}, @function", f"{symbol}:"]
    lines += [f"    call {symbol}@PLT" for symbol in calls] + ["    ret",
              '    .section .note.GNU-stack,"",@progbits', ""]
    source = folder / f"{stem}.s"
    source.write_text("\n".join(lines), encoding="ascii")
    subprocess.run(["as", str(source), "-o", str(folder / f"{stem}.o")], check=True)
    library = folder / name
    subprocess.run(["ld", "-shared", "-soname", name, "-o", str(library),
                    str(folder / f"{stem}.o"), *map(str, needs)], check=True)
    (folder / f"{stem}.s").unlink()
    (folder / f"{stem}.o").unlink()
    return library


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the test libraries are x86-64")
def test_a_library_two_wheels_carry_is_kept_once(tmp_path: Path) -> None:
    """The system copy becomes a link to the wheel's when the wheel's copy defines every
    symbol the bundle's libraries take from the system's; otherwise the build stops."""
    internal = tmp_path / "_internal"
    system = _shared_library(internal, "libthing.so.3", ("thing_new", "thing_old", "unused"))
    _shared_library(internal / "python3.11" / "lib-dynload", "_thing.so", (),
                    calls=("thing_new", "thing_old"), needs=(system,))
    vendored = _shared_library(internal / "wheel.libs", "libthing-1a2b.so.3",
                               ("thing_new", "thing_old", "thing_newer"))
    pair = (("libthing.so.3", "wheel.libs/libthing-*.so.3"),)
    size = system.stat().st_size
    assert support.link_shared_copies(internal, pair) == size
    assert system.is_symlink() and os.readlink(system) == "wheel.libs/libthing-1a2b.so.3"
    assert system.read_bytes() == vendored.read_bytes()
    assert support.link_shared_copies(internal, pair) == 0  # already a link: nothing to do

    # A vendored copy without a symbol the bundle imports from the system's: refused.
    system.unlink()
    _shared_library(internal, "libthing.so.3", ("thing_new", "thing_old", "unused"))
    vendored.unlink()
    _shared_library(internal / "wheel.libs", "libthing-1a2b.so.3", ("thing_new", "unused"))
    with pytest.raises(support.BuildError, match=r"lacks 1 .*thing_old"):
        support.link_shared_copies(internal, pair)
    assert not system.is_symlink()
    # ... but one it lacks that nobody imports ("unused" here) does not matter.
    vendored.unlink()
    _shared_library(internal / "wheel.libs", "libthing-1a2b.so.3", ("thing_new", "thing_old"))
    assert support.link_shared_copies(internal, pair) == size


def test_pytz_zone_files_are_left_out_and_nothing_else() -> None:
    assert not support.keep_data("pytz/zoneinfo/Europe/Berlin")
    assert not support.keep_data("pytz/zoneinfo")
    assert support.keep_data("pytz/__init__.pyc")
    assert support.keep_data("pytz_helper/zoneinfo/x")
    assert support.keep_data("gisttracker/_data/seeds/nct03862768.toml")

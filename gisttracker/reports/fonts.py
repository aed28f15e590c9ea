"""Fonts for the PDF reports: DejaVu Sans for Latin text, WenQuanYi Zen Hei for Chinese.

reportlab embeds (and subsets) TrueType fonts. Latin text is set in DejaVu Sans, which has
the clinical symbols (≤ ≥ × µ) that the PDF standard fonts lack; any run of CJK characters is
switched to WenQuanYi Zen Hei (Debian package ``fonts-wqy-zenhei``; reportlab reads the
``.ttc`` with ``subfontIndex=0``). The Noto CJK ``.ttc`` files cannot be used: reportlab
cannot read their CFF outlines. Fonts are looked up first among the fonts shipped with the
program (``resources/fonts/``, see :mod:`gisttracker.resources`; the installers bundle both),
then in the platform's font folders (Linux, Windows and macOS each have their own); without
them the reports fall back to Helvetica and say so.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from gisttracker import resources

RESOURCE_FONTS = resources.fonts_dir()


def system_font_dirs(platform: str, environ: Mapping[str, str], home: Path) -> tuple[Path, ...]:
    """The folders where ``platform`` (a ``sys.platform`` value) keeps installed fonts.

    System-wide folders first, then the user's own: a font a user installed for themselves is
    found too (Windows 10+ puts those under ``%LOCALAPPDATA%``, not ``%WINDIR%``).
    """
    if platform.startswith("win"):
        windir = Path(environ.get("WINDIR") or environ.get("SYSTEMROOT") or r"C:\Windows")
        folders = [windir / "Fonts"]
        if environ.get("LOCALAPPDATA"):
            folders.append(Path(environ["LOCALAPPDATA"]) / "Microsoft" / "Windows" / "Fonts")
        return tuple(folders)
    if platform == "darwin":
        return (Path("/Library/Fonts"), Path("/System/Library/Fonts"),
                home / "Library" / "Fonts")
    # Linux and other Unix: the TrueType folder first, as most fonts live there and the
    # whole of /usr/share/fonts is slower to walk.
    return (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"),
            Path("/usr/local/share/fonts"), home / ".local" / "share" / "fonts",
            home / ".fonts")


SYSTEM_FONTS = system_font_dirs(sys.platform, os.environ, Path.home())

# CJK ideographs, punctuation, full-width forms, kana and hangul.
_CJK = re.compile(
    "([\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+)")


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    cjk_name: str
    cjk_path: Path | None
    latin_path: Path | None

    @property
    def has_cjk(self) -> bool:
        return self.cjk_path is not None

    @property
    def cjk(self) -> str:
        """The name of the font for CJK text, registered with reportlab the first time it
        is asked for: reading WenQuanYi Zen Hei's metrics takes a third of a second, which
        a report without Chinese in it need not pay."""
        if self.cjk_path is None:
            return self.regular
        _register(self.cjk_name, self.cjk_path, 0)
        return self.cjk_name

    def cjk_for(self, text: str) -> str:
        """:attr:`cjk` when ``text`` has CJK characters in it, else the regular font: for
        the functions that take a CJK font name (``draw_text``, ``add_text``,
        ``wrap_text``), which use it only for CJK runs, so a text with none does not
        register the CJK font."""
        return self.cjk if _CJK.search(text) else self.regular


@cache
def _register(name: str, path: Path, subfont: int) -> None:
    pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=subfont))


def _find(name: str) -> Path | None:
    for folder in (RESOURCE_FONTS, *SYSTEM_FONTS):
        if folder.is_dir():
            found = next(iter(sorted(folder.rglob(name))), None)
            if found is not None:
                return found
    return None


@cache
def fonts() -> Fonts:
    """Register the report fonts once and say which were found."""
    regular, bold, latin_path = "Helvetica", "Helvetica-Bold", None
    dejavu = _find("DejaVuSans.ttf")
    dejavu_bold = _find("DejaVuSans-Bold.ttf")
    if dejavu is not None and dejavu_bold is not None:
        pdfmetrics.registerFont(TTFont("GT-Sans", str(dejavu)))
        pdfmetrics.registerFont(TTFont("GT-Sans-Bold", str(dejavu_bold)))
        pdfmetrics.registerFontFamily("GT-Sans", normal="GT-Sans", bold="GT-Sans-Bold",
                                      italic="GT-Sans", boldItalic="GT-Sans-Bold")
        regular, bold, latin_path = "GT-Sans", "GT-Sans-Bold", dejavu
    # Found now, registered when first used (Fonts.cjk).
    zenhei = _find("wqy-zenhei.ttc")
    return Fonts(regular=regular, bold=bold, cjk_name="GT-CJK" if zenhei else regular,
                 cjk_path=zenhei, latin_path=latin_path)


def markup(text: object) -> str:
    """``text`` escaped for a reportlab Paragraph, with CJK runs set in the CJK font."""
    escaped = escape("" if text is None else str(text))
    f = fonts()
    if not f.has_cjk or not _CJK.search(escaped):
        return escaped
    cjk = f.cjk
    return _CJK.sub(lambda m: f'<font name="{cjk}">{m.group(1)}</font>', escaped)

"""Translation hooks for every user-visible string of the core.

``_`` translates now; ``N_`` only marks a module-level constant so that the extractor finds
it and the caller translates it when shown. Catalogues are gettext ``.mo`` files under
``resources/translations/<lang>/LC_MESSAGES/gisttracker.mo``; English needs none.
"""

from __future__ import annotations

import gettext
from pathlib import Path

from gisttracker import resources

DOMAIN = "gisttracker"
LOCALE_DIR: Path = resources.translations_dir()

_translation: gettext.NullTranslations = gettext.NullTranslations()


def install(language: str | None) -> None:
    """Switch the core's catalogue to ``language`` (e.g. ``"zh_CN"``); None means English."""
    global _translation
    if not language:
        _translation = gettext.NullTranslations()
        return
    _translation = gettext.translation(
        DOMAIN, localedir=str(LOCALE_DIR), languages=[language], fallback=True
    )


def _(message: str) -> str:
    """Translate ``message`` into the installed language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a plural form chosen by ``n``."""
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet."""
    return message

"""Translation hooks for every user-visible string of the core.

``_`` translates now; ``N_`` only marks a module-level constant so that the extractor finds
it and the caller translates it when shown; ``ngettext`` chooses a plural form. Whole
sentences are translated, never pieces glued together: a list is joined with
:func:`join_list`, a protocol file's own text (titles, arms, criteria, visits…) is a
:class:`LocalText` shown with :func:`local`.

Catalogues are gettext ``.mo`` files under ``resources/translations/<lang>/LC_MESSAGES/
gisttracker.mo``, compiled from the ``.po`` files at build time
(:mod:`gisttracker.i18n_tools`); English is the source language and needs none. The command
line's own words (argparse's "usage:", "the following arguments are required: %s", "invalid
choice: …") are Python's, not ours: they have a catalogue of their own (``argparse.mo``
beside ours), which :func:`install` hands to the argparse module.

Which language: :func:`choose_language` — a person's own choice, else the site's default,
else the system's locale (see ``docs/ARCHITECTURE.md``, *Translations*). Dates stay ISO
(YYYY-MM-DD) in every language, so nothing here formats dates.

The installed language is process-wide and set once at start, before the window or a
command builds any text; the background worker only reads it.
"""

from __future__ import annotations

import functools
import gettext
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from gisttracker import resources

DOMAIN = "gisttracker"
#: The catalogue of argparse's own messages (msgids taken from Python's argparse module).
ARGPARSE_DOMAIN = "argparse"
LOCALE_DIR: Path = resources.translations_dir()

#: The source language of the code and of the protocol files.
SOURCE_LANGUAGE = "en"
#: Languages a person can choose, each named in its own language (as language menus do).
LANGUAGES: dict[str, str] = {"en": "English", "zh_CN": "简体中文"}
#: Languages that have a catalogue (and may have text in protocol files).
TRANSLATED = tuple(code for code in LANGUAGES if code != SOURCE_LANGUAGE)
#: A test language: every catalogue string bracketed, to find text that escapes translation.
PSEUDO = "en_XA"
PSEUDO_OPEN, PSEUDO_CLOSE = "⟦", "⟧"

log = logging.getLogger(__name__)

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language: str = SOURCE_LANGUAGE


class PseudoTranslations(gettext.NullTranslations):
    """The pseudo-locale: each message the catalogue knows comes back bracketed ``⟦…⟧``.

    A message that is not in ``known`` (text passed to ``_`` that no extractor found) stays
    as it is, so a test that looks for unbracketed text finds it too.
    """

    def __init__(self, known: Iterable[str]) -> None:
        super().__init__()
        self.known = frozenset(known)

    def gettext(self, message: str) -> str:
        return pseudo(message) if message in self.known else message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        chosen = msgid1 if n == 1 else msgid2
        return pseudo(chosen) if msgid1 in self.known else chosen


def pseudo(text: str) -> str:
    """``text`` as the pseudo-locale shows it."""
    return f"{PSEUDO_OPEN}{text}{PSEUDO_CLOSE}"


def install(language: str | None, *,
            translations: gettext.NullTranslations | None = None) -> str:
    """Switch the core's catalogue to ``language`` (``"zh_CN"``; None or ``"en"``: English).

    ``translations`` replaces the catalogue read from disk (the pseudo-locale of the tests).
    Returns the language now installed: English when the language is unknown or its
    catalogue is missing (logged: a build that forgot to compile catalogues).
    """
    global _translation, _language
    catalogue.cache_clear()
    language = (normalize(language) if language else None) or SOURCE_LANGUAGE
    if translations is not None:
        _translation, _language = translations, language
        _install_argparse(translations)
        return language
    if language == SOURCE_LANGUAGE or language not in LANGUAGES:
        _translation, _language = gettext.NullTranslations(), SOURCE_LANGUAGE
        _install_argparse(_translation)
        return _language
    try:
        _translation = gettext.translation(DOMAIN, localedir=str(LOCALE_DIR),
                                           languages=[language])
    except OSError:
        log.warning("no compiled catalogue for %s in %s (run scripts/translations compile)",
                    language, LOCALE_DIR)
        _translation, _language = gettext.NullTranslations(), SOURCE_LANGUAGE
        _install_argparse(_translation)
        return _language
    _language = language
    # A missing argparse catalogue leaves argparse's words in English, nothing worse.
    _install_argparse(gettext.translation(ARGPARSE_DOMAIN, localedir=str(LOCALE_DIR),
                                          languages=[language], fallback=True))
    return language


def _install_argparse(translations: gettext.NullTranslations) -> None:
    """Make argparse's own messages come from ``translations``.

    argparse looks its messages up with the module-level names ``_`` and ``ngettext``
    (``from gettext import gettext as _, ngettext``, unchanged from Python 3.2 to 3.14),
    which read the process-wide gettext domain and the ``LANGUAGE``/``LANG`` environment,
    not the language chosen here; rebinding the two names gives argparse this catalogue.
    """
    import argparse

    # setattr: the two names are argparse's private imports, unknown to its type stubs.
    setattr(argparse, "_", translations.gettext)  # noqa: B010
    setattr(argparse, "ngettext", translations.ngettext)  # noqa: B010


def current() -> str:
    """The installed language code (``en``, ``zh_CN``, or the pseudo-locale)."""
    return _language


def normalize(code: str | None) -> str | None:
    """A language code as this program names it, from a locale name or a UI language.

    ``zh_CN.UTF-8``, ``zh-Hans-CN``, ``zh-CN``, ``zh_SG``, ``zh`` → ``zh_CN`` (Simplified
    Chinese); ``en_GB``, ``C``, ``POSIX`` → ``en``; the pseudo-locale stays itself; anything
    else (or an empty value) → None.
    """
    if not code:
        return None
    text = code.strip().split(".")[0].split("@")[0].replace("-", "_")
    if text == PSEUDO:
        return PSEUDO
    if text in LANGUAGES:
        return text
    parts = text.split("_")
    lang = parts[0].lower()
    if lang == "zh":
        # Traditional Chinese (Hant, TW, HK, MO) is a different written language: not ours.
        rest = {p.lower() for p in parts[1:]}
        return None if rest & {"hant", "tw", "hk", "mo"} else "zh_CN"
    if lang in ("en", "c", "posix"):
        return SOURCE_LANGUAGE
    return None


def system_language(environ: Mapping[str, str] | None = None,
                    ui_languages: Sequence[str] = ()) -> str:
    """The system's language: the first of ``ui_languages`` (the desktop's preference list,
    e.g. Qt's ``QLocale.system().uiLanguages()``) or of the gettext environment
    (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``) that we have; English otherwise."""
    env = os.environ if environ is None else environ
    candidates: list[str] = list(ui_languages)
    candidates.extend(env.get("LANGUAGE", "").split(":"))
    candidates.extend(env.get(name, "") for name in ("LC_ALL", "LC_MESSAGES", "LANG"))
    for candidate in candidates:
        code = normalize(candidate)
        if code is not None and code != PSEUDO:
            return code
    return SOURCE_LANGUAGE


def choose_language(user: str | None, site: str | None, system: str) -> str:
    """The language to show: the person's own choice, else the site's default, else the
    system's. ``None``, ``""`` and ``"system"`` mean "no choice here"."""
    for choice in (user, site):
        if choice and choice != "system":
            code = normalize(choice)
            if code is not None:
                return code
    return system


@functools.cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The catalogue of ``language`` whatever language is installed (protocol text is built
    for every language a file translates into); English when it has none."""
    if language == _language:
        return _translation
    if language not in TRANSLATED:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[language],
                               fallback=True)


def _(message: str) -> str:
    """Translate ``message`` into the installed language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a plural form chosen by ``n``."""
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet."""
    return message


def join_list(items: Iterable[str]) -> str:
    """``items`` as an enumeration in the installed language: ``a, b, c`` in English,
    ``a、b、c`` in Chinese. For lists of names, codes and values inside a sentence."""
    parts = [str(item) for item in items]
    if not parts:
        return ""
    out = parts[0]
    for part in parts[1:]:
        # TRANSLATORS: joins one more item onto an enumeration; Chinese uses "、".
        out = _("{items}, {item}").format(items=out, item=part)
    return out


def join_sentences(items: Iterable[str]) -> str:
    """Several short statements (problems, reasons) in one line: ``a; b`` in English,
    ``a；b`` in Chinese."""
    parts = [str(item) for item in items]
    if not parts:
        return ""
    out = parts[0]
    for part in parts[1:]:
        # TRANSLATORS: joins one more statement onto a list of problems or reasons.
        out = _("{items}; {item}").format(items=out, item=part)
    return out


class LocalText(str):
    """Text from a protocol file: the source (English) text is the string itself, and
    :meth:`text` gives it in a language the file translates it into (``title_zh_CN``).

    Comparing, hashing and storing a LocalText use the source text, so a stored visit name
    or an arm name in the database does not depend on anyone's language.
    """

    translations: dict[str, str]

    def __new__(cls, source: str, translations: Mapping[str, str] | None = None) -> LocalText:
        obj = super().__new__(cls, source)
        obj.translations = dict(translations or {})
        return obj

    def __reduce__(self) -> tuple[type[LocalText], tuple[str, dict[str, str]]]:
        return LocalText, (str(self), dict(self.translations))

    def text(self, language: str | None = None) -> str:
        """The text in ``language`` (default: the installed one), the source text if the file
        has no translation for it."""
        language = language or _language
        if language == PSEUDO:
            return pseudo(str(self))
        return self.translations.get(language, str(self))


def local(text: str | None) -> str:
    """Protocol text as the installed language shows it (plain text is shown as it is)."""
    if text is None:
        return ""
    if isinstance(text, LocalText):
        return text.text()
    return text

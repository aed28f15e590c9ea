"""The pseudo-locale: every catalogue string shown as ``⟦…⟧``, and a judge of leftover text.

With the pseudo-locale installed, text that went through the catalogue is bracketed and text
from a protocol file (shown with ``local``) is bracketed too; what is left outside brackets
must be data (dates, numbers, study identifiers, codes, units, file paths), never words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from gisttracker import i18n
from gisttracker.i18n_tools import pseudo_translations

_BRACKETED = re.compile(r"⟦[^⟦⟧]*⟧")
_TAGS = re.compile(r"<[^>]+>")
_ENTITIES = re.compile(r"&(?:[a-z]+|#\d+);")
# Data that may stand outside brackets: paths and file names, a server database's URL,
# ISO dates and times, numbers with units, identifiers and codes (upper case, digits, '-',
# '.', '_').
_PATH = re.compile(r"\bpostgres(?:ql)?://\S+"
                   r"|(?:[A-Za-z]:)?[/\\][\w./\\-]*|\b[\w-]+\.(?:db|pdf|ics|sqlite|toml|txt)\b"
                   r"|\b[\w.-]+(?:/[\w.-]+)+\.\w+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
#: Words that are data or names, not sentences: units, scales, drugs (stored as typed), the
#: test user, and the names of the languages in the language menu.
DATA_WORDS = frozenset({
    # units and unit words used as symbols
    "mg", "d", "mm", "cm", "g", "L", "dL", "mol", "mmol", "µmol", "umol", "U", "IU", "kg",
    "m", "s", "x", "h", "HPF", "ULN", "LLN",
    # people and programs
    "kat", "mmHg", "Choi",
    "nurse", "demo", "Qt", "English",
})
#: Free text the demo data and the tests type in (data, shown as typed).
DATA_TEXT = re.compile(r"\bgrade [1-4]\b")


@contextmanager
def pseudo_locale() -> Iterator[None]:
    """The pseudo-locale installed for the duration of a ``with`` block."""
    i18n.install(i18n.PSEUDO, translations=pseudo_translations())
    try:
        yield
    finally:
        i18n.install(None)


def outside_brackets(text: str) -> str:
    """``text`` without its bracketed parts (innermost first), markup and data paths."""
    text = _ENTITIES.sub(" ", _TAGS.sub(" ", text))
    previous = None
    while previous != text:
        previous, text = text, _BRACKETED.sub(" ", text)
    return DATA_TEXT.sub(" ", _PATH.sub(" ", text))


def escaped_words(text: str) -> list[str]:
    """The words of ``text`` that did not go through translation."""
    out = []
    for word in _WORD.findall(outside_brackets(text)):
        if word in DATA_WORDS:
            continue
        if word.isupper() or any(c.isdigit() for c in word):
            continue  # an acronym or a code (ECOG, RECIST, CTCAE, ZJU)
        if len(word) <= 1:
            continue  # a unit letter or an arm code
        out.append(word)
    return out


def is_escape(text: str) -> bool:
    """True when ``text`` shows a word that did not go through translation."""
    return bool(escaped_words(text))


def escapes(texts: Iterable[tuple[str, str]]) -> list[str]:
    """The ``(where, text)`` pairs whose text escaped translation, as report lines."""
    seen: set[tuple[str, str]] = set()
    out = []
    for where, text in texts:
        if text and is_escape(text) and (where, text) not in seen:
            seen.add((where, text))
            words = escaped_words(text)
            if len(text) < 160:
                out.append(f"{where}: {words} in {text!r}")
                continue
            rest = outside_brackets(text)
            for word in dict.fromkeys(words):
                found = re.search(rf"\b{re.escape(word)}\b", rest)
                at = found.start() if found else 0
                text = rest
                out.append(f"{where}: {word!r} in …{text[max(0, at - 70):at + 70]!r}…")
    return out

"""The form registry: what a form kind asks, how each answer is typed and checked, its scores.

A :class:`FormSpec` describes one kind of form (the keys of
:data:`gisttracker.protocols.catalogue.ASSESSMENTS`); its :class:`Item` entries say, for each
field, the type (``int``, ``float``, ``choice``, ``date``, ``text``, ``bool``), the allowed
range or choices, whether it is required, and to whom it applies. Everything here is pure:
no database, no clock, no Qt. :mod:`gisttracker.services.forms` stores the answers, the
window builds its editors from the same specs.

Values are kept as JSON-able Python values: ``int``/``float`` numbers, the choice's value
(an ``int`` or ``str``), ``bool``, text, and dates as ISO text (``YYYY-MM-DD``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal

from gisttracker.domain.plausibility import EARLIEST, parse_date
from gisttracker.errors import InputError
from gisttracker.i18n import _, join_list

ItemType = Literal["int", "float", "choice", "date", "text", "bool"]
EditorKind = Literal["items", "labs", "adverse_events"]


class Missing(StrEnum):
    """Why an item has no value: asked and left blank, or not asked of this patient."""

    NOT_ANSWERED = "not_answered"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class FormContext:
    """What applicability and scoring may depend on: the patient's sex and the current
    answers of the form (e.g. the CR29 stoma question)."""

    sex: str | None = None
    values: Mapping[str, object] = field(default_factory=dict)


Applies = Callable[[FormContext], bool]


@dataclass(frozen=True)
class Choice:
    """One allowed answer of a ``choice`` item: the stored value and a short label."""

    value: int | str
    label: str  # N_-marked; translated when shown


@dataclass(frozen=True)
class Item:
    """One field of a form.

    ``key`` is unique within the form and is what is stored; ``number`` is the item number
    printed on a paper questionnaire (shown beside the label). ``minimum``/``maximum`` bound
    ``int`` and ``float`` items (inclusive) and, for ``date`` items, nothing. ``applies``
    returns False when the item is not asked of this patient (it is then stored as
    :attr:`Missing.NOT_APPLICABLE`); None means it always applies.
    """

    key: str
    label: str  # N_-marked
    type: ItemType
    number: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Choice, ...] = ()
    required: bool = True
    unit: str | None = None
    hint: str | None = None  # N_-marked
    applies: Applies | None = None
    section: str | None = None  # N_-marked heading shown above the item

    def applies_to(self, context: FormContext) -> bool:
        return True if self.applies is None else self.applies(context)

    def choice_label(self, value: object) -> str | None:
        """The (untranslated) label of the choice stored as ``value``, if any."""
        for choice in self.choices:
            if choice.value == value:
                return choice.label
        return None


@dataclass(frozen=True)
class Score:
    """One computed result of a form (a scale score, a total, a category)."""

    key: str
    label: str  # N_-marked
    value: float | int | str | None


Scorer = Callable[[Mapping[str, object], FormContext], tuple[Score, ...]]
CrossCheck = Callable[[Mapping[str, object], FormContext], dict[str, str]]


@dataclass(frozen=True)
class FormSpec:
    """One kind of form.

    ``editor`` tells the window which editor to use: ``items`` (built from :attr:`items`),
    ``labs`` (the laboratory table) or ``adverse_events`` (the AE list). ``questionnaire``
    forms are entered by typing the digit of each answer. ``scorer`` computes the scores from
    the answers; ``cross_check`` returns messages by item key for rules across items (e.g.
    diastolic below systolic pressure).
    """

    kind: str
    title: str  # N_-marked
    items: tuple[Item, ...] = ()
    editor: EditorKind = "items"
    questionnaire: bool = False
    scorer: Scorer | None = None
    cross_check: CrossCheck | None = None
    note: str | None = None  # N_-marked text shown above the items
    #: Bumped by hand when scoring, applicability or a cross-check changes in code (the
    #: declared parts — items, ranges, choices — are in the definition by themselves).
    revision: int = 1

    def definition(self) -> str:
        """The definition a form's answers are captured under, as canonical JSON: every item
        (key, label, type, range, choices, required, unit, applicability) and the names
        of the scoring and checking code with :attr:`revision`. Stored once per version
        (``form_version``); :meth:`digest` identifies it."""
        def name(fn: Callable[..., object] | None) -> str | None:
            return None if fn is None else f"{fn.__module__}.{fn.__qualname__}"

        items = [{"key": i.key, "label": i.label, "type": i.type, "number": i.number,
                  "minimum": i.minimum, "maximum": i.maximum,
                  "choices": [[c.value, c.label] for c in i.choices], "required": i.required,
                  "unit": i.unit, "hint": i.hint, "section": i.section,
                  "applies": name(i.applies)} for i in self.items]
        return json.dumps({"kind": self.kind, "title": self.title, "editor": self.editor,
                           "questionnaire": self.questionnaire, "note": self.note,
                           "scorer": name(self.scorer), "cross_check": name(self.cross_check),
                           "revision": self.revision, "items": items},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """The SHA-256 (hex) of :meth:`definition`: the identity of this form version."""
        return hashlib.sha256(self.definition().encode("utf-8")).hexdigest()

    def item(self, key: str) -> Item:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    def item_keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.items)

    def applicable(self, context: FormContext) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.applies_to(context))

    def scores(self, values: Mapping[str, object], context: FormContext) -> tuple[Score, ...]:
        """The scores of ``values`` (empty when the form has no scorer)."""
        return () if self.scorer is None else self.scorer(values, context)


_REGISTRY: dict[str, FormSpec] = {}


def register(spec: FormSpec, *, replace: bool = False) -> FormSpec:
    """Add ``spec`` to the registry. A kind registered twice is an error unless ``replace``
    is given."""
    existing = _REGISTRY.get(spec.kind)
    if existing is not None and not replace:
        raise ValueError(f"form kind {spec.kind!r} is already registered")
    keys = [i.key for i in spec.items]
    if len(keys) != len(set(keys)):
        raise ValueError(f"form kind {spec.kind!r} repeats an item key")
    _REGISTRY[spec.kind] = spec
    return spec


def spec_for(kind: str) -> FormSpec:
    """The spec of form ``kind``; KeyError with a user message when unknown."""
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise KeyError(_("unknown form {kind!r}").format(kind=kind)) from None


def registered() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def _number_text(x: float) -> str:
    return f"{x:g}"


def check_value(item: Item, raw: object) -> object:
    """``raw`` (typed text from a field, or a Python value) as ``item`` stores it.

    Blank text and None give None. Raises InputError with a message for the user (without
    the item's name: the caller shows it beside the field or prefixes the label).
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = raw.strip() if isinstance(raw, str) else None
    value: object
    if item.type == "int":
        if isinstance(raw, bool):
            raise InputError(_("enter a whole number"))
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, float) and raw.is_integer():
            value = int(raw)
        else:
            try:
                value = int(text if text is not None else str(raw))
            except ValueError:
                raise InputError(_("enter a whole number")) from None
        _check_range(item, float(value))
        return value
    if item.type == "float":
        if isinstance(raw, bool):
            raise InputError(_("enter a number"))
        try:
            number = float(raw) if isinstance(raw, int | float) else float(
                (text or "").replace(",", "."))
        except ValueError:
            raise InputError(_("enter a number")) from None
        if not math.isfinite(number):
            raise InputError(_("enter a number"))
        _check_range(item, number)
        return number
    if item.type == "choice":
        for choice in item.choices:
            if raw == choice.value or (text is not None and text == str(choice.value)):
                return choice.value
        raise InputError(_("choose one of: {choices}").format(
            choices=join_list(_(c.label) for c in item.choices)))
    if item.type == "bool":
        if isinstance(raw, bool):
            return raw
        folded = (text or str(raw)).lower()
        if folded in ("yes", "y", "true", "1", _("yes").lower()):
            return True
        if folded in ("no", "n", "false", "0", _("no").lower()):
            return False
        raise InputError(_("answer yes or no"))
    if item.type == "date":
        if isinstance(raw, date):
            day = raw
        else:
            try:
                parsed = parse_date(text or str(raw))
            except InputError:
                raise InputError(_("enter a date as YYYY-MM-DD")) from None
            if parsed is None:
                raise InputError(_("enter a date as YYYY-MM-DD"))
            day = parsed
        if day < EARLIEST:
            raise InputError(_("{date} is before 1900: check the year").format(
                date=day.isoformat()))
        return day.isoformat()
    # text
    return text if text is not None else str(raw)


def _check_range(item: Item, number: float) -> None:
    low, high = item.minimum, item.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        if low is not None and high is not None:
            message = _("must be from {low} to {high}")
        elif low is not None:
            message = _("must be at least {low}")
        else:
            message = _("must be at most {high}")
        raise InputError(message.format(
            low=_number_text(low) if low is not None else "",
            high=_number_text(high) if high is not None else ""))


def describe_item(item: Item) -> str:
    """``No. 12 Felt weak`` style name of an item for messages (translated)."""
    label = _(item.label)
    return f"{item.number}. {label}" if item.number else label


def choices(values: Iterable[tuple[int | str, str]]) -> tuple[Choice, ...]:
    """Shorthand for a tuple of :class:`Choice` from ``(value, label)`` pairs."""
    return tuple(Choice(v, label) for v, label in values)

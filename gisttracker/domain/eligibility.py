"""Eligibility: a patient's screening facts checked against a study's criteria.

Pure functions over immutable data: no database, no clock, no I/O. The screening date is a
parameter (age is computed at it, never typed), and nothing here reads "today".

Logic is three-valued. Every rule and every criterion is ``"met"``, ``"not met"`` or
``"unknown"`` (a fact it needs has not been entered yet, or cannot be compared safely), and
each result carries a short reason a coordinator can read and a screening log can keep
("age 77 > 75", "ALT 130 U/L > 2.5 × ULN 40 U/L (100 U/L)", "haemoglobin not yet entered").
A reason describes the patient's fact, not the verdict, so it reads the same under ``not``.

A reason is also kept language-neutral, as :class:`Message` objects: a message id of
:data:`REASON_MESSAGES` and its arguments (numbers and units already formatted, criterion
ids, operators, units as typed are literal; field names, enumerated values and the words
yes/no/ULN/LLN are terms translated when shown). The screening stores both the text and the
messages (:func:`reason_entries`), and :func:`reason_text` shows a stored reason in the
language of whoever reads it, falling back to the stored text for a row written before the
messages existed or a message this version does not know.

For an exclusion criterion the rule describes the excluding condition: ``"met"`` means the
patient is excluded. Criteria without a rule are judgements the investigator ticks; the tick
means the same thing (for an exclusion, ticked = the excluding condition is present).

Units: laboratory facts carry their own unit and the site's reference limits (LLN, ULN) in
that unit. A unit that differs from the one the criterion names is never converted: the rule
is ``"unknown"`` with a reason saying so. Only spellings of the same unit are treated as equal
(``µmol/L`` with the micro sign or the Greek mu, ``10^9/L`` or ``×10⁹/L``).

Numbers are compared as decimals (``Decimal(repr(x))``), so 2.5 × ULN 40 is exactly 100 and a
value typed as 2.1 is never "above" a limit of 3 × 0.7 through binary rounding.
"""

from __future__ import annotations

import functools
import importlib
import math
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

from gisttracker.errors import InputError
from gisttracker.i18n import N_, _, join_list, join_sentences, local
from gisttracker.protocols.catalogue import NIH_RISKS, SCREENING_FIELDS, ScreeningField
from gisttracker.protocols.model import Criterion, Rule, Study

State = Literal["met", "not met", "unknown"]
Outcome = Literal["eligible", "ineligible", "incomplete"]

MET: Final = "met"
NOT_MET: Final = "not met"
UNKNOWN: Final = "unknown"
ELIGIBLE: Final = "eligible"
INELIGIBLE: Final = "ineligible"
INCOMPLETE: Final = "incomplete"

STATE_LABELS: Final[Mapping[str, str]] = MappingProxyType({
    MET: N_("met"), NOT_MET: N_("not met"), UNKNOWN: N_("not yet known"),
})
OUTCOME_LABELS: Final[Mapping[str, str]] = MappingProxyType({
    ELIGIBLE: N_("Eligible"), INELIGIBLE: N_("Not eligible"), INCOMPLETE: N_("Incomplete"),
})


@dataclass(frozen=True)
class LabValue:
    """A laboratory result with the site's reference range, all in ``unit``.

    ``value`` in ``unit`` (e.g. 130 U/L); ``lln`` / ``uln`` are the lower and upper limits of
    normal of the reporting laboratory, in the same unit, or None when not entered.
    """

    value: float
    unit: str
    lln: float | None = None
    uln: float | None = None


FactValue = bool | int | float | str | LabValue
NihRiskFunction = Callable[..., object]


class FactError(InputError):
    """A screening fact that cannot be right; ``field`` names it so the form can point at it."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.message = message


# Plausible ranges: (minimum, maximum) inclusive; None = unbounded on that side.
_RANGES: Final[Mapping[str, tuple[float | None, float | None]]] = {
    "age": (0, 130),
    "ecog": (0, 5),
    "asa": (1, 6),
    "progressive_lesions": (0, None),
    "progressive_organs": (0, None),
    "mitoses_per_50hpf": (0, None),
}


def _label(key: str) -> str:
    spec = SCREENING_FIELDS.get(key)
    return _(spec.label) if spec else key


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_fact(key: str, value: object) -> FactValue:
    """``value`` validated for screening field ``key``; FactError says what is wrong."""
    spec = SCREENING_FIELDS.get(key)
    if spec is None:
        raise FactError(key, _("{field!r} is not a screening field").format(field=key))
    label = _label(key)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise FactError(key, _("{field}: expected yes or no").format(field=label))
        return value
    if spec.kind == "enum":
        if not isinstance(value, str) or value not in spec.values:
            raise FactError(key, _("{field}: {value!r} is not one of {allowed}").format(
                field=label, value=value, allowed=join_list(spec.values)))
        return value
    if spec.kind == "lab":
        if not isinstance(value, LabValue):
            raise FactError(key, _("{field}: expected a laboratory value with its unit").format(
                field=label))
        _check_lab(key, label, value)
        return value
    if not _is_number(value):
        raise FactError(key, _("{field}: expected a number").format(field=label))
    assert isinstance(value, int | float)
    if spec.kind == "integer" and isinstance(value, float):
        if not value.is_integer():
            raise FactError(key, _("{field}: expected a whole number").format(field=label))
        value = int(value)
    if key == "tumour_size_cm" and value <= 0:
        raise FactError(key, _("{field}: must be greater than 0").format(field=label))
    low, high = _RANGES.get(key, (None, None))
    if low is not None and value < low:
        raise FactError(key, _("{field}: must be at least {low}").format(field=label, low=low))
    if high is not None and value > high:
        raise FactError(key, _("{field}: must be at most {high}").format(
            field=label, high=high))
    return value


def _check_lab(key: str, label: str, lab: LabValue) -> None:
    if not isinstance(lab.unit, str) or not lab.unit.strip():
        raise FactError(key, _("{field}: the unit is missing").format(field=label))
    if not _is_number(lab.value) or lab.value < 0:
        raise FactError(key, _("{field}: expected a value of 0 or more").format(field=label))
    for name, limit in (("LLN", lab.lln), ("ULN", lab.uln)):
        if limit is not None and (not _is_number(limit) or limit < 0):
            raise FactError(key, _("{field}: {limit} must be a number of 0 or more").format(
                field=label, limit=name))
    if lab.uln is not None and lab.uln <= 0:
        raise FactError(key, _("{field}: ULN must be greater than 0").format(field=label))
    if lab.lln is not None and lab.uln is not None and lab.lln >= lab.uln:
        raise FactError(key, _("{field}: LLN must be below ULN").format(field=label))


class Facts(Mapping[str, FactValue]):
    """A patient's screening facts, keyed by :data:`SCREENING_FIELDS` keys; immutable.

    Partial by design: a field that is absent is unknown. Passing ``None`` for a field is the
    same as leaving it out. Every value is checked against its field (type, allowed values,
    plausible range) and a wrong one raises :class:`FactError` naming the field.
    Laboratory fields hold a :class:`LabValue`.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, object] | None = None, **more: object) -> None:
        merged = {**(values or {}), **more}
        checked = {k: _check_fact(k, v) for k, v in merged.items() if v is not None}
        self._values: Mapping[str, FactValue] = MappingProxyType(checked)

    def __getitem__(self, key: str) -> FactValue:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"Facts({dict(self._values)!r})"

    def replace(self, **changes: object) -> Facts:
        """A copy with ``changes`` applied; a change to ``None`` makes that fact unknown."""
        return Facts({**self._values, **changes})


def age_on(date_of_birth: date, on_date: date) -> int:
    """Age in whole years on ``on_date`` (the screening date).

    A birthday counts once the calendar date is reached; someone born on 29 February turns a
    year older on 1 March in common years (28 February is still the day before the birthday),
    which is the conservative reading for a lower age limit. InputError if ``on_date`` is
    before ``date_of_birth``.
    """
    if on_date < date_of_birth:
        raise InputError(_("the date of birth {dob} is after {on}").format(
            dob=date_of_birth.isoformat(), on=on_date.isoformat()))
    before_birthday = (on_date.month, on_date.day) < (date_of_birth.month, date_of_birth.day)
    return on_date.year - date_of_birth.year - int(before_birthday)


def _default_nih2008() -> NihRiskFunction:
    # Imported here, not at module level: the risk module is a sibling that may be absent
    # in a partial checkout, and eligibility must still import (and evaluate other fields).
    module = importlib.import_module("gisttracker.risk")
    function: NihRiskFunction = module.nih2008
    return function


def _risk_category(result: object) -> str:
    """The NIH_RISKS key for what nih2008 returned (a string, or an enum-like with .value)."""
    raw = result if isinstance(result, str) else getattr(result, "value", None)
    if not isinstance(raw, str):
        raw = getattr(result, "category", getattr(result, "name", None))
    text = raw.strip().lower().replace("_", " ") if isinstance(raw, str) else None
    if text not in NIH_RISKS:
        raise TypeError(f"nih2008 returned {result!r}, not one of {NIH_RISKS}")
    return text


def derive_nih_risk(facts: Mapping[str, FactValue],
                    nih2008: NihRiskFunction | None = None) -> str | None:
    """The NIH-2008 risk category from size, mitoses, site and rupture; None if one is unknown.

    ``nih2008`` defaults to :func:`gisttracker.risk.nih2008`, called as
    ``nih2008(size_cm, mitoses_per_50hpf, gastric=..., ruptured=...)`` with gastric meaning
    a primary in the stomach.
    """
    needed = ("tumour_size_cm", "mitoses_per_50hpf", "primary_site", "ruptured")
    if any(key not in facts for key in needed):
        return None
    function = nih2008 or _default_nih2008()
    result = function(facts["tumour_size_cm"], facts["mitoses_per_50hpf"],
                      gastric=facts["primary_site"] == "stomach",
                      ruptured=facts["ruptured"])
    return _risk_category(result)


def _lab_from_plain(key: str, value: object) -> object:
    if not isinstance(value, Mapping):
        return value
    unknown = set(value) - {"value", "unit", "lln", "uln"}
    if unknown or "value" not in value or "unit" not in value:
        raise FactError(key, _("{field}: expected value, unit and optionally lln, uln").format(
            field=_label(key)))
    if value["value"] is None or value["value"] == "":
        return None
    return LabValue(value=value["value"], unit=value["unit"], lln=value.get("lln"),
                    uln=value.get("uln"))


def facts_from_patient(values: Mapping[str, object], *, date_of_birth: date | None = None,
                       screening_date: date | None = None,
                       nih2008: NihRiskFunction | None = None) -> Facts:
    """Screening facts from a plain dict as a form or the store holds them.

    ``values`` maps screening field keys to values; ``None`` or ``""`` means not entered.
    A laboratory field may be a :class:`LabValue` or a dict ``{"value", "unit", "lln",
    "uln"}``. Age is never typed: it is computed from ``date_of_birth`` at
    ``screening_date`` (both needed), and an ``"age"`` key is refused.

    ``nih_risk`` is derived (through ``nih2008``, default :func:`gisttracker.risk.nih2008`)
    whenever size, mitotic count, primary site and rupture are all known; a typed
    ``nih_risk`` is kept only when it cannot be derived, and one that contradicts the
    derived category is refused.
    """
    if "age" in values:
        raise FactError("age", _("age is computed from the date of birth, not entered"))
    plain: dict[str, object] = {}
    for key, value in values.items():
        spec: ScreeningField | None = SCREENING_FIELDS.get(key)
        if value is None or value == "":
            continue
        if spec is not None and spec.kind == "lab":
            value = _lab_from_plain(key, value)
        plain[key] = value  # checked by Facts below
    if date_of_birth is not None:
        if screening_date is None:
            raise InputError(_("the screening date is needed to compute the age"))
        plain["age"] = age_on(date_of_birth, screening_date)
    facts = Facts(plain)
    derived = derive_nih_risk(facts, nih2008)
    if derived is None:
        return facts
    typed = facts.get("nih_risk")
    if typed is not None and typed != derived:
        raise FactError("nih_risk", _(
            "NIH risk {typed} contradicts {derived} from size, mitoses, site and rupture"
        ).format(typed=_(str(typed)), derived=_(derived)))
    return facts.replace(nih_risk=derived)


# --- reasons as messages --------------------------------------------------------------------

#: The program's own wording of a reason, by message id. The id is what a screening stores;
#: the English text is the catalogue's msgid, translated when the reason is shown.
REASON_MESSAGES: Final[Mapping[str, str]] = MappingProxyType({
    "cannot": N_("{field}: this criterion cannot be evaluated as written"),
    "lab_unit": N_("{field} entered in {unit}, the criterion needs {needed}"),
    "compare": N_("{field} {value} {op} {threshold}"),
    "uln_missing": N_("{field} upper limit of normal not yet entered"),
    "lln_missing": N_("{field} lower limit of normal not yet entered"),
    "lab_relative": N_("{field} {value} {op} {factor} × {limit} {limit_value} ({threshold})"),
    "not_entered": N_("{field} not yet entered"),
    "in": N_("{field} {value} is one of {values}"),
    "not_in": N_("{field} {value} is not one of {values}"),
    "answer": N_("{field}: {answer}"),
    "is": N_("{field} is {value}"),
    "is_not": N_("{field} is {value}, not {expected}"),
    "awaiting_judgement": N_("awaiting the investigator's judgement"),
    "judged_yes": N_("recorded by the investigator: yes"),
    "judged_no": N_("recorded by the investigator: no"),
    # A criterion chosen as the reason of a screen failure: its short text from the protocol.
    "criterion": "{criterion}",
})

#: Single words an argument may name (``{"word": "uln"}``), translated when shown.
_WORDS: Final[Mapping[str, str]] = MappingProxyType({
    "yes": N_("yes"), "no": N_("no"), "uln": N_("ULN"), "lln": N_("LLN"),
})

#: What a term argument names, as stored (``{"field": "age"}``): a screening field's short
#: name or its form label, an enumerated value or a list of them, one of :data:`_WORDS`,
#: or a criterion of the study (its short text in the protocol file's language).
_TERM_KINDS: Final = frozenset({"field", "label", "value", "values", "word", "criterion"})

Term = tuple[str, str | tuple[str, ...]]
#: A message argument: literal text shown as it is, or a term (kind, key) translated when
#: shown.
Arg = str | Term


class UnknownMessage(ValueError):
    """A stored message this version cannot show (unknown id, argument or term)."""


@dataclass(frozen=True)
class Message:
    """One reason in the program's words, language-neutral: a :data:`REASON_MESSAGES` id and
    its arguments by name. ``text()`` is it in the installed language."""

    id: str
    args: tuple[tuple[str, Arg], ...] = ()

    def text(self, study: Study | None = None) -> str:
        """The reason in the installed language; ``study`` is needed for a criterion term.
        UnknownMessage when the id, an argument or a term cannot be shown."""
        template = REASON_MESSAGES.get(self.id)
        if template is None:
            raise UnknownMessage(f"unknown reason message {self.id!r}")
        args = dict(self.args)
        if _fields(template) != frozenset(args):
            raise UnknownMessage(f"message {self.id!r} needs {sorted(_fields(template))}, "
                                 f"has {sorted(args)}")
        shown = {name: _arg_text(arg, study) for name, arg in args.items()}
        return _(template).format(**shown)

    def to_json(self) -> dict[str, Any]:
        """The message as a screening stores it: ``{"id": …, "args": {name: arg}}``, a
        literal as a string, a term as ``{kind: key}``."""
        def plain(arg: Arg) -> object:
            if isinstance(arg, str):
                return arg
            kind, key = arg
            return {kind: list(key) if isinstance(key, tuple) else key}
        return {"id": self.id, "args": {name: plain(arg) for name, arg in self.args}}

    @classmethod
    def from_json(cls, data: object) -> Message:
        """The message :meth:`to_json` stored; UnknownMessage for anything else."""
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise UnknownMessage(f"not a reason message: {data!r}")
        raw = data.get("args", {})
        if not isinstance(raw, Mapping):
            raise UnknownMessage(f"message arguments are not an object: {raw!r}")
        args: list[tuple[str, Arg]] = []
        for name, value in raw.items():
            if isinstance(value, str):
                args.append((str(name), value))
                continue
            if not (isinstance(value, Mapping) and len(value) == 1):
                raise UnknownMessage(f"argument {name!r} is not text or a term: {value!r}")
            ((kind, key),) = value.items()
            if kind not in _TERM_KINDS:
                raise UnknownMessage(f"argument {name!r} is an unknown term {kind!r}")
            if kind == "values":
                if not (isinstance(key, list) and all(isinstance(k, str) for k in key)):
                    raise UnknownMessage(f"argument {name!r} is not a list of values")
                args.append((str(name), (kind, tuple(key))))
            elif isinstance(key, str):
                args.append((str(name), (kind, key)))
            else:
                raise UnknownMessage(f"argument {name!r} names {key!r}")
        return cls(data["id"], tuple(args))


@functools.cache
def _fields(template: str) -> frozenset[str]:
    """The ``{names}`` a message's English text has (its arguments)."""
    return frozenset(name for _lit, name, _spec, _conv in string.Formatter().parse(template)
                     if name is not None)


def _message(message_id: str, **args: Arg) -> Message:
    return Message(message_id, tuple(args.items()))


def _arg_text(arg: Arg, study: Study | None) -> str:
    if isinstance(arg, str):
        return arg
    kind, key = arg
    if kind == "values":
        return join_list(_value_label(v) for v in key)
    assert isinstance(key, str)
    # A field this version does not have (a later version's) is not shown by its key: the
    # stored text says it better.
    if kind == "field" and key in SCREENING_FIELDS:
        return _short(key)
    if kind == "label" and key in SCREENING_FIELDS:
        return _label(key)
    if kind == "value":
        return _value_label(key)
    if kind == "word" and key in _WORDS:
        return _(_WORDS[key])
    if kind == "criterion" and study is not None:
        for criterion in study.criteria:
            if criterion.id == key:
                return local(criterion.short or criterion.text)
    raise UnknownMessage(f"cannot show the term {kind} {key!r}")


def messages_text(messages: Iterable[Message], study: Study | None = None) -> str:
    """Several messages as one reason in the installed language (``a; b``)."""
    return join_sentences(m.text(study) for m in messages)


# --- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """A rule's verdict and the short human reason for it: ``reason`` in the language it was
    evaluated in, ``messages`` the same reason language-neutral (one per part it joins)."""

    state: State
    reason: str
    messages: tuple[Message, ...] = ()


def _result(state: State, *messages: Message) -> RuleResult:
    return RuleResult(state, messages_text(messages), messages)


_SHORT_NAMES: Final[Mapping[str, str]] = {
    "age": N_("age"),
    "sex": N_("sex"),
    "ecog": N_("ECOG"),
    "asa": N_("ASA"),
    "primary_site": N_("primary site"),
    "tumour_size_cm": N_("tumour size"),
    "mitoses_per_50hpf": N_("mitotic count"),
    "nih_risk": N_("NIH risk"),
    "mutation": N_("mutation"),
    "progressive_lesions": N_("progressive lesions"),
    "progressive_organs": N_("organs with progression"),
    "anc": N_("ANC"),
    "platelets": N_("platelets"),
    "haemoglobin": N_("haemoglobin"),
    "alt": N_("ALT"),
    "ast": N_("AST"),
    "bilirubin": N_("bilirubin"),
    "creatinine": N_("creatinine"),
}

_VALUE_LABELS: Final[Mapping[str, str]] = {
    "KIT_9": N_("KIT exon 9"), "KIT_11": N_("KIT exon 11"), "KIT_13": N_("KIT exon 13"),
    "KIT_17": N_("KIT exon 17"), "PDGFRA_12": N_("PDGFRA exon 12"),
    "PDGFRA_14": N_("PDGFRA exon 14"), "PDGFRA_18": N_("PDGFRA exon 18 (not D842V)"),
    "PDGFRA_18_D842V": N_("PDGFRA D842V"), "WILD_TYPE": N_("wild type"),
    "NOT_TESTED": N_("not tested"), "small_intestine": N_("small intestine"),
    "stomach": N_("stomach"), "duodenum": N_("duodenum"), "colon": N_("colon"),
    "rectum": N_("rectum"), "oesophagus": N_("oesophagus"), "other": N_("other"),
    "very low": N_("very low"), "low": N_("low"), "intermediate": N_("intermediate"),
    "high": N_("high"), "male": N_("male"), "female": N_("female"),
}

# Enumerations whose values have a natural order (the catalogue lists them in it).
_ORDERED: Final[Mapping[str, tuple[str, ...]]] = {"nih_risk": NIH_RISKS}

_SYMBOL: Final[Mapping[str, str]] = {
    "<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠",
}
_NEGATION: Final[Mapping[str, str]] = {
    "<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "==",
}
_UNIT_DISPLAY: Final[Mapping[str, str]] = {"10^9/L": "×10⁹/L", "years": ""}


def _short(key: str) -> str:
    return _(_SHORT_NAMES[key]) if key in _SHORT_NAMES else _label(key)


def _value_label(value: str) -> str:
    return _(_VALUE_LABELS[value]) if value in _VALUE_LABELS else _(value.replace("_", " "))


def value_label(value: str) -> str:
    """The translated name of an enumerated screening value (``rectum``, ``KIT_11``)."""
    return _value_label(value)


def with_unit(number: float | int, unit: str | None) -> str:
    """A threshold or value with its unit as criteria show it (``1.5 ×10⁹/L``, ``18``)."""
    return _with_unit(_dec(number), unit)


def _canonical_unit(unit: str) -> str:
    """One spelling per unit; never a conversion between units."""
    text = "".join(unit.split()).replace("μ", "µ").replace("⁹", "^9").replace("^{9}", "^9")
    text = text.replace("umol", "µmol")
    for prefix in ("×", "x", "*"):
        if text.startswith(prefix + "10^"):
            text = text[len(prefix):]
    return text


def _dec(number: float | int) -> Decimal:
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def format_number(number: float | int | Decimal) -> str:
    """``100.0`` → ``"100"``, ``2.50`` → ``"2.5"``: no trailing zeros, no exponent."""
    value = number if isinstance(number, Decimal) else _dec(number)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _with_unit(number: Decimal, unit: str | None) -> str:
    shown = _UNIT_DISPLAY.get(unit, unit) if unit else ""
    if not shown:
        return format_number(number)
    return f"{format_number(number)}{'' if shown.startswith('/') else ' '}{shown}"


def _compare(left: Decimal | int, op: str, right: Decimal | int) -> bool:
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    raise ValueError(f"unknown comparison {op!r}")


def _relation(holds: bool, op: str) -> str:
    """The symbol that is true of the fact: the rule's own if it holds, else its negation."""
    return _SYMBOL[op if holds else _NEGATION[op]]


def _verdict(holds: bool) -> State:
    return MET if holds else NOT_MET


def _cannot(key: str) -> RuleResult:
    return _result(UNKNOWN, _message("cannot", field=("field", key)))


def _evaluate_lab(rule: Rule, key: str, lab: LabValue, spec: ScreeningField) -> RuleResult:
    name: Term = ("field", key)
    needed = rule.unit or spec.unit
    if needed is not None and _canonical_unit(lab.unit) != _canonical_unit(needed):
        return _result(UNKNOWN, _message("lab_unit", field=name, unit=lab.unit, needed=needed))
    if rule.op not in _SYMBOL:
        return _cannot(key)
    unit = needed or lab.unit
    value = _dec(lab.value)
    if rule.limit is None:
        if not _is_number(rule.value):
            return _cannot(key)
        assert isinstance(rule.value, int | float)
        threshold = _dec(rule.value)
        holds = _compare(value, rule.op, threshold)
        return _result(_verdict(holds), _message(
            "compare", field=name, value=_with_unit(value, unit), op=_relation(holds, rule.op),
            threshold=_with_unit(threshold, unit)))
    limit = lab.uln if rule.limit == "uln" else lab.lln
    if limit is None:
        return _result(UNKNOWN, _message(
            "uln_missing" if rule.limit == "uln" else "lln_missing", field=name))
    factor = _dec(rule.factor if rule.factor is not None else 1)
    threshold = factor * _dec(limit)
    holds = _compare(value, rule.op, threshold)
    return _result(_verdict(holds), _message(
        "lab_relative", field=name, value=_with_unit(value, unit),
        op=_relation(holds, rule.op), factor=format_number(factor),
        limit=("word", "uln" if rule.limit == "uln" else "lln"),
        limit_value=_with_unit(_dec(limit), unit), threshold=_with_unit(threshold, unit)))


def _evaluate_leaf(rule: Rule, facts: Mapping[str, FactValue]) -> RuleResult:
    key = rule.field
    if key is None or key not in SCREENING_FIELDS:
        raise ValueError(f"rule {rule.op!r} names no known screening field: {key!r}")
    spec = SCREENING_FIELDS[key]
    name: Term = ("field", key)
    if key not in facts:
        return _result(UNKNOWN, _message("not_entered", field=name))
    fact = facts[key]

    if rule.op == "in":
        if not isinstance(fact, str) or spec.kind != "enum":
            return _cannot(key)
        holds = fact in rule.values
        return _result(_verdict(holds), _message(
            "in" if holds else "not_in", field=name, value=("value", fact),
            values=("values", tuple(rule.values))))
    if rule.op not in _SYMBOL:
        raise ValueError(f"unknown rule operator {rule.op!r}")

    if isinstance(fact, LabValue):
        return _evaluate_lab(rule, key, fact, spec)
    if isinstance(fact, bool):
        if rule.op not in ("==", "!=") or not isinstance(rule.value, bool):
            return _cannot(key)
        holds = (fact == rule.value) == (rule.op == "==")
        return _result(_verdict(holds), _message(
            "answer", field=("label", key), answer=("word", "yes" if fact else "no")))
    if isinstance(fact, str):
        if not isinstance(rule.value, str):
            return _cannot(key)
        if rule.op in ("==", "!="):
            holds = (fact == rule.value) == (rule.op == "==")
            # "NIH risk is intermediate, not high" says why an equality fails; a value that
            # differs from an excluded one is its own reason ("mutation is KIT exon 11",
            # never "…, not not tested").
            if fact == rule.value or rule.op == "!=":
                return _result(_verdict(holds), _message("is", field=name,
                                                         value=("value", fact)))
            return _result(_verdict(holds), _message(
                "is_not", field=name, value=("value", fact), expected=("value", rule.value)))
        order = _ORDERED.get(key)
        if order is None or rule.value not in order:
            return _cannot(key)
        holds = _compare(order.index(fact), rule.op, order.index(rule.value))
        return _result(_verdict(holds), _message(
            "compare", field=name, value=("value", fact), op=_relation(holds, rule.op),
            threshold=("value", rule.value)))
    if not _is_number(rule.value):
        return _cannot(key)
    assert isinstance(rule.value, int | float)
    value, threshold = _dec(fact), _dec(rule.value)
    holds = _compare(value, rule.op, threshold)
    return _result(_verdict(holds), _message(
        "compare", field=name, value=_with_unit(value, spec.unit), op=_relation(holds, rule.op),
        threshold=_with_unit(threshold, spec.unit)))


def _join(state: State, results: list[RuleResult]) -> RuleResult:
    # Ordered, without repeats (a part repeated whole is said once, as before the messages).
    parts = list(dict.fromkeys(r.messages for r in results))
    return _result(state, *(m for part in parts for m in part))


def evaluate_rule(rule: Rule, facts: Mapping[str, FactValue]) -> RuleResult:
    """Evaluate ``rule`` over ``facts`` in three-valued logic.

    ``all``: not met if any part is not met, else unknown if any is unknown, else met.
    ``any``: met if any part is met, else unknown if any is unknown, else not met.
    ``not``: swaps met and not met; unknown stays unknown. A comparison whose fact is absent
    is unknown. The reason lists the parts that decided the verdict.
    ValueError (a bug) for a rule naming an unknown field or operator (the loader prevents both).
    """
    if rule.op in ("all", "any"):
        if not rule.rules:
            raise ValueError(f"{rule.op!r} rule without parts")
        parts = [evaluate_rule(sub, facts) for sub in rule.rules]
        decisive: State = NOT_MET if rule.op == "all" else MET
        order: tuple[State, State] = (decisive, UNKNOWN)
        for state in order:
            chosen = [p for p in parts if p.state == state]
            if chosen:
                return _join(state, chosen)
        return _join(MET if rule.op == "all" else NOT_MET, parts)
    if rule.op == "not":
        if len(rule.rules) != 1:
            raise ValueError("'not' rule needs exactly one part")
        inner = evaluate_rule(rule.rules[0], facts)
        if inner.state == UNKNOWN:
            return inner
        return RuleResult(_verdict(inner.state == NOT_MET), inner.reason, inner.messages)
    return _evaluate_leaf(rule, facts)


# --- criteria and the screening -------------------------------------------------------------


@dataclass(frozen=True)
class CriterionResult:
    """One criterion for one patient.

    ``state`` is the criterion's condition (for an exclusion: the excluding condition).
    ``excludes`` is True when this result makes the patient ineligible (inclusion not met,
    exclusion met), False when it does not, None while unknown.
    """

    criterion: Criterion
    state: State
    reason: str
    excludes: bool | None
    #: ``reason`` language-neutral (see :class:`Message`); empty only when built by hand.
    messages: tuple[Message, ...] = ()

    @property
    def computed(self) -> bool:
        """True when a rule decided it, False when it is the investigator's judgement."""
        return self.criterion.rule is not None


@dataclass(frozen=True)
class Screening:
    """All criteria of a study for one patient, and the overall outcome.

    ``ignored_judgements`` lists ticks that were not used: for criteria that have a rule
    (the rule decides) and for ids the study does not have.
    """

    study_key: str
    results: tuple[CriterionResult, ...]
    ignored_judgements: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[CriterionResult, ...]:
        """The criteria that make the patient ineligible, with reasons (the screening log)."""
        return tuple(r for r in self.results if r.excludes is True)

    @property
    def unknown(self) -> tuple[CriterionResult, ...]:
        """The criteria still open."""
        return tuple(r for r in self.results if r.excludes is None)

    @property
    def outcome(self) -> Outcome:
        """Ineligible on any failure; eligible only when nothing is open; else incomplete."""
        if self.failures:
            return INELIGIBLE
        if self.unknown:
            return INCOMPLETE
        return ELIGIBLE

    def result(self, criterion_id: str) -> CriterionResult:
        """The result for ``criterion_id``; KeyError if the study has no such criterion."""
        for r in self.results:
            if r.criterion.id == criterion_id:
                return r
        raise KeyError(criterion_id)


def _excludes(kind: str, state: State) -> bool | None:
    if state == UNKNOWN:
        return None
    return (state == NOT_MET) if kind == "inclusion" else (state == MET)


def evaluate_criterion(criterion: Criterion, facts: Mapping[str, FactValue],
                       judgement: bool | None = None) -> CriterionResult:
    """One criterion: its rule over ``facts``, or else the investigator's ``judgement``.

    A judgement is ignored for a criterion that has a rule: what can be computed is computed.
    """
    if criterion.rule is not None:
        result = evaluate_rule(criterion.rule, facts)
    elif judgement is None:
        result = _result(UNKNOWN, _message("awaiting_judgement"))
    else:
        result = _result(_verdict(judgement),
                         _message("judged_yes" if judgement else "judged_no"))
    return CriterionResult(criterion, result.state, result.reason,
                           _excludes(criterion.kind, result.state), result.messages)


def evaluate(study: Study, facts: Mapping[str, FactValue],
             judgements: Mapping[str, bool | None] | None = None) -> Screening:
    """Screen a patient: every criterion of ``study`` over ``facts`` and ``judgements``.

    ``facts``: a :class:`Facts` (a plain mapping is checked into one). ``judgements`` maps a
    criterion id to the investigator's tick for a criterion without a rule: True means its
    condition holds (an inclusion is met; an exclusion's excluding condition is present),
    False that it does not, None or absent that it is not yet judged. Ticks for criteria
    with a rule, and for ids the study does not have, are ignored and listed in
    :attr:`Screening.ignored_judgements`.
    """
    checked = facts if isinstance(facts, Facts) else Facts(facts)
    ticks = dict(judgements or {})
    for criterion_id, tick in ticks.items():
        if tick is not None and not isinstance(tick, bool):
            raise TypeError(f"judgement for {criterion_id!r} must be True, False or None")
    results = tuple(
        evaluate_criterion(c, checked, None if c.rule is not None else ticks.get(c.id))
        for c in study.criteria
    )
    by_id = {c.id: c for c in study.criteria}
    ignored = tuple(sorted(
        cid for cid, tick in ticks.items()
        if tick is not None and (cid not in by_id or by_id[cid].rule is not None)
    ))
    return Screening(study.key, results, ignored)


# --- reasons as a screening stores them -----------------------------------------------------


def reason_entries(result: Screening) -> list[dict[str, Any]]:
    """The reasons a screening keeps for its outcome: the failures when ineligible, the
    criteria still open when incomplete, none when eligible.

    Each entry is ``{"criterion": id, "reason": text, "messages": [message, …]}``: the text
    in the language it was evaluated in (for older readers, and the fallback), the messages
    language-neutral (:meth:`Message.to_json`) so that :func:`reason_text` shows the reason
    in the reader's language.
    """
    if result.outcome == INELIGIBLE:
        chosen = result.failures
    elif result.outcome == INCOMPLETE:
        chosen = result.unknown
    else:
        chosen = ()
    return [{"criterion": r.criterion.id, "reason": r.reason,
             "messages": [m.to_json() for m in r.messages]} for r in chosen]


def criterion_entry(criterion: Criterion) -> dict[str, Any]:
    """The stored reason for a criterion chosen as why a screening failed: its short text
    from the protocol file (the source language as text), and a message that shows it in
    the reader's language."""
    return {"criterion": criterion.id, "reason": str(criterion.short or criterion.text),
            "messages": [_message("criterion", criterion=("criterion", criterion.id))
                         .to_json()]}


def reason_text(entry: Mapping[str, Any], study: Study | None = None) -> str:
    """A stored reason (an entry of ``screening.reasons``) in the installed language.

    The entry's messages when there are any and this version can show them all; otherwise
    the stored text as it was written: a row saved before reasons had messages, a reason
    the investigator typed (which is never translated), or a message this version does not
    know. ``study`` (the patient's) shows a chosen criterion in the protocol's words; without
    it, or when the criterion's text in the protocol is no longer the one recorded, the
    stored text is shown.
    """
    stored = str(entry.get("reason") or "")
    raw = entry.get("messages")
    if not isinstance(raw, list) or not raw:
        return stored
    try:
        messages = [Message.from_json(m) for m in raw]
        if any(m.id == "criterion" for m in messages) and not _same_criterion_text(
                entry, study):
            return stored
        return messages_text(messages, study)
    except (UnknownMessage, KeyError, IndexError, ValueError):
        # A message from another version, or a translation whose fields do not match:
        # the text saved with the reason is still right, in the language it was saved in.
        return stored


def _same_criterion_text(entry: Mapping[str, Any], study: Study | None) -> bool:
    if study is None:
        return False
    for criterion in study.criteria:
        if criterion.id == entry.get("criterion"):
            return str(criterion.short or criterion.text) == entry.get("reason")
    return False


def reason_line(entry: Mapping[str, Any], study: Study | None = None) -> str:
    """A stored reason with its criterion, as a log lists it (``I3: age 84 > 75``), in the
    installed language; a typed reason alone."""
    text = reason_text(entry, study)
    criterion = entry.get("criterion")
    if not criterion:
        return text
    # TRANSLATORS: a criterion id and why it failed, in a screening log ("I3: age 84 > 75").
    return _("{criterion}: {reason}").format(criterion=criterion, reason=text)

"""Load and validate study protocol files (``seeds/*.toml``, read with :mod:`tomli`).

Every table is read through :class:`_Table`, which knows the file and the dotted key it is
reading, so any problem — an unknown key, a missing field, a wrong type, a number out of
its bounds, a reference to an arm, anchor, field or assessment that does not exist —
raises :class:`ProtocolError` naming both. :func:`load_studies` loads a directory and keeps
going past a broken file: the good studies load, and the broken file is reported.

Bounds. A protocol file is data a site may edit, so nothing in it may stop the program:
a file larger than :data:`MAX_FILE_BYTES` or nested deeper than :data:`MAX_DEPTH` is refused
before it is parsed (Python's TOML reader recurses once per level), and every number has a
range (windows up to :data:`MAX_WINDOW_DAYS`, visits and horizons up to
:data:`MAX_SPAN_DAYS` from their anchor, at most :data:`MAX_VISITS` visits, block sizes,
ratios, targets, doses…): a window of ten million days or a visit a thousand years out is a
load error, not a crash of every worklist.

Reading a site's directories (shipped files, the site's own copies, the rules between
them) and the cache of validated files are in :mod:`gisttracker.protocols.files`; this
module is what validates a file that is not in the cache.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from string import Formatter
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import tomllib
else:
    try:
        # tomli's compiled parser reads the five shipped protocols in 3 ms where the
        # standard library's (the same code, interpreted) takes 9 ms, at every start whose
        # files are not in the cache of validated files (gisttracker.protocols.cache). Kept
        # below 2.4 (pyproject.toml) so that it reads TOML 1.0, exactly what tomllib reads:
        # a protocol file is accepted or refused alike with either.
        import tomli as tomllib
    except ImportError:  # (a setup without it: the same results, more slowly)
        import tomllib

from gisttracker.i18n import SOURCE_LANGUAGE, TRANSLATED, LocalText, _, join_list
from gisttracker.protocols.catalogue import (
    ANCHOR_RECORDS,
    ASSESSMENTS,
    CENSORING,
    COVARIATE_FACTS,
    ENDPOINT_EVENTS,
    ENDPOINT_TYPES,
    LAB_FIELDS,
    MEASURES,
    PROCEDURES,
    RESPONSE_CRITERIA,
    SCREENING_FIELDS,
    TREATMENT_PHASES,
    stratum_names,
    stratum_source,
)
from gisttracker.protocols.files import (
    MAX_FILE_BYTES,
    SEEDS_DIR,
    LoadResult,
    ProtocolError,
    decode,
    load_studies,
    read_protocol,
    text_digest,
)
from gisttracker.protocols.model import (
    Allocation,
    AnalysisPlan,
    Anchor,
    AnchorSource,
    Arm,
    ArmOption,
    Covariate,
    Criterion,
    DurationGroup,
    DurationSpan,
    Endpoint,
    GroupRule,
    Intervention,
    LabAnalyteSpec,
    Period,
    ResponseRules,
    Rule,
    Study,
    TimingRule,
    TreatmentRule,
    Visit,
    VisitName,
)

SCHEMA_VERSION = 1
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")

# --- bounds: every number a protocol file holds has a range ---------------------------------
#: Deepest nesting of tables and arrays (the shipped files nest 8 levels).
MAX_DEPTH = 32
#: Longest text value.
MAX_TEXT = 20_000
#: Repetitions of one ``[[visits]]`` entry, and visits of a study after expansion.
MAX_REPEAT = 500
MAX_VISITS = 500
#: Entries of the other lists.
MAX_ENTRIES = {"arms": 20, "anchors": 30, "criteria": 300, "endpoints": 60,
               "timing_rules": 30, "treatment_rules": 30, "labs": 50, "visits": 200,
               "covariates": 50, "model": 51, "subgroups": 50, "landmarks_months": 20,
               "grades": 20, "values": 50}
#: The longest landmark (months from an endpoint's origin) and a covariate's bound.
MAX_LANDMARK_MONTHS = 600
MAX_COVARIATE_BOUND = 1_000_000.0
#: A visit window (each side), the minimum SD duration and the confirmation interval.
MAX_WINDOW_DAYS = 366
#: A visit's offset from its anchor, an endpoint horizon, a timing or treatment limit.
MAX_SPAN_DAYS = 50 * 366
#: A single component of a period (months, weeks or days) before any date arithmetic.
MAX_PERIOD_COMPONENT = 100_000
MAX_BLOCK_SIZE = 100
MAX_BLOCK_SIZES = 10
MAX_RATIO_PART = 20
MAX_TARGET_ENROLLMENT = 1_000_000
MAX_GROUP_MONTHS = 600
MAX_DOSE_MG_PER_DAY = 10_000.0
MAX_LIMIT_FACTOR = 1_000.0
MAX_RULE_VALUE = 1_000_000.0
#: Keys, codes and ids: letters, digits and ``_ . -``, starting with a letter or digit.
#: A day to compare two periods on (month ends make "longer" depend on the start).
_PROBE = date(2001, 1, 31)
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _span_days(period: Period) -> int:
    """The longest number of days ``period`` can cover (months counted as 31 days)."""
    return abs(period.months) * 31 + abs(period.weeks) * 7 + abs(period.days)


class _Table:
    """One TOML table being read; remembers which keys were used so leftovers are errors."""

    def __init__(self, file: str, where: str, data: object) -> None:
        if not isinstance(data, dict):
            raise ProtocolError(file, where or "(file)", _("expected a table"))
        self.file = file
        self.where = where
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, message: str) -> ProtocolError:
        return ProtocolError(self.file, self.key(name), message)

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                raise self.error(name, _("required field is missing"))
            return None
        return self.data[name]

    def string(self, name: str, *, required: bool = True) -> str | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error(name, _("expected non-empty text"))
        if len(value) > MAX_TEXT:
            raise self.error(name, _("text longer than {maximum} characters").format(
                maximum=MAX_TEXT))
        return value.strip()

    def identifier(self, name: str, *, required: bool = True) -> str | None:
        """A key, code or id: letters, digits and ``_ . -`` (at most 64)."""
        value = self.string(name, required=required)
        if value is not None and not IDENTIFIER.fullmatch(value):
            raise self.error(name, _("{value!r} is not a valid key: use letters, digits and "
                                     "_ . - (at most 64)").format(value=value[:80]))
        return value

    def code(self, name: str) -> str:
        value = self.identifier(name)
        assert value is not None
        return value

    def text(self, name: str) -> str:
        value = self.string(name)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = True, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, _("expected a whole number"))
        if minimum is not None and value < minimum:
            raise self.error(name, _("must be at least {minimum}").format(minimum=minimum))
        if maximum is not None and value > maximum:
            raise self.error(name, _("must be at most {maximum}").format(maximum=maximum))
        return value

    def number(self, name: str, *, minimum: float, maximum: float,
               positive: bool = False, message: str | None = None) -> float:
        """A finite number within ``[minimum, maximum]`` (``positive``: above 0)."""
        value = self._get(name, True)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value) or value < minimum or value > maximum or (positive and value <= 0):
            raise self.error(name, message or _(
                "expected a number from {minimum} to {maximum}").format(
                minimum=f"{minimum:g}", maximum=f"{maximum:g}"))
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(name, _("expected true or false"))
        return value

    def items(self, name: str, *, required: bool = True,
              maximum: int | None = None) -> list[Any]:
        value = self._get(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(name, _("expected a list"))
        limit = maximum if maximum is not None else MAX_ENTRIES.get(name, 100)
        if len(value) > limit:
            raise self.error(name, _("at most {maximum} entries").format(maximum=limit))
        return value

    def strings(self, name: str, *, required: bool = True) -> tuple[str, ...]:
        items = self.items(name, required=required)
        if not all(isinstance(item, str) for item in items):
            raise self.error(name, _("expected a list of text"))
        return tuple(items)

    def codes(self, name: str, allowed: Iterable[str], *, required: bool = True
              ) -> tuple[str, ...]:
        """A list of codes, each one of ``allowed``, none twice."""
        values = self.strings(name, required=required)
        allowed = tuple(allowed)
        for value in values:
            if value not in allowed:
                raise self.error(name, _("{value!r} is not one of {allowed}").format(
                    value=value[:80], allowed=join_list(allowed)))
        if len(set(values)) != len(values):
            raise self.error(name, _("a value is listed twice"))
        return values

    def tables(self, name: str, *, required: bool = True) -> list[_Table]:
        items = self.items(name, required=required)
        return [_Table(self.file, f"{self.key(name)}[{i}]", item) for i, item in enumerate(items)]

    def table(self, name: str, *, required: bool = True) -> _Table | None:
        value = self._get(name, required)
        if value is None:
            return None
        return _Table(self.file, self.key(name), value)

    def period(self, name: str, *, required: bool = True, maximum_days: int = MAX_SPAN_DAYS,
               negative: bool = False) -> Period | None:
        """A calendar period ``{ months, weeks, days }``; refused when any part is negative
        (unless ``negative``) or when it can reach more than ``maximum_days``."""
        table = self.table(name, required=required)
        if table is None:
            return None
        parts = [table.integer(unit, required=False) or 0 for unit in ("months", "weeks", "days")]
        table.done()
        if not negative and any(part < 0 for part in parts):
            raise self.error(name, _("a period cannot be negative"))
        if any(abs(part) > MAX_PERIOD_COMPONENT for part in parts):
            # Before any arithmetic: dates that far out do not exist.
            raise self.error(name, _("longer than the {days} days allowed here").format(
                days=maximum_days))
        period = Period(*parts)
        if _span_days(period) > maximum_days:
            raise self.error(name, _("{period} is longer than the {days} days allowed here")
                             .format(period=period.describe(), days=maximum_days))
        return period

    def choice(self, name: str, allowed: Iterable[str], *, required: bool = True) -> str | None:
        value = self.string(name, required=required)
        allowed = tuple(allowed)
        if value is not None and value not in allowed:
            raise self.error(
                name,
                _("{value!r} is not one of {allowed}").format(
                    value=value, allowed=join_list(allowed)
                ),
            )
        return value

    # ----- text in several languages: `title = "…"` and `title_zh_CN = "…"` beside it -----
    def _translations(self, name: str) -> dict[str, Any]:
        found = {}
        for language in TRANSLATED:
            key = f"{name}_{language}"
            if key in self.data:
                found[language] = self._get(key, True)
        return found

    def local(self, name: str, *, required: bool = True) -> LocalText | None:
        """Text a person reads, with its translations (``name_zh_CN``) if the file has them.

        A translation without the English text, or one that is empty, is an error.
        """
        source = self.string(name, required=required)
        translations = self._translations(name)
        if source is None:
            if translations:
                raise self.error(f"{name}_{next(iter(translations))}",
                                 _("a translation needs the English text {key} beside it")
                                 .format(key=self.key(name)))
            return None
        for language, value in translations.items():
            if not isinstance(value, str) or not value.strip():
                raise self.error(f"{name}_{language}", _("expected non-empty text"))
        return LocalText(source, {k: v.strip() for k, v in translations.items()})

    def local_text(self, name: str) -> LocalText:
        value = self.local(name)
        assert value is not None
        return value

    def local_strings(self, name: str, *, required: bool = True) -> tuple[LocalText, ...]:
        """A list of texts; each translation is a list of the same length (``name_zh_CN``)."""
        sources = self.strings(name, required=required)
        translations = self._translations(name)
        for language, values in translations.items():
            if (not isinstance(values, list) or len(values) != len(sources)
                    or not all(isinstance(v, str) and v.strip() for v in values)):
                raise self.error(f"{name}_{language}", _(
                    "expected a list of {count} texts, one for each entry of {key}").format(
                        count=len(sources), key=self.key(name)))
        return tuple(LocalText(text.strip(), {lang: values[i].strip()
                                              for lang, values in translations.items()})
                     for i, text in enumerate(sources))

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt key must not be silently ignored."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            key = unknown[0]
            match = re.fullmatch(r"(.+?)_([a-z]{2}(?:_[A-Z]{2})?)", key)
            if match and match.group(1) in self.used:
                # `title_fr` beside a `title`: say what is wrong, not just "unknown key".
                raise self.error(key, _("{language} is not a language this program has "
                                        "(it has: {known})").format(
                    language=match.group(2), known=join_list(TRANSLATED)))
            raise self.error(key, _("unknown key"))


def _rule(table: _Table) -> Rule:
    for combinator in ("all", "any"):
        if combinator in table.data:
            rules = tuple(_rule(sub) for sub in table.tables(combinator))
            if not rules:
                raise table.error(combinator, _("needs at least one rule"))
            table.done()
            return Rule(op=combinator, rules=rules)
    if "not" in table.data:
        sub = table.table("not")
        assert sub is not None
        table.done()
        return Rule(op="not", rules=(_rule(sub),))

    field_key = table.choice("field", SCREENING_FIELDS)
    assert field_key is not None
    spec = SCREENING_FIELDS[field_key]
    if "in" in table.data:
        if spec.kind != "enum":
            raise table.error("in", _("{field} is not a list of values; compare it with op and "
                                      "value").format(field=field_key))
        values = table.strings("in")
        if not values:
            raise table.error("in", _("needs at least one value"))
        bad = [v for v in values if v not in spec.values]
        if bad:
            raise table.error("in", _("{value!r} is not a value of {field}").format(
                value=bad[0], field=field_key))
        table.done()
        return Rule(op="in", field=field_key, values=values)

    op = table.choice("op", COMPARISONS)
    assert op is not None
    unit = table.string("unit", required=False)
    if unit is not None and not spec.unit:
        raise table.error("unit", _("{field} has no unit").format(field=field_key))
    if spec.unit and unit is not None and unit != spec.unit:
        raise table.error("unit", _("{field} is recorded in {expected}, not {unit}").format(
            field=field_key, expected=spec.unit, unit=unit))
    for limit in ("uln", "lln"):
        if limit in table.data:
            if spec.kind != "lab":
                raise table.error(limit, _("only laboratory fields have reference limits"))
            factor = table.number(limit, minimum=0, maximum=MAX_LIMIT_FACTOR, positive=True,
                                  message=_("expected a positive multiple of the limit, at "
                                            "most {maximum}").format(
                                      maximum=f"{MAX_LIMIT_FACTOR:g}"))
            table.done()
            return Rule(op=op, field=field_key, factor=float(factor),
                        limit=cast(Any, limit), unit=unit)
    value = table._get("value", True)
    if spec.kind == "bool" and not isinstance(value, bool):
        raise table.error("value", _("{field} is true or false").format(field=field_key))
    if spec.kind in ("number", "integer", "lab") and (
        isinstance(value, bool) or not isinstance(value, int | float)
        or not math.isfinite(value) or abs(value) > MAX_RULE_VALUE
    ):
        raise table.error("value", _("{field} is a number (at most {maximum} in size)").format(
            field=field_key, maximum=f"{MAX_RULE_VALUE:g}"))
    if spec.kind == "enum" and value not in spec.values:
        raise table.error("value", _("{value!r} is not a value of {field}").format(
            value=value, field=field_key))
    table.done()
    return Rule(op=op, field=field_key, value=value, unit=unit)


def _arm(table: _Table) -> Arm:
    interventions = []
    for item in table.tables("interventions", required=False):
        interventions.append(Intervention(
            type=cast(Any, item.choice("type", ("drug", "procedure"))),
            name=item.local_text("name"),
            dose=item.local("dose", required=False),
            schedule=item.local("schedule", required=False),
            assumption=item.local("assumption", required=False),
        ))
        item.done()
    options = []
    for item in table.tables("options", required=False):
        dose = item.number("dose_mg_per_day", minimum=0, maximum=MAX_DOSE_MG_PER_DAY,
                           positive=True, message=_(
                               "expected a positive dose in mg/day, at most {maximum}").format(
                               maximum=f"{MAX_DOSE_MG_PER_DAY:g}"))
        options.append(ArmOption(code=item.code("code"), label=item.local_text("label"),
                                 drug=item.text("drug"), dose_mg_per_day=dose))
        item.done()
    arm = Arm(code=table.code("code"), name=table.local_text("name"),
              description=table.local("description", required=False) or LocalText(""),
              interventions=tuple(interventions), options=tuple(options))
    table.done()
    return arm


#: What a visit name's placeholders may be: a name alone (``{n:02d}`` is fine; an index or
#: an attribute, ``{offset[3]}``, would depend on the words of each language).
_PLACEHOLDERS = ("n", "offset", "months")


def _visit_name(table: _Table, name: LocalText, number: int, offset: Period) -> LocalText:
    """``name`` with ``{n}``, ``{offset}``, ``{months}`` filled in, in each of its languages
    (``{offset}`` in words of that language); other braces are errors."""
    def fill(template: str, key: str, words: str) -> str:
        try:
            for _text, field_name, _spec, _conversion in Formatter().parse(template):
                if field_name is not None and field_name not in _PLACEHOLDERS:
                    raise KeyError(field_name)
            return template.format(n=number, offset=words, months=offset.months)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            raise table.error(key, _(
                "{name!r} is not a valid visit name ({problem}); the placeholders are {{n}}, "
                "{{offset}} and {{months}}, and a literal brace is written {{{{ or }}}}"
            ).format(name=template, problem=exc)) from exc

    source_words = offset.describe(SOURCE_LANGUAGE)
    source = fill(name, "name", source_words)
    # Each translation's template is checked now, with any words: only names are allowed,
    # so whether it formats does not depend on the words.
    for language, text in name.translations.items():
        fill(text, f"name_{language}", source_words)
    if not name.translations:
        return LocalText(source)
    return VisitName(source, name.translations, number, offset)


def _visits(table: _Table, anchors: list[str]) -> list[Visit]:
    """One ``[[visits]]`` entry; with ``repeat`` it expands to a visit per repetition.

    An offset may be negative (a visit before its anchor) but no visit may lie more than
    :data:`MAX_SPAN_DAYS` from its anchor; each side of a window is at most
    :data:`MAX_WINDOW_DAYS`.
    """
    key = table.code("key")
    name = table.local_text("name")
    anchor = table.choice("anchor", anchors)
    assert anchor is not None
    offset = table.period("offset", negative=True)
    before = table.period("window_before", maximum_days=MAX_WINDOW_DAYS)
    after = table.period("window_after", maximum_days=MAX_WINDOW_DAYS)
    assert offset is not None and before is not None and after is not None
    assessments = table.strings("assessments")
    for assessment in assessments:
        if assessment not in ASSESSMENTS:
            raise table.error("assessments", _("unknown assessment {name!r}").format(
                name=assessment[:80]))
    required = table.boolean("required", True)
    assumption = table.local("assumption", required=False)
    until = table.choice("until", [a for a in anchors if a != anchor], required=False)
    abstraction = table.boolean("abstraction", False)
    repeat = table.table("repeat", required=False)
    table.done()
    if repeat is None:
        return [Visit(key, _visit_name(table, name, 1, offset), anchor, offset, before, after,
                      assessments, required, assumption, until, abstraction)]
    every = repeat.period("every")
    count = repeat.integer("count", minimum=1, maximum=MAX_REPEAT)
    repeat.done()
    assert every is not None and count is not None
    if every.is_zero:
        raise repeat.error("every", _("a repeat interval must be longer than zero"))
    last = Period(offset.months + every.months * (count - 1),
                  offset.weeks + every.weeks * (count - 1), offset.days + every.days * (count - 1))
    if _span_days(last) > MAX_SPAN_DAYS:
        raise repeat.error("count", _(
            "the last repetition would be {period} from its anchor; at most {days} days are "
            "allowed").format(period=last.describe(), days=MAX_SPAN_DAYS))
    visits = []
    for k in range(count):
        step = every.scaled(k)
        total = Period(offset.months + step.months, offset.weeks + step.weeks,
                       offset.days + step.days)
        visits.append(Visit(
            key=f"{key}_{k + 1}",
            name=_visit_name(table, name, k + 1, total),
            anchor=anchor, offset=total, window_before=before, window_after=after,
            assessments=assessments, required=required, assumption=assumption, until=until,
            abstraction=abstraction,
        ))
    return visits


def _anchor(table: _Table) -> Anchor:
    source = cast(Any, table.choice("source", ("enrollment", "entered")))
    set_by = None
    by = table.table("set_by", required=False)
    if by is not None:
        if source != "entered":
            raise table.error("set_by", _("only an entered anchor can follow the course data"))
        record = cast(Any, by.choice("record", ANCHOR_RECORDS))
        drug = by.string("drug", required=False)
        phase = by.choice("phase", TREATMENT_PHASES, required=False)
        procedures = by.codes("procedures", PROCEDURES, required=False)
        if record == "first_surgery" and (drug or phase):
            raise by.error("drug" if drug else "phase", _("a surgery has no drug or phase"))
        if record != "first_surgery" and procedures:
            raise by.error("procedures", _("only first_surgery is chosen by procedure"))
        by.done()
        set_by = AnchorSource(record, drug.lower() if drug else None, phase, procedures)
    anchor = Anchor(key=table.code("key"), label=table.local_text("label"), source=source,
                    description=table.local("description", required=False) or LocalText(""),
                    set_by=set_by)
    table.done()
    return anchor


def _allocation(table: _Table, arm_codes: list[str], anchors: Mapping[str, Anchor]
                ) -> Allocation:
    method = table.choice(
        "method", ("randomized", "single_arm", "treatment_received", "derived_duration"))
    block_sizes = tuple(table.items("block_sizes", required=method == "randomized",
                                    maximum=MAX_BLOCK_SIZES))
    strata = table.strings("strata", required=method == "randomized")
    for name in strata:
        if stratum_source(name) is None:
            # Refused here, not at the first randomization: the value must come from somewhere.
            raise table.error("strata", _(
                "unknown stratification factor {name!r}: a stratum names a patient attribute "
                "(site, sex) or a screening field recorded as a choice, yes/no or whole "
                "number, one of {names}").format(name=name[:80],
                                                 names=join_list(stratum_names())))
    if len(set(strata)) != len(strata):
        raise table.error("strata", _("a stratification factor is listed twice"))
    if strata and method != "randomized":
        raise table.error("strata", _("only a randomized study is stratified"))
    ratio = tuple(table.items("ratio", required=False)) or tuple(1 for _a in arm_codes)
    for name, items, top in (("block_sizes", block_sizes, MAX_BLOCK_SIZE),
                             ("ratio", ratio, MAX_RATIO_PART)):
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or not 0 < item <= top:
                raise table.error(name, _("expected whole numbers from 1 to {maximum}").format(
                    maximum=top))
    if len(ratio) != len(arm_codes):
        raise table.error("ratio", _("{count} ratio entries for {arms} arms").format(
            count=len(ratio), arms=len(arm_codes)))
    if method == "randomized" and len(arm_codes) < 2:
        raise table.error("method", _("a randomized study needs at least two arms"))
    if method == "randomized":
        unit = sum(ratio)
        for size in block_sizes:
            if size % unit:
                raise table.error("block_sizes", _(
                    "block size {size} is not a multiple of the allocation ratio total {unit}"
                ).format(size=size, unit=unit))
    groups: list[DurationGroup] = []
    for item in table.tables("groups", required=method == "derived_duration"):
        arm = item.choice("arm", sorted(arm_codes))
        assert arm is not None
        max_months = item.integer("max_months", required=False, minimum=1,
                                  maximum=MAX_GROUP_MONTHS)
        item.done()
        if any(g.arm == arm for g in groups):
            raise item.error("arm", _("{arm!r} already has a group").format(arm=arm))
        if groups and groups[-1].max_months is None:
            raise item.error("max_months", _("only the last group may have no max_months"))
        if groups and max_months is not None and max_months <= cast(int, groups[-1].max_months):
            raise item.error("max_months", _("groups must be in increasing order of max_months"))
        groups.append(DurationGroup(arm=arm, max_months=max_months))
    if method == "derived_duration" and not groups:
        raise table.error("groups", _("a derived-duration allocation needs at least one group"))
    if groups and method != "derived_duration":
        raise table.error("groups", _("only a derived-duration allocation has groups"))
    duration = None
    span = table.table("duration", required=method == "derived_duration")
    if span is not None:
        if method != "derived_duration":
            raise table.error("duration", _("only a derived-duration allocation has a "
                                            "duration"))
        entered = sorted(k for k, a in anchors.items() if a.source == "entered")
        start = cast(str, span.choice("start", entered))
        end = cast(str, span.choice("end", entered))
        span.done()
        if start == end:
            raise span.error("end", _("the duration needs two different anchors"))
        duration = DurationSpan(start, end)
    rules: list[GroupRule] = []
    for item in table.tables("rules", required=method == "treatment_received"):
        arm = cast(str, item.choice("arm", arm_codes))
        procedures = item.codes("procedures", PROCEDURES, required=False)
        item.done()
        if rules and not rules[-1].procedures:
            raise item.error("arm", _("the rule without procedures takes everybody left: it "
                                      "must be the last"))
        rules.append(GroupRule(arm, procedures))
    if rules and method != "treatment_received":
        raise table.error("rules", _("only a treatment-received allocation has group rules"))
    if method == "treatment_received":
        if not rules or rules[-1].procedures:
            raise table.error("rules", _("the last rule has no procedures: it is the group of "
                                         "patients who received none of the others"))
        unreached = set(arm_codes) - {r.arm for r in rules}
        if unreached:
            raise table.error("rules", _("no rule leads to {arms}").format(
                arms=join_list(sorted(unreached))))
    if method == "single_arm" and len(arm_codes) != 1:
        raise table.error("method", _("a single-arm study has exactly one arm"))
    allocation = Allocation(
        method=cast(Any, method), block_sizes=cast(tuple[int, ...], block_sizes),
        strata=strata, ratio=cast(tuple[int, ...], ratio), groups=tuple(groups),
        assumption=table.local("assumption", required=False), duration=duration,
        rules=tuple(rules),
    )
    table.done()
    return allocation


def _endpoint(t: _Table, anchor_keys: list[str], visit_keys: Mapping[str, Visit],
              primary_criterion: str | None) -> Endpoint:
    """One ``[[endpoints]]`` entry; the computable declaration (``type``…) is optional, so
    a file of the first format still loads (its endpoints are then not computed)."""
    horizon = cast(Period, t.period("horizon"))
    etype = t.choice("type", ENDPOINT_TYPES, required=False)
    events = t.codes("events", ENDPOINT_EVENTS, required=False)
    competing = t.codes("competing", ENDPOINT_EVENTS, required=False)
    censor = t.choice("censor", CENSORING, required=False)
    measure = t.string("measure", required=False)
    criterion = t.choice("criterion", RESPONSE_CRITERIA, required=False)
    instruments = t.codes("instruments", ASSESSMENTS, required=False)
    visits = t.codes("visits", visit_keys, required=False)
    drug = t.string("drug", required=False)
    phase = t.choice("phase", TREATMENT_PHASES, required=False)
    grades = t.strings("grades", required=False)
    measured_from = t.choice("measured_from", anchor_keys, required=False)
    declared = {"events": events, "competing": competing, "censor": censor,
                "measure": measure, "criterion": criterion, "instruments": instruments,
                "visits": visits, "drug": drug, "phase": phase, "grades": grades}
    wanted = {"time_to_event": {"events", "competing", "censor"},
              "proportion": {"measure", "criterion", "grades"},
              "repeated_measure": {"instruments", "visits"},
              "descriptive": {"measure", "drug", "phase"}}.get(etype or "", set())
    for name, value in declared.items():
        if value and name not in wanted:
            raise t.error(name, _("not part of an endpoint of type {type}").format(
                type=etype or _("(none)")))
    if etype == "time_to_event":
        if not events:
            raise t.error("events", _("a time-to-event endpoint needs the events that end it"))
        if set(events) & set(competing):
            raise t.error("competing", _("an event cannot also compete with itself"))
        if measured_from is None:
            raise t.error("measured_from", _("a time-to-event endpoint needs its origin"))
        if horizon.is_zero:
            raise t.error("horizon", _("a time-to-event endpoint needs a horizon"))
    if etype in ("proportion", "descriptive"):
        allowed = MEASURES[etype]
        if measure not in allowed:
            raise t.error("measure", _("{value!r} is not one of {allowed}").format(
                value=measure, allowed=join_list(allowed)))
    if etype == "proportion" and measure == "objective_response" and not (
            criterion or primary_criterion):
        raise t.error("criterion", _("give the response criterion (recist or choi): the study "
                                     "has no primary_response_criterion"))
    if etype == "proportion" and measure == "organ_preservation" and (
            horizon.weeks or horizon.days or horizon.months <= 0):
        raise t.error("horizon", _("organ preservation is judged at a whole number of months"))
    if measure != "objective_response" and criterion:
        raise t.error("criterion", _("only an objective response has a criterion"))
    if measure == "pathological_response" and not grades:
        raise t.error("grades", _("a pathological response rate names the grades that count "
                                  "as a response"))
    if grades and measure != "pathological_response":
        raise t.error("grades", _("only a pathological response rate has grades"))
    if any(not g.strip() for g in grades) or len({g.strip().casefold() for g in grades}) != len(
            grades):
        raise t.error("grades", _("each grade is a non-empty text, listed once"))
    if etype == "descriptive" and measure == "treatment_duration" and not (drug and phase):
        raise t.error("drug" if not drug else "phase", _(
            "a treatment duration names the drug and the phase"))
    if etype == "repeated_measure":
        if not instruments or not visits:
            raise t.error("instruments" if not instruments else "visits", _(
                "a repeated measure names its instruments and the visits they are scored at"))
        for key in visits:
            if not set(instruments) & set(visit_keys[key].assessments):
                raise t.error("visits", _("visit {visit!r} records none of {instruments}")
                              .format(visit=key, instruments=join_list(instruments)))
    endpoint = Endpoint(
        key=t.code("key"), name=t.local_text("name"),
        kind=cast(Any, t.choice("kind", ("primary", "secondary"))),
        horizon=horizon, definition=t.local_text("definition"), measured_from=measured_from,
        type=cast(Any, etype), events=events, competing=competing,
        censor=cast(Any, censor or ("last_contact" if etype == "time_to_event" else None)),
        measure=measure, criterion=cast(Any, criterion), instruments=instruments,
        visits=visits, drug=drug.lower() if drug else None, phase=phase,
        grades=tuple(g.strip() for g in grades))
    t.done()
    return endpoint


def _covariate(t: _Table, endpoints: Mapping[str, Endpoint]) -> Covariate:
    """One ``[[covariates]]`` entry: a fact or an endpoint's result, as a number, a factor or
    yes/no (``values``, ``at_most``, ``at_least``)."""
    key = t.code("key")
    if key == "group":
        raise t.error("key", _("'group' is the group of analysis; give the covariate another "
                               "key"))
    name = t.local_text("name")
    fact = t.choice("fact", COVARIATE_FACTS, required=False)
    endpoint_key = t.choice("endpoint", endpoints, required=False)
    if (fact is None) == (endpoint_key is None):
        raise t.error("fact", _("a covariate takes its value from one fact or one endpoint"))
    values = t.strings("values", required=False)
    bounds = {}
    for bound in ("at_most", "at_least"):
        if bound in t.data:
            bounds[bound] = t.number(bound, minimum=-MAX_COVARIATE_BOUND,
                                     maximum=MAX_COVARIATE_BOUND)
    reference = t.string("reference", required=False)
    assumption = t.local("assumption", required=False)
    if fact is not None:
        spec = COVARIATE_FACTS[fact]
        kind = spec.kind
        allowed: tuple[str, ...] = spec.values
    else:
        target = endpoints[cast(str, endpoint_key)]
        if target.type == "proportion":
            kind, allowed = "bool", ()
        elif target.type == "descriptive" and target.measure == "treatment_duration":
            kind, allowed = "number", ()
        else:
            raise t.error("endpoint", _("only a proportion or a treatment duration can be a "
                                        "covariate"))
    if values:
        if kind != "text":
            raise t.error("values", _("only a covariate from a text fact has values"))
        bad = [v for v in values if v not in allowed]
        if bad:
            raise t.error("values", _("{value!r} is not one of {allowed}").format(
                value=bad[0], allowed=join_list(allowed)))
        if len(set(values)) != len(values):
            raise t.error("values", _("a value is listed twice"))
    if bounds and kind != "number":
        raise t.error(next(iter(bounds)), _("only a number has bounds"))
    if values and bounds:
        raise t.error(next(iter(bounds)), _("give values or bounds, not both"))
    if reference is not None:
        if kind != "text" or values:
            raise t.error("reference", _("only a factor (a text fact without values) has a "
                                         "reference level"))
        if reference not in allowed:
            raise t.error("reference", _("{value!r} is not one of {allowed}").format(
                value=reference, allowed=join_list(allowed)))
    t.done()
    shape: Any = ("binary" if values or bounds or kind == "bool"
                  else "factor" if kind == "text" else "number")
    return Covariate(key=key, name=name, kind=shape, fact=fact, endpoint=endpoint_key,
                     values=values, at_most=bounds.get("at_most"), at_least=bounds.get("at_least"),
                     reference=reference, assumption=assumption)


def _analysis(t: _Table, arm_codes: list[str], covariates: tuple[Covariate, ...]
              ) -> AnalysisPlan:
    """The ``[analysis]`` table: reference group, model terms, subgroups, landmarks."""
    keys = [c.key for c in covariates]
    reference = t.choice("reference_group", arm_codes, required=False)
    model = t.codes("model", ["group", *keys], required=False)
    subgroups = t.codes("subgroups", keys, required=False)
    for key in subgroups:
        if not next(c for c in covariates if c.key == key).binary:
            raise t.error("subgroups", _("{key!r} is not a yes/no covariate: subgroups are "
                                         "split on yes and no").format(key=key))
    landmarks = t.items("landmarks_months", required=False)
    for value in landmarks:
        if isinstance(value, bool) or not isinstance(value, int) or not (
                0 < value <= MAX_LANDMARK_MONTHS):
            raise t.error("landmarks_months", _("each landmark is a whole number of months "
                                                "from 1 to {maximum}").format(
                maximum=MAX_LANDMARK_MONTHS))
    if len(set(landmarks)) != len(landmarks):
        raise t.error("landmarks_months", _("a value is listed twice"))
    plan = AnalysisPlan(reference_group=reference, model=model, subgroups=subgroups,
                        landmark_months=tuple(sorted(landmarks)),
                        assumption=t.local("assumption", required=False))
    t.done()
    return plan


def _response(t: _Table, anchor_keys: list[str]) -> ResponseRules:
    start = cast(str, t.choice("start", anchor_keys))
    sd_min = cast(Period, t.period("sd_min_duration", maximum_days=MAX_WINDOW_DAYS))
    confirm = t.boolean("confirm", False)
    after = t.period("confirm_after", required=confirm, maximum_days=MAX_WINDOW_DAYS)
    if after is not None and not confirm:
        raise t.error("confirm_after", _("only with confirm = true"))
    if after is not None and after.is_zero:
        raise t.error("confirm_after", _("a confirmation comes after some time"))
    t.done()
    return ResponseRules(start, sd_min, confirm, after)


def _unique(table: _Table, name: str, keys: list[str], field: str) -> None:
    """Refuse a repeated ``field`` value among the ``name`` entries (the error names the entry)."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise table.error(f"{name}[{index}].{field}",
                              _("{key!r} is defined twice").format(key=key))
        seen.add(key)


# What _nesting_depth looks at: comments, strings and brackets; everything else is skipped
# by the regular expression engine, not character by character in Python (which took a
# third of the time of loading the shipped protocol files).
# What cannot hold a table or an array: a comment, or a string of any of TOML's four kinds
# (a basic string skips escaped characters; a one-line string stops at the end of its line;
# an unterminated one runs to where the parser will refuse it). Removed in one pass of the
# regular expression engine before the brackets are counted: a scan in Python, event by
# event, took 8 ms of every start.
_NOT_STRUCTURE = re.compile("|".join((
    r"#[^\n]*",
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*(?:""")?',
    r"'''(?:[^']|'(?!''))*(?:''')?",
    r'"(?:[^"\\\n]|\\[\s\S])*"?',
    r"'[^'\n]*'?",
)))
_BRACKETS = re.compile(r"[\[\]{}]")


def _nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` / ``{`` in TOML ``text``, outside strings and comments.

    Measured before parsing because :mod:`tomllib` recurses once per level: a file nested a
    few thousand levels deep would raise RecursionError (or, on a small thread stack, crash)
    instead of a clear message. Table headers (``[[a.b]]``) count as one level each.
    """
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_NOT_STRUCTURE.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest


def _data_depth(data: object) -> int:
    """The nesting depth of parsed data, without recursion (dotted keys nest too)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else (
            item if isinstance(item, list) else ())
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return deepest


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    """The TOML data of ``text``, refusing what is too large or too deep to read safely."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ProtocolError(file, "(file)", _("larger than {size} bytes").format(
            size=MAX_FILE_BYTES))
    if _nesting_depth(text) > MAX_DEPTH:
        raise ProtocolError(file, "(file)", _("nested more than {depth} levels deep").format(
            depth=MAX_DEPTH))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(file, "(syntax)", str(exc)) from exc
    except RecursionError as exc:
        raise ProtocolError(file, "(file)", _("nested more than {depth} levels deep").format(
            depth=MAX_DEPTH)) from exc
    if _data_depth(data) > MAX_DEPTH:
        raise ProtocolError(file, "(file)", _("nested more than {depth} levels deep").format(
            depth=MAX_DEPTH))
    return data


def parse_study(text: str, file: str) -> Study:
    """Parse and validate one protocol file's text; ``file`` names it in errors."""
    data = _parse_toml(text, file)
    try:
        return _build_study(data, text, file)
    except ProtocolError as exc:
        key = data.get("key")
        if exc.study is None and isinstance(key, str) and IDENTIFIER.fullmatch(key.strip()):
            exc.study = key.strip()
        raise


def _build_study(data: dict[str, Any], text: str, file: str) -> Study:
    top = _Table(file, "", data)
    schema = top.integer("schema")
    if schema != SCHEMA_VERSION:
        raise top.error("schema", _("this version reads schema {expected}, not {found}").format(
            expected=SCHEMA_VERSION, found=schema))
    key = top.code("key")

    arms = [_arm(t) for t in top.tables("arms")]
    if not arms:
        raise top.error("arms", _("a study needs at least one arm or group"))
    _unique(top, "arms", [a.code for a in arms], "code")
    arm_codes = [a.code for a in arms]

    anchors = [_anchor(t) for t in top.tables("anchors")]
    _unique(top, "anchors", [a.key for a in anchors], "key")
    if not anchors:
        raise top.error("anchors", _("a study needs at least one anchor date"))
    anchor_keys = sorted({a.key for a in anchors})

    criteria = []
    for t in top.tables("criteria"):
        rule_table = t.table("rule", required=False)
        criteria.append(Criterion(
            id=t.code("id"), kind=cast(Any, t.choice("kind", ("inclusion", "exclusion"))),
            text=t.local_text("text"), rule=_rule(rule_table) if rule_table else None,
            short=t.local("short", required=False), note=t.local("note", required=False),
            assumption=t.local("assumption", required=False),
        ))
        t.done()
    _unique(top, "criteria", [c.id for c in criteria], "id")

    visits: list[Visit] = []
    seen_visits: dict[str, str] = {}
    for t in top.tables("visits"):
        for visit in _visits(t, anchor_keys):
            if visit.key in seen_visits:
                raise t.error("key", _("visit {key!r} is already defined by {other}").format(
                    key=visit.key, other=seen_visits[visit.key]))
            seen_visits[visit.key] = t.where
            visits.append(visit)
            if len(visits) > MAX_VISITS:
                raise t.error("repeat", _("a study may plan at most {maximum} visits").format(
                    maximum=MAX_VISITS))
    if not visits:
        raise top.error("visits", _("a study needs at least one visit"))

    primary = top.choice("primary_response_criterion", RESPONSE_CRITERIA, required=False)
    by_visit = {v.key: v for v in visits}
    endpoints = [_endpoint(t, anchor_keys, by_visit, primary) for t in top.tables("endpoints")]
    _unique(top, "endpoints", [e.key for e in endpoints], "key")
    covariates = tuple(_covariate(t, {e.key: e for e in endpoints})
                       for t in top.tables("covariates", required=False))
    _unique(top, "covariates", [c.key for c in covariates], "key")
    analysis_table = top.table("analysis", required=False)
    analysis = (_analysis(analysis_table, arm_codes, covariates) if analysis_table
                else AnalysisPlan())

    timing_rules = []
    for t in top.tables("timing_rules", required=False):
        rule = TimingRule(
            key=t.code("key"), description=t.local_text("description"),
            start=cast(str, t.choice("start", anchor_keys)),
            end=cast(str, t.choice("end", anchor_keys)),
            min=t.period("min", required=False), max=t.period("max", required=False),
        )
        if rule.min is None and rule.max is None:
            raise t.error("max", _("a timing rule needs min or max"))
        if rule.min is not None and rule.max is not None and (
                rule.min.after(_PROBE) > rule.max.after(_PROBE)):
            raise t.error("min", _("the minimum is longer than the maximum"))
        timing_rules.append(rule)
        t.done()
    _unique(top, "timing_rules", [r.key for r in timing_rules], "key")

    treatment_rules = []
    for t in top.tables("treatment_rules", required=False):
        drug = t.text("drug").lower()
        rule_t = TreatmentRule(
            key=t.code("key"), description=t.local_text("description"), drug=drug,
            phase=cast(str, t.choice("phase", TREATMENT_PHASES)),
            min=t.period("min", required=False), max=t.period("max", required=False))
        if rule_t.min is None and rule_t.max is None:
            raise t.error("max", _("a treatment rule needs min or max"))
        treatment_rules.append(rule_t)
        t.done()
    _unique(top, "treatment_rules", [r.key for r in treatment_rules], "key")

    response_table = top.table("response", required=False)
    response = _response(response_table, anchor_keys) if response_table else None

    labs = []
    for t in top.tables("labs", required=False):
        lab_key = t.text("key")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", lab_key):
            raise t.error("key", _("use lower-case letters, digits and _ (e.g. albumin)"))
        if lab_key in LAB_FIELDS:
            raise t.error("key", _("{key!r} is already a laboratory value of every study").format(
                key=lab_key))
        labs.append(LabAnalyteSpec(key=lab_key, label=t.local_text("label"), unit=t.text("unit"),
                                   assumption=t.local("assumption", required=False)))
        t.done()
    _unique(top, "labs", [lab.key for lab in labs], "key")

    allocation_table = top.table("allocation")
    assert allocation_table is not None
    allocation = _allocation(allocation_table, arm_codes, {a.key: a for a in anchors})

    target = top.integer("target_enrollment", required=False, minimum=1,
                         maximum=MAX_TARGET_ENROLLMENT)
    study = Study(
        key=key,
        registration=top.string("registration", required=False),
        title=top.local_text("title"),
        short_title=top.local_text("short_title"),
        sponsor=top.local_text("sponsor"),
        design=top.local_text("design"),
        study_type=cast(Any, top.choice(
            "study_type", ("interventional", "observational", "retrospective"))),
        target_enrollment=target,
        condition=top.local_text("condition"),
        summary=top.local_text("summary"),
        source=top.text("source"),
        primary_response_criterion=cast(Any, primary),
        arms=tuple(arms), allocation=allocation, criteria=tuple(criteria),
        anchors=tuple(anchors), visits=tuple(visits), endpoints=tuple(endpoints),
        timing_rules=tuple(timing_rules),
        assumptions=top.local_strings("assumptions", required=False),
        labs=tuple(labs),
        path=file,
        treatment_rules=tuple(treatment_rules),
        response=response,
        covariates=covariates,
        analysis=analysis,
        text=text,
        digest=text_digest(text),
    )
    top.done()
    if not study.criteria:
        raise top.error("criteria", _("a study needs at least one criterion"))
    return study


def load_study(path: Path) -> Study:
    """Load and validate one protocol file (never from the cache); :class:`ProtocolError`
    names the file and key on any problem."""
    return study_from_bytes(read_protocol(path), path.name)


def study_from_bytes(data: bytes, file: str) -> Study:
    """Validate a protocol file's bytes (read as :meth:`Path.read_text` reads the file);
    ``file`` names it in errors."""
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        raise ProtocolError(file, "(file)", str(exc)) from exc
    return parse_study(text, file)


__all__ = ["MAX_FILE_BYTES", "SEEDS_DIR", "LoadResult", "ProtocolError", "load_studies",
           "load_study", "parse_study", "study_from_bytes", "text_digest"]

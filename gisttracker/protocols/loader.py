"""Load and validate study protocol files (``seeds/*.toml``, read with :mod:`tomllib`).

Every table is read through :class:`_Table`, which knows the file and the dotted key it is
reading, so any problem — an unknown key, a missing field, a wrong type, a reference to an
arm, anchor, field or assessment that does not exist — raises :class:`ProtocolError`
naming both. :func:`load_studies` loads a directory and keeps going past a broken file:
the good studies load, and the broken file is reported.

A site changes a protocol without touching code by placing its own copy of a file (same
``key``) in the site's protocol directory; that copy replaces the shipped one.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from gisttracker import resources
from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.protocols.catalogue import ASSESSMENTS, LAB_FIELDS, SCREENING_FIELDS, STRATA
from gisttracker.protocols.model import (
    Allocation,
    Anchor,
    Arm,
    ArmOption,
    Criterion,
    DurationGroup,
    Endpoint,
    Intervention,
    LabAnalyteSpec,
    Period,
    Rule,
    Study,
    TimingRule,
    Visit,
)

SCHEMA_VERSION = 1
MAX_REPEAT = 1000  # repetitions of one [[visits]] entry: a typo must not hang start-up
SEEDS_DIR = resources.seeds_dir()
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class ProtocolError(UserError):
    """A protocol file cannot be used. ``file`` and ``key`` say where."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(f"{file}: {key}: {message}")


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_studies` found: the studies that loaded and the files that did not."""

    studies: tuple[Study, ...]
    errors: tuple[ProtocolError, ...]


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
        return value.strip()

    def text(self, name: str) -> str:
        value = self.string(name)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = True,
                minimum: int | None = None) -> int | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, _("expected a whole number"))
        if minimum is not None and value < minimum:
            raise self.error(name, _("must be at least {minimum}").format(minimum=minimum))
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(name, _("expected true or false"))
        return value

    def items(self, name: str, *, required: bool = True) -> list[Any]:
        value = self._get(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(name, _("expected a list"))
        return value

    def strings(self, name: str, *, required: bool = True) -> tuple[str, ...]:
        items = self.items(name, required=required)
        if not all(isinstance(item, str) for item in items):
            raise self.error(name, _("expected a list of text"))
        return tuple(items)

    def tables(self, name: str, *, required: bool = True) -> list[_Table]:
        items = self.items(name, required=required)
        return [_Table(self.file, f"{self.key(name)}[{i}]", item) for i, item in enumerate(items)]

    def table(self, name: str, *, required: bool = True) -> _Table | None:
        value = self._get(name, required)
        if value is None:
            return None
        return _Table(self.file, self.key(name), value)

    def period(self, name: str, *, required: bool = True) -> Period | None:
        table = self.table(name, required=required)
        if table is None:
            return None
        months = table.integer("months", required=False) or 0
        weeks = table.integer("weeks", required=False) or 0
        days = table.integer("days", required=False) or 0
        table.done()
        return Period(months=months, weeks=weeks, days=days)

    def choice(self, name: str, allowed: Iterable[str], *, required: bool = True) -> str | None:
        value = self.string(name, required=required)
        allowed = tuple(allowed)
        if value is not None and value not in allowed:
            raise self.error(
                name,
                _("{value!r} is not one of {allowed}").format(
                    value=value, allowed=", ".join(allowed)
                ),
            )
        return value

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt key must not be silently ignored."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], _("unknown key"))


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
            factor = table._get(limit, True)
            if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
                raise table.error(limit, _("expected a positive multiple of the limit"))
            table.done()
            return Rule(op=op, field=field_key, factor=float(factor),
                        limit=cast(Any, limit), unit=unit)
    value = table._get("value", True)
    if spec.kind == "bool" and not isinstance(value, bool):
        raise table.error("value", _("{field} is true or false").format(field=field_key))
    if spec.kind in ("number", "integer", "lab") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise table.error("value", _("{field} is a number").format(field=field_key))
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
            name=item.text("name"),
            dose=item.string("dose", required=False),
            schedule=item.string("schedule", required=False),
            assumption=item.string("assumption", required=False),
        ))
        item.done()
    options = []
    for item in table.tables("options", required=False):
        dose = item._get("dose_mg_per_day", True)
        if isinstance(dose, bool) or not isinstance(dose, int | float) or dose <= 0:
            raise item.error("dose_mg_per_day", _("expected a positive dose in mg/day"))
        options.append(ArmOption(code=item.text("code"), label=item.text("label"),
                                 drug=item.text("drug"), dose_mg_per_day=float(dose)))
        item.done()
    arm = Arm(code=table.text("code"), name=table.text("name"),
              description=table.string("description", required=False) or "",
              interventions=tuple(interventions), options=tuple(options))
    table.done()
    return arm


def _visit_name(table: _Table, name: str, number: int, offset: Period) -> str:
    """``name`` with ``{n}``, ``{offset}``, ``{months}`` filled in; other braces are errors."""
    try:
        return name.format(n=number, offset=offset.describe(), months=offset.months)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
        raise table.error("name", _(
            "{name!r} is not a valid visit name ({problem}); the placeholders are {{n}}, "
            "{{offset}} and {{months}}, and a literal brace is written {{{{ or }}}}"
        ).format(name=name, problem=exc)) from exc


def _is_negative(period: Period) -> bool:
    return period.months < 0 or period.weeks < 0 or period.days < 0


def _visits(table: _Table, anchors: list[str]) -> list[Visit]:
    """One ``[[visits]]`` entry; with ``repeat`` it expands to a visit per repetition."""
    key = table.text("key")
    name = table.text("name")
    anchor = table.choice("anchor", anchors)
    assert anchor is not None
    offset = table.period("offset")
    before = table.period("window_before")
    after = table.period("window_after")
    assert offset is not None and before is not None and after is not None
    for window_key, window in (("window_before", before), ("window_after", after)):
        if _is_negative(window):
            raise table.error(window_key, _("a visit window cannot be negative"))
    assessments = table.strings("assessments")
    for assessment in assessments:
        if assessment not in ASSESSMENTS:
            raise table.error("assessments", _("unknown assessment {name!r}").format(
                name=assessment))
    required = table.boolean("required", True)
    assumption = table.string("assumption", required=False)
    until = table.choice("until", [a for a in anchors if a != anchor], required=False)
    abstraction = table.boolean("abstraction", False)
    repeat = table.table("repeat", required=False)
    table.done()
    if repeat is None:
        return [Visit(key, _visit_name(table, name, 1, offset), anchor, offset, before, after,
                      assessments, required, assumption, until, abstraction)]
    every = repeat.period("every")
    count = repeat.integer("count", minimum=1)
    repeat.done()
    assert every is not None and count is not None
    if every == Period() or _is_negative(every):
        raise repeat.error("every", _("a repeat interval must be longer than zero"))
    if count > MAX_REPEAT:
        raise repeat.error("count", _("at most {maximum} repetitions").format(
            maximum=MAX_REPEAT))
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


def _allocation(table: _Table, arm_codes: set[str]) -> Allocation:
    method = table.choice(
        "method", ("randomized", "single_arm", "treatment_received", "derived_duration"))
    block_sizes = tuple(table.items("block_sizes", required=method == "randomized"))
    strata = table.strings("strata", required=method == "randomized")
    ratio = tuple(table.items("ratio", required=False)) or tuple(1 for _a in arm_codes)
    for name, items in (("block_sizes", block_sizes), ("ratio", ratio)):
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
                raise table.error(name, _("expected positive whole numbers"))
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
    for stratum in strata:
        if stratum not in STRATA:
            raise table.error("strata", _("unknown stratification factor {name!r}").format(
                name=stratum))
    groups: list[DurationGroup] = []
    for item in table.tables("groups", required=method == "derived_duration"):
        arm = item.choice("arm", sorted(arm_codes))
        assert arm is not None
        max_months = item.integer("max_months", required=False, minimum=1)
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
    if method == "single_arm" and len(arm_codes) != 1:
        raise table.error("method", _("a single-arm study has exactly one arm"))
    allocation = Allocation(
        method=cast(Any, method), block_sizes=cast(tuple[int, ...], block_sizes),
        strata=strata, ratio=cast(tuple[int, ...], ratio), groups=tuple(groups),
        assumption=table.string("assumption", required=False),
    )
    table.done()
    return allocation


def _unique(table: _Table, name: str, keys: list[str], field: str) -> None:
    """Refuse a repeated ``field`` value among the ``name`` entries (the error names the entry)."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise table.error(f"{name}[{index}].{field}",
                              _("{key!r} is defined twice").format(key=key))
        seen.add(key)


def parse_study(text: str, file: str) -> Study:
    """Parse and validate one protocol file's text; ``file`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(file, "(syntax)", str(exc)) from exc
    top = _Table(file, "", data)
    schema = top.integer("schema")
    if schema != SCHEMA_VERSION:
        raise top.error("schema", _("this version reads schema {expected}, not {found}").format(
            expected=SCHEMA_VERSION, found=schema))

    arms = [_arm(t) for t in top.tables("arms")]
    if not arms:
        raise top.error("arms", _("a study needs at least one arm or group"))
    _unique(top, "arms", [a.code for a in arms], "code")
    arm_codes = {a.code for a in arms}

    anchors = []
    for t in top.tables("anchors"):
        anchors.append(Anchor(key=t.text("key"), label=t.text("label"),
                              source=cast(Any, t.choice("source", ("enrollment", "entered"))),
                              description=t.string("description", required=False) or ""))
        t.done()
    _unique(top, "anchors", [a.key for a in anchors], "key")
    anchor_keys = sorted({a.key for a in anchors})

    criteria = []
    for t in top.tables("criteria"):
        rule_table = t.table("rule", required=False)
        criteria.append(Criterion(
            id=t.text("id"), kind=cast(Any, t.choice("kind", ("inclusion", "exclusion"))),
            text=t.text("text"), rule=_rule(rule_table) if rule_table else None,
            short=t.string("short", required=False), note=t.string("note", required=False),
            assumption=t.string("assumption", required=False),
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

    endpoints = []
    for t in top.tables("endpoints"):
        endpoints.append(Endpoint(
            key=t.text("key"), name=t.text("name"),
            kind=cast(Any, t.choice("kind", ("primary", "secondary"))),
            horizon=cast(Period, t.period("horizon")), definition=t.text("definition"),
            measured_from=t.choice("measured_from", anchor_keys, required=False),
        ))
        t.done()
    _unique(top, "endpoints", [e.key for e in endpoints], "key")

    timing_rules = []
    for t in top.tables("timing_rules", required=False):
        rule = TimingRule(
            key=t.text("key"), description=t.text("description"),
            start=cast(str, t.choice("start", anchor_keys)),
            end=cast(str, t.choice("end", anchor_keys)),
            min=t.period("min", required=False), max=t.period("max", required=False),
        )
        if rule.min is None and rule.max is None:
            raise t.error("max", _("a timing rule needs min or max"))
        timing_rules.append(rule)
        t.done()

    labs = []
    for t in top.tables("labs", required=False):
        key = t.text("key")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise t.error("key", _("use lower-case letters, digits and _ (e.g. albumin)"))
        if key in LAB_FIELDS:
            raise t.error("key", _("{key!r} is already a laboratory value of every study").format(
                key=key))
        labs.append(LabAnalyteSpec(key=key, label=t.text("label"), unit=t.text("unit"),
                                   assumption=t.string("assumption", required=False)))
        t.done()
    _unique(top, "labs", [lab.key for lab in labs], "key")

    allocation_table = top.table("allocation")
    assert allocation_table is not None
    allocation = _allocation(allocation_table, arm_codes)

    target = top.integer("target_enrollment", required=False, minimum=1)
    study = Study(
        key=top.text("key"),
        registration=top.string("registration", required=False),
        title=top.text("title"),
        short_title=top.text("short_title"),
        sponsor=top.text("sponsor"),
        design=top.text("design"),
        study_type=cast(Any, top.choice(
            "study_type", ("interventional", "observational", "retrospective"))),
        target_enrollment=target,
        condition=top.text("condition"),
        summary=top.text("summary"),
        source=top.text("source"),
        primary_response_criterion=cast(Any, top.choice(
            "primary_response_criterion", ("recist", "choi"), required=False)),
        arms=tuple(arms), allocation=allocation, criteria=tuple(criteria),
        anchors=tuple(anchors), visits=tuple(visits), endpoints=tuple(endpoints),
        timing_rules=tuple(timing_rules),
        assumptions=top.strings("assumptions", required=False),
        labs=tuple(labs),
        path=file,
    )
    top.done()
    if not study.criteria:
        raise top.error("criteria", _("a study needs at least one criterion"))
    return study


def load_study(path: Path) -> Study:
    """Load one protocol file; :class:`ProtocolError` names the file and key on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(path.name, "(file)", str(exc)) from exc
    return parse_study(text, path.name)


def load_studies(*directories: Path) -> LoadResult:
    """Load every ``*.toml`` in ``directories`` (default: the shipped ``seeds/``).

    A later directory's study replaces an earlier one with the same key (site overrides).
    A broken file is reported in ``errors`` and does not stop the others.
    """
    studies: dict[str, Study] = {}
    errors: list[ProtocolError] = []
    for directory in directories or (SEEDS_DIR,):
        if not directory.is_dir():
            continue
        in_this_directory: dict[str, str] = {}
        for path in sorted(directory.glob("*.toml")):
            try:
                study = load_study(path)
            except ProtocolError as exc:
                errors.append(exc)
                continue
            if study.key in in_this_directory:
                errors.append(ProtocolError(path.name, "key", _(
                    "study {key!r} is already defined by {other} in the same directory"
                ).format(key=study.key, other=in_this_directory[study.key])))
                continue
            in_this_directory[study.key] = path.name
            studies[study.key] = study
    return LoadResult(tuple(studies.values()), tuple(errors))

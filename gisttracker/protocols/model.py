"""The study protocol as immutable data: what the loader builds from a ``seeds/*.toml`` file.

Every other part of the core (eligibility, allocation, schedules, endpoints, reports) reads a
:class:`Study` and never the TOML itself, so the file format can change in one place.

Conventions: offsets and windows are calendar periods (months are calendar months, clipped
to the month's end by :mod:`dateutil.relativedelta`); sizes in cm; laboratory values in the
units the criterion names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from dateutil.relativedelta import relativedelta

CriterionKind = Literal["inclusion", "exclusion"]
AllocationMethod = Literal["randomized", "single_arm", "treatment_received", "derived_duration"]


@dataclass(frozen=True)
class Period:
    """A calendar period: ``months`` calendar months, then ``weeks`` and ``days``."""

    months: int = 0
    weeks: int = 0
    days: int = 0

    def after(self, start: date) -> date:
        """The date this period after ``start`` (31 Jan + 1 month = 28/29 Feb)."""
        return start + relativedelta(months=self.months, weeks=self.weeks, days=self.days)

    def before(self, start: date) -> date:
        """The date this period before ``start``."""
        return start - relativedelta(months=self.months, weeks=self.weeks, days=self.days)

    def scaled(self, k: int) -> Period:
        """This period ``k`` times over (used to expand repeating visits from the anchor)."""
        return Period(self.months * k, self.weeks * k, self.days * k)

    def describe(self) -> str:
        """Short English text such as ``3 months`` or ``1 week 2 days`` (for summaries)."""
        parts = []
        for amount, unit in ((self.months, "month"), (self.weeks, "week"), (self.days, "day")):
            if amount:
                parts.append(f"{amount} {unit}{'s' if abs(amount) != 1 else ''}")
        return " ".join(parts) or "0 days"


@dataclass(frozen=True)
class Intervention:
    """One intervention of an arm: a drug with its dose, or a procedure."""

    type: Literal["drug", "procedure"]
    name: str
    dose: str | None = None
    schedule: str | None = None
    assumption: str | None = None


@dataclass(frozen=True)
class ArmOption:
    """A choice recorded within an arm (NCT03862768 arm B: imatinib 600 or sunitinib 37.5)."""

    code: str
    label: str
    drug: str
    dose_mg_per_day: float


@dataclass(frozen=True)
class Arm:
    """An arm (interventional) or a group (observational / retrospective cohort)."""

    code: str
    name: str
    description: str
    interventions: tuple[Intervention, ...] = ()
    options: tuple[ArmOption, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A machine-checkable condition over screening facts.

    ``op`` is one of ``all``, ``any``, ``not`` (with ``rules``), or a comparison
    (``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``) of ``field`` against ``value``, or against
    ``factor`` times the patient's ``limit`` (``"uln"`` or ``"lln"``) for laboratory fields,
    or ``in`` (``field`` is one of ``values``).
    """

    op: str
    field: str | None = None
    value: float | bool | str | None = None
    values: tuple[str, ...] = ()
    factor: float | None = None
    limit: Literal["uln", "lln"] | None = None
    unit: str | None = None
    rules: tuple[Rule, ...] = ()

    def fields(self) -> set[str]:
        """Every screening field this rule reads."""
        out = {self.field} if self.field else set()
        for sub in self.rules:
            out |= sub.fields()
        return out


@dataclass(frozen=True)
class Criterion:
    """An eligibility criterion: the registered text, and a rule where it is computable.

    For an exclusion criterion the rule describes the excluding condition: when it holds,
    the patient is excluded. A criterion without a rule is a judgement the user records.
    """

    id: str
    kind: CriterionKind
    text: str
    rule: Rule | None = None
    short: str | None = None
    note: str | None = None
    assumption: str | None = None


@dataclass(frozen=True)
class Anchor:
    """A date schedules count from. ``source`` says where it comes from."""

    key: str
    label: str
    source: Literal["enrollment", "entered"]
    description: str = ""


@dataclass(frozen=True)
class Visit:
    """A planned visit: target = anchor + offset; window = [target - before, target + after]."""

    key: str
    name: str
    anchor: str
    offset: Period
    window_before: Period
    window_after: Period
    assessments: tuple[str, ...]
    required: bool = True
    assumption: str | None = None
    #: An anchor that ends this visit: once that anchor's date is known, the visit is not
    #: applicable if its window would open after it (RECTAL-LE: the optional preoperative
    #: visits end at the surgery).
    until: str | None = None
    #: A point at which data are abstracted from records (a retrospective study), not a
    #: visit the patient comes to: never due or overdue, shown as "to abstract".
    abstraction: bool = False

    def target(self, anchor_date: date) -> date:
        """Planned date, always computed from the anchor (never from the previous visit)."""
        return self.offset.after(anchor_date)

    def window(self, anchor_date: date) -> tuple[date, date]:
        """First and last day (inclusive) on which the visit counts as in window."""
        target = self.target(anchor_date)
        return self.window_before.before(target), self.window_after.after(target)


@dataclass(frozen=True)
class Endpoint:
    """An outcome measure with its time horizon and the anchor it is measured from."""

    key: str
    name: str
    kind: Literal["primary", "secondary"]
    horizon: Period
    definition: str
    measured_from: str | None = None


@dataclass(frozen=True)
class TimingRule:
    """A protocol limit on the time between two anchor dates, e.g. surgery within 7 days."""

    key: str
    description: str
    start: str
    end: str
    min: Period | None = None
    max: Period | None = None


@dataclass(frozen=True)
class DurationGroup:
    """A derived group of the retrospective cohort: preoperative imatinib up to ``max_months``."""

    arm: str
    max_months: int | None


@dataclass(frozen=True)
class LabAnalyteSpec:
    """A laboratory value a protocol adds to the seven the application knows (ANC, platelets,
    haemoglobin, ALT, AST, bilirubin, creatinine). Recorded in its one ``unit``, with the
    site's reference range; it has no CTCAE grade."""

    key: str
    label: str
    unit: str
    assumption: str | None = None


@dataclass(frozen=True)
class Allocation:
    """How a patient's arm is decided."""

    method: AllocationMethod
    block_sizes: tuple[int, ...] = ()
    strata: tuple[str, ...] = ()
    ratio: tuple[int, ...] = ()
    groups: tuple[DurationGroup, ...] = ()
    assumption: str | None = None


@dataclass(frozen=True)
class Study:
    """One study protocol, validated."""

    key: str
    registration: str | None
    title: str
    short_title: str
    sponsor: str
    design: str
    study_type: Literal["interventional", "observational", "retrospective"]
    target_enrollment: int | None
    condition: str
    summary: str
    source: str
    primary_response_criterion: Literal["recist", "choi"] | None
    arms: tuple[Arm, ...]
    allocation: Allocation
    criteria: tuple[Criterion, ...]
    anchors: tuple[Anchor, ...]
    visits: tuple[Visit, ...]
    endpoints: tuple[Endpoint, ...]
    timing_rules: tuple[TimingRule, ...] = ()
    assumptions: tuple[str, ...] = field(default=())
    labs: tuple[LabAnalyteSpec, ...] = ()
    path: str = ""

    def arm(self, code: str) -> Arm:
        """The arm with ``code``; KeyError if the study has none."""
        for arm in self.arms:
            if arm.code == code:
                return arm
        raise KeyError(code)

    def anchor(self, key: str) -> Anchor:
        """The anchor with ``key``; KeyError if the study has none."""
        for anchor in self.anchors:
            if anchor.key == key:
                return anchor
        raise KeyError(key)

    @property
    def inclusion(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.kind == "inclusion")

    @property
    def exclusion(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.kind == "exclusion")

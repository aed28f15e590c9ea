"""The study protocol as immutable data: what the loader builds from a ``seeds/*.toml`` file.

Every other part of the core (eligibility, allocation, schedules, endpoints, reports) reads a
:class:`Study` and never the TOML itself, so the file format can change in one place.

Conventions: offsets and windows are calendar periods (months are calendar months, clipped
to the month's end by :mod:`dateutil.relativedelta`); sizes in cm; laboratory values in the
units the criterion names.

Text a person reads (titles, arm names, criteria, visit names, anchor labels, endpoints,
notes, assumptions) is a :class:`~gisttracker.i18n.LocalText` when the loader built it: the
English text, with the translations the file gives (``title_zh_CN``). Show it with
:func:`gisttracker.i18n.local`; store and compare it as the plain (English) string.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from gisttracker import i18n
from gisttracker.protocols.record import Record, field

if TYPE_CHECKING:
    from dateutil.relativedelta import relativedelta

CriterionKind = Literal["inclusion", "exclusion"]
AllocationMethod = Literal["randomized", "single_arm", "treatment_received", "derived_duration"]
AnchorRecord = Literal["first_dose", "last_dose", "first_surgery"]
EndpointType = Literal["time_to_event", "proportion", "repeated_measure", "descriptive"]
ResponseCriterion = Literal["recist", "choi"]


def _months(months: int, weeks: int, days: int) -> relativedelta:
    """A calendar period as :mod:`dateutil` adds it (imported when a period with months is
    first added: reading the protocols does not need it)."""
    from dateutil.relativedelta import relativedelta

    return relativedelta(months=months, weeks=weeks, days=days)


class Period(Record):
    """A calendar period: ``months`` calendar months, then ``weeks`` and ``days``."""

    months: int = 0
    weeks: int = 0
    days: int = 0

    def after(self, start: date) -> date:
        """The date this period after ``start`` (31 Jan + 1 month = 28/29 Feb)."""
        if not self.months:
            # Without months relativedelta adds whole days: the same date, at a fraction of
            # its cost (paid per patient when a study's best responses are judged).
            return start + timedelta(weeks=self.weeks, days=self.days)
        return start + _months(self.months, self.weeks, self.days)

    def before(self, start: date) -> date:
        """The date this period before ``start``."""
        return start - _months(self.months, self.weeks, self.days)

    def scaled(self, k: int) -> Period:
        """This period ``k`` times over (used to expand repeating visits from the anchor)."""
        return Period(self.months * k, self.weeks * k, self.days * k)

    @property
    def is_zero(self) -> bool:
        return not (self.months or self.weeks or self.days)

    def describe(self, language: str | None = None) -> str:
        """The period in words, e.g. ``3 months`` or ``1 week 2 days`` (``3个月``), in
        ``language`` (default: the installed one)."""
        tr = i18n.catalogue(language) if language else None

        # Named like the marker functions so that the extractor finds the strings below.
        def ngettext(singular: str, plural: str, n: int) -> str:
            return (tr.ngettext if tr else i18n.ngettext)(singular, plural, n).format(n=n)

        def _(message: str) -> str:
            return tr.gettext(message) if tr else i18n._(message)

        parts = []
        if self.months:
            parts.append(ngettext("{n} month", "{n} months", self.months))
        if self.weeks:
            parts.append(ngettext("{n} week", "{n} weeks", self.weeks))
        if self.days or not parts:
            parts.append(ngettext("{n} day", "{n} days", self.days))
        text = parts[0]
        for part in parts[1:]:
            # TRANSLATORS: a period of mixed units, larger first: "1 month 2 weeks".
            text = _("{period} {more}").format(period=text, more=part)
        return text


class VisitName(i18n.LocalText):
    """A visit name whose other languages are filled in when first read.

    Filling in ``{offset}`` in words of a language needs that language's catalogue, and
    reading a catalogue costs about 16 ms: every start in English paid it for Chinese visit
    names nobody had asked to see yet. The loader checks the templates when it reads the
    file, so filling them in later cannot fail. Pickled as its templates (not as filled-in
    text), so a cached protocol (:mod:`gisttracker.protocols.cache`) takes up a changed
    translation catalogue exactly as a freshly read one does.
    """

    def __new__(cls, source: str, templates: Mapping[str, str], number: int,
                offset: Period) -> VisitName:
        obj = str.__new__(cls, source)
        obj.__dict__["_fill"] = (dict(templates), number, offset)
        return obj

    @property
    def translations(self) -> dict[str, str]:
        filled = self.__dict__.get("_filled")
        if filled is None:
            templates, number, offset = self.__dict__["_fill"]
            filled = {
                language: text.format(n=number, offset=offset.describe(language),
                                      months=offset.months)
                for language, text in templates.items()}
            self.__dict__["_filled"] = filled
        return filled

    @translations.setter
    def translations(self, value: dict[str, str]) -> None:
        self.__dict__["_filled"] = dict(value)

    def __reduce__(self) -> tuple[type[VisitName], tuple[str, dict[str, str], int, Period]]:  # type: ignore[override]
        templates, number, offset = self.__dict__["_fill"]
        return VisitName, (str(self), templates, number, offset)


class Intervention(Record):
    """One intervention of an arm: a drug with its dose, or a procedure."""

    type: Literal["drug", "procedure"]
    name: str
    dose: str | None = None
    schedule: str | None = None
    assumption: str | None = None


class ArmOption(Record):
    """A choice recorded within an arm (NCT03862768 arm B: imatinib 600 or sunitinib 37.5)."""

    code: str
    label: str
    drug: str
    dose_mg_per_day: float


class Arm(Record):
    """An arm (interventional) or a group (observational / retrospective cohort)."""

    code: str
    name: str
    description: str
    interventions: tuple[Intervention, ...] = ()
    options: tuple[ArmOption, ...] = ()


class Rule(Record):
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


class Criterion(Record):
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


class AnchorSource(Record):
    """Where an entered anchor date follows the recorded course from (``set_by``).

    ``first_dose`` / ``last_dose``: the first (last) dose day of the exposures to ``drug``
    in ``phase`` (None: any); ``first_surgery``: the date of the first surgery, or of the
    first one whose procedure is one of ``procedures`` when they are given. The date moves
    when the course data are entered or corrected (audited, the visits replan).
    """

    record: AnchorRecord
    drug: str | None = None
    phase: str | None = None
    procedures: tuple[str, ...] = ()


class Anchor(Record):
    """A date schedules count from. ``source`` says where it comes from; an entered anchor
    with ``set_by`` follows the recorded treatment or surgery."""

    key: str
    label: str
    source: Literal["enrollment", "entered"]
    description: str = ""
    set_by: AnchorSource | None = None


class Visit(Record):
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


class Endpoint(Record):
    """An outcome measure, declared precisely enough to compute it.

    ``kind`` is its role (primary or secondary); ``type`` what it is:

    * ``time_to_event``: time from the ``measured_from`` anchor (the origin) to the first of
      ``events`` (course event kinds; ``progression`` includes progression on imaging by
      the response criterion), censored at the last contact or the last tumour assessment
      (``censor``) and at ``horizon``; ``competing`` events end follow-up without being the
      event (death before a local recurrence);
    * ``proportion``: the share of patients meeting ``measure`` (objective response by
      ``criterion`` within ``horizon``, R0 resection, organ preservation at ``horizon``);
    * ``repeated_measure``: the scores of ``instruments`` (form kinds) at ``visits``;
    * ``descriptive``: a value per patient (``measure``: tumour diameter, pathological
      response grade, treatment duration of ``drug`` in ``phase``).

    ``type`` None: declared in words only (an older file); not computed.

    A ``proportion`` of ``pathological_response`` counts the patients whose recorded
    pathological response grade is one of ``grades`` (high-grade response).
    """

    key: str
    name: str
    kind: Literal["primary", "secondary"]
    horizon: Period
    definition: str
    measured_from: str | None = None
    type: EndpointType | None = None
    events: tuple[str, ...] = ()
    competing: tuple[str, ...] = ()
    censor: Literal["last_contact", "last_tumour_assessment"] | None = None
    measure: str | None = None
    criterion: ResponseCriterion | None = None
    instruments: tuple[str, ...] = ()
    visits: tuple[str, ...] = ()
    drug: str | None = None
    phase: str | None = None
    #: ``pathological_response`` proportions: the recorded grades that count as a success
    #: (compared without regard to case or surrounding blanks).
    grades: tuple[str, ...] = ()


class Covariate(Record):
    """A patient characteristic that a protocol's models and subgroup analyses use.

    Its value comes from one recorded ``fact`` (a key of
    :data:`gisttracker.protocols.catalogue.COVARIATE_FACTS`: age, primary site, mutation…)
    or from the patient's result for an ``endpoint`` (a proportion: responded or not; a
    treatment duration: months). With ``values`` it is yes/no (the fact is one of them);
    with ``at_most``/``at_least`` it is yes/no (the number is within the bound, inclusive);
    otherwise a number stays a number and a text is a factor whose reference level is
    ``reference`` (default: the first in sorted order, as R does). ``kind`` is what the
    loader made of it: ``binary`` (yes/no), ``number`` or ``factor``.
    """

    key: str
    name: str
    kind: Literal["binary", "number", "factor"] = "number"
    fact: str | None = None
    endpoint: str | None = None
    values: tuple[str, ...] = ()
    at_most: float | None = None
    at_least: float | None = None
    reference: str | None = None
    assumption: str | None = None

    @property
    def binary(self) -> bool:
        """Whether the covariate is yes/no (what a subgroup analysis splits on)."""
        return self.kind == "binary"


class AnalysisPlan(Record):
    """How a study's endpoints are compared (``[analysis]``; every part optional).

    ``reference_group``: the arm or group each other is compared with (log-rank against the
    reference, the reference level of the group in Cox models; default: the first arm).
    ``model``: the terms of the multivariable Cox model of each time-to-event endpoint
    (``group`` is the group of analysis, the others are covariate keys); each term is also
    fitted alone (univariate). ``subgroups``: yes/no covariates within each level of which
    the groups are compared again (stratified analysis). ``landmark_months``: the times, in
    months from the origin, survival is read at (default 12, 36 and 60, as far as an
    endpoint's horizon).
    """

    reference_group: str | None = None
    model: tuple[str, ...] = ()
    subgroups: tuple[str, ...] = ()
    landmark_months: tuple[int, ...] = ()
    assumption: str | None = None


class TimingRule(Record):
    """A protocol limit on the time between two anchor dates, e.g. surgery within 7 days."""

    key: str
    description: str
    start: str
    end: str
    min: Period | None = None
    max: Period | None = None


class TreatmentRule(Record):
    """A protocol limit on the length of a treatment phase, e.g. adjuvant imatinib for at
    most 36 months: first to last dose day of ``drug`` in ``phase``, calendar periods."""

    key: str
    description: str
    drug: str
    phase: str
    min: Period | None = None
    max: Period | None = None


class ResponseRules(Record):
    """How the best overall response is judged (RECIST 1.1 §4.4, also applied to Choi).

    ``start``: the anchor the minimum duration of stable disease counts from (the start of
    treatment); ``sd_min``: that minimum (a time point of SD earlier than ``start +
    sd_min`` does not make SD the best response); ``confirm``: CR and PR count only when a
    later assessment at least ``confirm_after`` later confirms them.
    """

    start: str
    sd_min: Period
    confirm: bool = False
    confirm_after: Period | None = None


class GroupRule(Record):
    """One rule of a group derived from the treatment received: a patient who received any
    of ``procedures`` is in ``arm``; rules are tried in order, and the last one, without
    procedures, takes everybody else."""

    arm: str
    procedures: tuple[str, ...] = ()


class DurationSpan(Record):
    """The two anchors whose distance places a patient in a duration group."""

    start: str
    end: str


class DurationGroup(Record):
    """A derived group of the retrospective cohort: preoperative imatinib up to ``max_months``."""

    arm: str
    max_months: int | None


class LabAnalyteSpec(Record):
    """A laboratory value a protocol adds to the seven the application knows (ANC, platelets,
    haemoglobin, ALT, AST, bilirubin, creatinine). Recorded in its one ``unit``, with the
    site's reference range; it has no CTCAE grade."""

    key: str
    label: str
    unit: str
    assumption: str | None = None


class Allocation(Record):
    """How a patient's arm is decided."""

    method: AllocationMethod
    block_sizes: tuple[int, ...] = ()
    strata: tuple[str, ...] = ()
    ratio: tuple[int, ...] = ()
    groups: tuple[DurationGroup, ...] = ()
    assumption: str | None = None
    duration: DurationSpan | None = None
    rules: tuple[GroupRule, ...] = ()

    @property
    def group_procedures(self) -> tuple[str, ...]:
        """Every procedure a group rule names, in rule order (what to ask at enrollment)."""
        return tuple(dict.fromkeys(p for rule in self.rules for p in rule.procedures))


class Study(Record):
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
    treatment_rules: tuple[TreatmentRule, ...] = ()
    response: ResponseRules | None = None
    covariates: tuple[Covariate, ...] = ()
    analysis: AnalysisPlan = field(default_factory=AnalysisPlan)
    #: The file's text and its SHA-256 (hex): the protocol version data are captured under.
    text: str = field(default="", repr=False, compare=False)
    digest: str = ""

    def arm(self, code: str) -> Arm:
        """The arm with ``code``; KeyError if the study has none."""
        for arm in self.arms:
            if arm.code == code:
                return arm
        raise KeyError(code)

    @cached_property
    def _visits_by_key(self) -> dict[str, Visit]:
        return {v.key: v for v in self.visits}

    def visit_name(self, key: str | None, stored: str) -> str:
        """A stored visit's name for the reader: its protocol visit's name in the installed
        language, else ``stored`` (an unscheduled visit's own name, or a visit the protocol
        no longer has)."""
        visit = self._visits_by_key.get(key or "")
        return i18n.local(visit.name) if visit is not None else stored

    def covariate(self, key: str) -> Covariate:
        """The covariate with ``key``; KeyError if the study has none."""
        for covariate in self.covariates:
            if covariate.key == key:
                return covariate
        raise KeyError(key)

    def endpoint(self, key: str) -> Endpoint:
        """The endpoint with ``key``; KeyError if the study has none."""
        for endpoint in self.endpoints:
            if endpoint.key == key:
                return endpoint
        raise KeyError(key)

    @cached_property
    def enrollment_anchors(self) -> frozenset[str]:
        """The keys of the anchors whose date is the enrollment date."""
        return frozenset(a.key for a in self.anchors if a.source == "enrollment")

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

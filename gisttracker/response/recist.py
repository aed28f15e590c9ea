"""RECIST 1.1 tumour response.

Reference: Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in
solid tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247
(section 3 for measurability and target selection, section 4.3 for target / non-target
response, tables 1 and 2 for the time-point response, section 4.4 for the best overall
response; the minimum duration of SD and the confirmation of CR/PR are the protocol's,
:func:`best_response`).

Units: every diameter and every sum of diameters is in millimetres (mm): the longest
diameter of a non-nodal lesion, the short axis of a lymph node. Changes are in per cent.

Response codes:

* target lesions: ``"CR"``, ``"PR"``, ``"SD"``, ``"PD"``, ``"NE"`` (not all evaluated);
* non-target lesions: ``"CR"``, ``"NON-CR/NON-PD"``, ``"PD"``, ``"NE"``;
* time point (overall): ``"CR"``, ``"PR"``, ``"SD"``, ``"NON-CR/NON-PD"``, ``"PD"``, ``"NE"``.

``None`` for target or non-target means "no such disease at baseline".

Thresholds are compared with a tolerance of 1e-9 so that, say, 23.1 mm against a baseline
of 33 mm counts as the 30 % decrease it is, despite binary floating point.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, cast

from gisttracker.errors import InputError
from gisttracker.i18n import _, join_list
from gisttracker.protocols.model import Period

TargetResponse = Literal["CR", "PR", "SD", "PD"]
OverallResponse = Literal["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]

TARGET_CODES: Final = ("CR", "PR", "SD", "PD", "NE")
NON_TARGET_CODES: Final = ("CR", "NON-CR/NON-PD", "PD", "NE")
OVERALL_CODES: Final = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")

#: PR: at least this fractional decrease of the sum from the baseline sum.
PR_DECREASE: Final = 0.30
#: PD: at least this fractional increase of the sum over the nadir ...
PD_INCREASE: Final = 0.20
#: ... together with at least this absolute increase (mm).
PD_ABSOLUTE_MM: Final = 5.0

#: Default recorded for a target lesion "present but too small to measure" (section 4.3).
TOO_SMALL_TO_MEASURE_MM: Final = 5.0
#: At most this many target lesions in all ...
MAX_TARGETS: Final = 5
#: ... and at most this many per organ (all lymph nodes together count as one organ).
MAX_TARGETS_PER_ORGAN: Final = 2
#: A non-nodal lesion is measurable from this longest diameter (CT, slice ≤ 5 mm).
MIN_NON_NODAL_MM: Final = 10.0
#: A lymph node is measurable (pathological) from this short axis.
MIN_NODAL_SHORT_AXIS_MM: Final = 15.0
#: A target node counts as normal for CR when its short axis is below this.
NORMAL_NODE_MM: Final = 10.0
#: The organ under which every target lymph node is counted.
LYMPH_NODE_ORGAN: Final = "lymph node"

_EPS: Final = 1e-9

_BEST_ORDER: Final[dict[str, int]] = {
    "CR": 5, "PR": 4, "SD": 3, "NON-CR/NON-PD": 2, "PD": 1, "NE": 0,
}


def _num(value: float) -> str:
    return f"{value:g}"


def validate_mm(name: str, value: float) -> float:
    """Return ``value`` if it is a finite length ≥ 0 mm; else raise InputError naming ``name``."""
    if not math.isfinite(value):
        raise InputError(_("{name} must be a finite number, got {value}").format(
            name=name, value=value))
    if value < 0:
        raise InputError(_("{name} must be ≥ 0, got {value}").format(
            name=name, value=_num(value)))
    return value


def _validate_code(name: str, value: str, codes: Sequence[str]) -> str:
    if value not in codes:
        raise InputError(_("{name} must be one of {choices}, got {value!r}").format(
            name=name, choices=join_list(codes), value=value))
    return value


def _at_least(value: float, threshold: float) -> bool:
    return value >= threshold - _EPS


def target_response(baseline_mm: float, nadir_mm: float, current_mm: float, *,
                    complete: bool = False) -> TargetResponse:
    """Response of the target lesions at one assessment (RECIST 1.1 section 4.3.1).

    ``baseline_mm`` is the baseline sum of diameters (> 0). ``nadir_mm`` is the smallest sum
    of diameters recorded *before* this assessment, baseline included (so it is at most the
    baseline sum; the assessment being judged is not part of it). ``current_mm`` is the sum
    now. ``complete`` says that every non-nodal target has disappeared and every target node
    has a short axis < 10 mm.

    Rules, applied in this order:

    * CR when ``complete``, whatever the sum (target nodes below 10 mm still add their short
      axes, so the sum of a CR need not be zero);
    * PD when the sum has grown by ≥ 20 % over the nadir *and* by ≥ 5 mm in absolute terms
      (a nadir of 0 mm makes any growth of ≥ 5 mm PD); PD is checked before PR, so a sum that
      is 30 % below baseline but 20 % and 5 mm above the nadir is PD;
    * PR when the sum is ≥ 30 % below the baseline sum;
    * SD otherwise.

    Raises InputError for a negative or non-finite argument, a baseline of 0 mm (no target
    disease: use :func:`overall_response` with ``target=None``), or a nadir above baseline.
    """
    validate_mm("baseline_mm", baseline_mm)
    validate_mm("nadir_mm", nadir_mm)
    validate_mm("current_mm", current_mm)
    if baseline_mm == 0:
        raise InputError(_("baseline_mm must be > 0, got {value}").format(
            value=_num(baseline_mm)))
    if nadir_mm > baseline_mm:
        raise InputError(_("nadir_mm must not exceed baseline_mm ({baseline}), got {value}")
                         .format(baseline=_num(baseline_mm), value=_num(nadir_mm)))
    if complete:
        return "CR"
    growth_mm = current_mm - nadir_mm
    if _at_least(growth_mm, PD_ABSOLUTE_MM) and (
            nadir_mm == 0 or _at_least(growth_mm / nadir_mm, PD_INCREASE)):
        return "PD"
    if _at_least((baseline_mm - current_mm) / baseline_mm, PR_DECREASE):
        return "PR"
    return "SD"


def overall_response(target: str | None, non_target: str | None,
                     new_lesions: bool) -> OverallResponse:
    """Time-point response from RECIST 1.1 table 1 (target disease) or table 2 (none).

    Table 1, ``target`` given (``non_target=None`` means no non-target disease, i.e. the
    non-target column is "not applicable"):

    * CR target, CR (or no) non-target, no new lesion → CR
    * CR target, NON-CR/NON-PD non-target, no new lesion → PR
    * CR target, NE non-target, no new lesion → PR
    * PR target, non-PD (CR, NON-CR/NON-PD or none) or NE non-target, no new lesion → PR
    * SD target, non-PD or NE non-target, no new lesion → SD
    * NE target, non-PD or NE non-target, no new lesion → NE
    * PD target, any non-target, new lesion or not → PD
    * any target, PD non-target, new lesion or not → PD
    * any target, any non-target, new lesion → PD

    Table 2, ``target=None`` (non-target disease only): CR → CR; NON-CR/NON-PD →
    NON-CR/NON-PD; NE → NE; unequivocal PD → PD; any new lesion → PD.

    The combination "target NE, non-target NE" is not printed in table 1; it is NE.
    With neither target nor non-target disease a new lesion is still PD; without one there
    is nothing to evaluate and InputError is raised (a caller error, never a silent "NE").
    """
    if target is not None:
        _validate_code("target", target, TARGET_CODES)
    if non_target is not None:
        _validate_code("non_target", non_target, NON_TARGET_CODES)
    if new_lesions or target == "PD" or non_target == "PD":
        return "PD"
    if target is None:
        if non_target is None:
            raise InputError(_("no evaluable disease: target and non_target are both None "
                               "and there are no new lesions"))
        if non_target == "CR":
            return "CR"
        if non_target == "NON-CR/NON-PD":
            return "NON-CR/NON-PD"
        return "NE"
    if target == "CR":
        return "CR" if non_target in (None, "CR") else "PR"
    if target == "PR":
        return "PR"
    if target == "SD":
        return "SD"
    return "NE"


def best_overall_response(responses: Iterable[str]) -> OverallResponse:
    """Best overall response from time-point responses in date order (RECIST 1.1 §4.4.1),
    without dates: no minimum duration of SD and no confirmation.

    The best response recorded from the first assessment up to and including the first PD;
    responses after the first PD are ignored. The order is
    CR > PR > SD > NON-CR/NON-PD > PD > NE. An empty sequence (no assessment after
    baseline) gives "NE". A protocol that declares a minimum SD duration or confirmation
    uses :func:`best_response` instead.
    """
    best: OverallResponse = "NE"
    for index, response in enumerate(responses):
        code = _validate_code(f"responses[{index}]", response, OVERALL_CODES)
        if _BEST_ORDER[code] > _BEST_ORDER[best]:
            best = cast(OverallResponse, code)
        if code == "PD":
            break
    return best


def best_response(timepoints: Sequence[tuple[dt.date, str]], *, start: dt.date,
                  sd_min: Period | None = None, confirm_after: Period | None = None
                  ) -> OverallResponse:
    """Best overall response by RECIST 1.1 §4.4 with the protocol's rules (also used for
    Choi, whose codes are a subset).

    ``timepoints``: (assessment date, time-point response) after baseline, in any order;
    ``start``: the start of treatment (the protocol's ``[response] start`` anchor);
    ``sd_min``: the minimum duration of stable disease (RECIST 1.1 leaves it to the protocol,
    usually 6–8 weeks; None: no minimum); ``confirm_after``: None when CR/PR need no
    confirmation, else the shortest interval (usually 4 weeks) to the assessment that
    confirms them.

    Only the assessments up to and including the first PD count. Then:

    * CR: a CR (without confirmation), or a CR followed at least ``confirm_after`` later
      by another CR;
    * PR: a PR (without confirmation), or a PR followed at least ``confirm_after`` later by
      a PR or a CR (RECIST 1.1 table 3: PR then CR is PR; CR then PR is not);
    * SD: any CR, PR or SD dated at least ``sd_min`` after ``start`` (an unconfirmed
      response counts as SD once the minimum duration is met); NON-CR/NON-PD likewise for
      non-target disease only;
    * otherwise PD when the series reached a PD (an early SD followed by PD is PD, as in
      RECIST 1.1's examples), else NE (an early SD and nothing after it is not evaluable).
    """
    ordered = sorted(timepoints, key=lambda item: item[0])
    series: list[tuple[dt.date, str]] = []
    for index, (day, response) in enumerate(ordered):
        code = _validate_code(f"timepoints[{index}]", response, OVERALL_CODES)
        series.append((day, code))
        if code == "PD":
            break
    earliest_sd = sd_min.after(start) if sd_min is not None else dt.date.min
    candidates: list[str] = []
    for i, (day, code) in enumerate(series):
        later = [(d, c) for d, c in series[i + 1:]
                 if confirm_after is not None and d >= confirm_after.after(day)]
        if code == "CR" and (confirm_after is None or any(c == "CR" for _d, c in later)):
            candidates.append("CR")
        if code == "PR" and (confirm_after is None or any(c in ("PR", "CR") for _d, c in later)):
            candidates.append("PR")
        if day >= earliest_sd:
            if code in ("CR", "PR", "SD"):
                candidates.append("SD")
            elif code == "NON-CR/NON-PD":
                candidates.append("NON-CR/NON-PD")
    if candidates:
        return cast(OverallResponse, max(candidates, key=lambda c: _BEST_ORDER[c]))
    return "PD" if any(code == "PD" for _day, code in series) else "NE"


# --- lesions and target selection --------------------------------------------------------


@dataclass(frozen=True)
class Lesion:
    """A measured lesion: ``diameter_mm`` is the longest diameter, or the short axis for a
    lymph node (``is_node``)."""

    label: str
    organ: str
    diameter_mm: float
    is_node: bool = False

    def __post_init__(self) -> None:
        validate_mm("diameter_mm", self.diameter_mm)

    @property
    def organ_key(self) -> str:
        """The organ it counts under for the two-per-organ rule."""
        return LYMPH_NODE_ORGAN if self.is_node else self.organ.strip().casefold()


def too_small_to_measure(label: str, organ: str, *, is_node: bool = False) -> Lesion:
    """A target lesion present but too small to measure, recorded as 5 mm (RECIST 1.1 §4.3).

    A lesion believed to have disappeared is recorded as 0 mm instead, and one the
    radiologist can measure keeps its measurement even below 5 mm (:func:`recorded_diameter`).
    """
    return Lesion(label, organ, TOO_SMALL_TO_MEASURE_MM, is_node)


def recorded_diameter(diameter_mm: float | None, *, too_small: bool = False) -> float:
    """The diameter to enter in the sum for a follow-up measurement of a target lesion.

    An actual measurement always wins, even below 5 mm; without one, a lesion flagged
    "present but too small to measure" counts 5 mm. A missing measurement without that flag
    raises InputError: the target lesions are then not all evaluated (NE).
    """
    if diameter_mm is not None:
        return validate_mm("diameter_mm", diameter_mm)
    if too_small:
        return TOO_SMALL_TO_MEASURE_MM
    raise InputError(_("diameter_mm is missing and the lesion is not marked too small "
                       "to measure"))


def sum_of_diameters(lesions: Iterable[Lesion]) -> float:
    """Sum of the target diameters (mm): longest diameters plus nodal short axes."""
    return math.fsum(lesion.diameter_mm for lesion in lesions)


def targets_complete(lesions: Iterable[Lesion]) -> bool:
    """True when every non-nodal target measures 0 mm and every target node is < 10 mm."""
    return all(
        (lesion.diameter_mm < NORMAL_NODE_MM) if lesion.is_node else lesion.diameter_mm == 0
        for lesion in lesions)


def check_target_selection(lesions: Sequence[Lesion]) -> list[str]:
    """Problems with a baseline choice of target lesions (RECIST 1.1 §3.2); empty if fine.

    Checked: at most 5 targets; at most 2 per organ, all lymph nodes counting as the single
    organ "lymph node" and organ names compared without case or surrounding blanks; each
    non-nodal target ≥ 10 mm longest diameter; each nodal target ≥ 15 mm short axis; no two
    targets with the same label (compared the same way as organs). A lesion recorded as
    "too small to measure" (5 mm) is therefore never a valid target.
    """
    problems: list[str] = []
    if len(lesions) > MAX_TARGETS:
        problems.append(_("{count} target lesions selected; RECIST 1.1 allows at most {max}")
                        .format(count=len(lesions), max=MAX_TARGETS))
    organ_counts: dict[str, int] = {}
    organ_names: dict[str, str] = {}
    for lesion in lesions:
        key = lesion.organ_key
        organ_counts[key] = organ_counts.get(key, 0) + 1
        organ_names.setdefault(
            key, _("lymph node") if lesion.is_node else lesion.organ.strip())
    for key, count in organ_counts.items():
        if count > MAX_TARGETS_PER_ORGAN:
            problems.append(_("{count} target lesions in {organ}; at most {max} per organ "
                              "(all lymph nodes count as one organ)").format(
                count=count, organ=organ_names[key], max=MAX_TARGETS_PER_ORGAN))
    for lesion in lesions:
        if lesion.is_node and lesion.diameter_mm < MIN_NODAL_SHORT_AXIS_MM:
            problems.append(_("{label}: a target lymph node needs a short axis of at least "
                              "{min} mm, got {value} mm").format(
                label=lesion.label, min=_num(MIN_NODAL_SHORT_AXIS_MM),
                value=_num(lesion.diameter_mm)))
        elif not lesion.is_node and lesion.diameter_mm < MIN_NON_NODAL_MM:
            problems.append(_("{label}: a non-nodal target needs a longest diameter of at "
                              "least {min} mm, got {value} mm").format(
                label=lesion.label, min=_num(MIN_NON_NODAL_MM),
                value=_num(lesion.diameter_mm)))
    seen: dict[str, int] = {}
    for lesion in lesions:
        key = lesion.label.strip().casefold()
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            problems.append(_("label {label!r} is used by more than one target lesion")
                            .format(label=lesion.label.strip()))
    return problems


# --- a series of assessments -------------------------------------------------------------


@dataclass(frozen=True)
class Timepoint:
    """One tumour assessment of a series.

    ``target_sum_mm``: sum of target diameters (mm); at baseline ``None`` means no target
    disease, at follow-up ``None`` means the targets were not all evaluated (NE).
    ``complete``: the target-lesion CR condition (see :func:`target_response`).
    ``non_target``: a non-target code; at baseline ``None`` means no non-target disease and
    any code means present. ``assessed_on`` is optional; when given, dates must not go back.
    """

    target_sum_mm: float | None
    complete: bool = False
    non_target: str | None = None
    new_lesions: bool = False
    assessed_on: dt.date | None = None


@dataclass(frozen=True)
class TimepointEvaluation:
    """Derived values of one assessment; all response fields are None at baseline."""

    sum_mm: float | None
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    nadir_mm: float | None
    target_response: str | None
    overall_response: OverallResponse | None


@dataclass(frozen=True)
class SeriesEvaluation:
    """Per-assessment evaluations (baseline first) and the best overall response."""

    timepoints: tuple[TimepointEvaluation, ...]
    best_overall_response: OverallResponse


def _pct(value: float, reference: float) -> float | None:
    return None if reference == 0 else (value - reference) / reference * 100.0


def evaluate_series(visits: Sequence[Timepoint]) -> SeriesEvaluation:
    """Evaluate assessments in date order; the first one is the baseline.

    For each follow-up: the sum; its change from baseline and from the nadir in per cent
    (None when the sum is missing or the nadir is 0 mm); the nadir used (smallest sum before
    this assessment, baseline included); the target response ("NE" when the sum is missing,
    "CR" when ``complete`` even without a sum, None without target disease); and the overall
    response of RECIST 1.1 table 1 or 2. A follow-up without a non-target status while
    non-target disease existed at baseline counts as non-target "NE". The best overall
    response is :func:`best_overall_response` of the follow-ups.

    Raises InputError for no assessment, a baseline without any disease or with ``complete``
    or new lesions flagged, a follow-up giving a target sum or a non-target status for
    disease absent at baseline, or dates going back.
    """
    if not visits:
        raise InputError(_("visits must contain at least the baseline assessment"))
    baseline = visits[0]
    if baseline.target_sum_mm is None and baseline.non_target is None:
        raise InputError(_("no evaluable disease at baseline: neither a target sum nor "
                           "non-target disease"))
    if baseline.complete or baseline.new_lesions:
        raise InputError(_("the baseline assessment cannot be complete or have new lesions"))
    if baseline.target_sum_mm is not None:
        validate_mm("visits[0].target_sum_mm", baseline.target_sum_mm)
        if baseline.target_sum_mm == 0:
            raise InputError(_("visits[0].target_sum_mm must be > 0, got 0"))
    if baseline.non_target is not None:
        _validate_code("visits[0].non_target", baseline.non_target, NON_TARGET_CODES)
    base_sum = baseline.target_sum_mm
    has_non_target = baseline.non_target is not None
    nadir = base_sum
    last_date = baseline.assessed_on
    evaluations = [TimepointEvaluation(base_sum, None, None, None, None, None)]
    for index, visit in enumerate(visits[1:], start=1):
        if visit.assessed_on is not None:
            if last_date is not None and visit.assessed_on < last_date:
                raise InputError(_("visits[{index}] is dated {date}, before the previous "
                                   "assessment ({previous})").format(
                    index=index, date=visit.assessed_on.isoformat(),
                    previous=last_date.isoformat()))
            last_date = visit.assessed_on
        current = visit.target_sum_mm
        if current is not None:
            validate_mm(f"visits[{index}].target_sum_mm", current)
        target: str | None
        change_base = change_nadir = None
        nadir_used = nadir
        if base_sum is None or nadir is None:
            if current is not None or visit.complete:
                raise InputError(_("visits[{index}] gives target lesions, but there was no "
                                   "target disease at baseline").format(index=index))
            target = None
        elif current is None:
            target = "CR" if visit.complete else "NE"
        else:
            target = target_response(base_sum, nadir, current, complete=visit.complete)
            change_base = _pct(current, base_sum)
            change_nadir = _pct(current, nadir)
            nadir = min(nadir, current)
        non_target = visit.non_target
        if non_target is not None and not has_non_target:
            raise InputError(_("visits[{index}] gives a non-target status, but there was no "
                               "non-target disease at baseline").format(index=index))
        if non_target is None and has_non_target:
            non_target = "NE"
        overall = overall_response(target, non_target, visit.new_lesions)
        evaluations.append(TimepointEvaluation(
            current, change_base, change_nadir, nadir_used, target, overall))
    best = best_overall_response(
        e.overall_response for e in evaluations[1:] if e.overall_response is not None)
    return SeriesEvaluation(tuple(evaluations), best)

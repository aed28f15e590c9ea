"""EORTC QLQ-CR29 (colorectal cancer module) scale scores.

Sources:

- Whistance RN, Conroy T, Chie W, et al. Clinical and psychometric validation of the EORTC
  QLQ-CR29 questionnaire module to assess health-related quality of life in patients with
  colorectal cancer. *Eur J Cancer* 2009;45(17):3017-3026.
- EORTC Quality of Life Group, QLQ-CR29 scoring instructions (scale table), applying the
  procedures of the EORTC QLQ-C30 Scoring Manual, 3rd ed., 2001 (mean of answered items,
  half rule, linear transformation; see :mod:`gisttracker.scoring`).

Items are numbered 31-59 as printed on the form (it follows the QLQ-C30's items 1-30). Every
scored item is answered 1 ("not at all") to 4 ("very much"), so ``range`` is 3. Item 48 asks
whether the patient has a stoma bag (yes/no); it is not scored and is passed as the
``stoma`` argument instead. Items 49-54 exist in two versions, one for patients with a stoma
and one for patients without; the patient fills in only the version that applies, and its
answer is given under the item number (49-54) either way. Item 55 is for stoma patients
only, items 56-57 for men only and items 58-59 for women only. Not-applicable items are
"not applicable", not missing: their scales are None, and an answer supplied for such an
item is an error.

Scale table (the published CR29 mapping, four multi-item scales: UF, BMS, SF, BI):

=====  ==============================  ==========  ==========  ===========================
abbr.  scale                           kind        items       applies to
=====  ==============================  ==========  ==========  ===========================
BI     Body image                      functional  45, 46, 47  all
ANX    Anxiety                         functional  43          all
WEI    Weight                          functional  44          all
SEXM   Sexual interest (men)           functional  56 (*)      men
SEXW   Sexual interest (women)         functional  58 (*)      women
UF     Urinary frequency               symptom     31, 32      all
BMS    Blood and mucus in stool        symptom     38, 39      all
SF     Stool frequency                 symptom     52, 53      all (stoma / no-stoma version)
UI     Urinary incontinence            symptom     33          all
DY     Dysuria                         symptom     34          all
AP     Abdominal pain                  symptom     35          all
BP     Buttock pain                    symptom     36          all
BF     Bloating                        symptom     37          all
DM     Dry mouth                       symptom     40          all
HL     Hair loss                       symptom     41          all
TA     Taste                           symptom     42          all
FL     Flatulence                      symptom     49          all (stoma / no-stoma version)
FI     Faecal incontinence             symptom     50          all (stoma / no-stoma version)
SS     Sore skin                       symptom     51          all (stoma / no-stoma version)
EMB    Embarrassment                   symptom     54          all (stoma / no-stoma version)
STO    Stoma care problems             symptom     55          stoma patients
IMP    Impotence                       symptom     57          men
DYS    Dyspareunia                     symptom     59          women
=====  ==============================  ==========  ==========  ===========================

(*) Sexual interest (SEXM, SEXW) is listed among the functional scales, but the EORTC CR29
scoring sheet transforms these two items with the symptom-scale formula,
``S = (RS - 1) / range * 100``. The items ask *how much* the patient was interested in sex
(1 "not at all" … 4 "very much"), so only that formula gives what every functional scale
means: a higher score is better functioning, here more interest ("very much" scores 100,
"not at all" 0). Until 2026-11 this module used the functional formula, which reversed the
two scores; scores are never stored (they are computed from the stored answers whenever a
form is shown, printed or exported), so the correction applies to every form entered
before it without a data migration.

The scores for FL, FI, SS, SF and EMB come from whichever version (stoma or no-stoma) the
patient answered; an analysis that must keep the two versions apart can split on the
``stoma`` flag stored with the form.

The item labels below are short descriptive names, not the questionnaire's wording, which
is copyrighted by the EORTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from gisttracker.errors import InputError
from gisttracker.i18n import N_, _
from gisttracker.scoring import ScaleKind, answers_in_range, linear_score, raw_score

__all__ = [
    "FIRST_ITEM",
    "ITEMS",
    "LAST_ITEM",
    "QUESTIONNAIRE",
    "SCALES",
    "STOMA_QUESTION",
    "Applies",
    "Item",
    "Scale",
    "ScaleKind",
    "Sex",
    "items_for",
    "score",
]

QUESTIONNAIRE = "EORTC QLQ-CR29"
FIRST_ITEM = 31
LAST_ITEM = 59
# Item 48 ("do you have a stoma bag?", yes/no) decides which items apply; it is not scored.
STOMA_QUESTION = 48
ITEM_RANGE = 3  # answers 1-4

Sex = Literal["male", "female"]


class Applies(StrEnum):
    """Which patients an item or a scale applies to."""

    ALL = "all"
    STOMA = "stoma"
    NO_STOMA = "no-stoma"
    MALE = "male"
    FEMALE = "female"

    def matches(self, sex: Sex, stoma: bool) -> bool:
        """Whether a patient of this ``sex`` and ``stoma`` status is concerned."""
        if self is Applies.STOMA:
            return stoma
        if self is Applies.NO_STOMA:
            return not stoma
        if self is Applies.MALE:
            return sex == "male"
        if self is Applies.FEMALE:
            return sex == "female"
        return True


@dataclass(frozen=True, slots=True)
class Item:
    """One item version: number on the form, short label (``N_``-marked), who answers it.

    Items 49-54 appear twice in :data:`ITEMS`, once with ``Applies.STOMA`` and once with
    ``Applies.NO_STOMA``; a form shows the one matching the patient.
    """

    number: int
    label: str
    applies: Applies
    minimum: int = 1
    maximum: int = 4


@dataclass(frozen=True, slots=True)
class Scale:
    """One scale or single-item measure of the module.

    ``kind`` is the family the EORTC table lists it in; ``formula`` the transformation its
    raw score gets when that differs from the family's (sexual interest: a functional scale
    scored with the symptom formula, see the module docstring).
    """

    abbreviation: str
    name: str
    kind: ScaleKind
    items: tuple[int, ...]
    applies: Applies
    formula: ScaleKind | None = None

    @property
    def transform(self) -> ScaleKind:
        """The formula that turns this scale's raw score into 0-100."""
        return self.formula or self.kind


_A = Applies.ALL
_ST = Applies.STOMA
_NS = Applies.NO_STOMA

ITEMS: tuple[Item, ...] = (
    Item(31, N_("Urinary frequency, day"), _A),
    Item(32, N_("Urinary frequency, night"), _A),
    Item(33, N_("Urine leakage"), _A),
    Item(34, N_("Pain on passing urine"), _A),
    Item(35, N_("Abdominal pain"), _A),
    Item(36, N_("Pain in buttocks, anal area or rectum"), _A),
    Item(37, N_("Bloating"), _A),
    Item(38, N_("Blood in stools"), _A),
    Item(39, N_("Mucus in stools"), _A),
    Item(40, N_("Dry mouth"), _A),
    Item(41, N_("Hair loss"), _A),
    Item(42, N_("Taste problems"), _A),
    Item(43, N_("Worried about future health"), _A),
    Item(44, N_("Worried about weight"), _A),
    Item(45, N_("Felt less attractive"), _A),
    Item(46, N_("Felt less feminine or masculine"), _A),
    Item(47, N_("Dissatisfied with body"), _A),
    Item(49, N_("Flatulence from stoma"), _ST),
    Item(50, N_("Stool leakage from stoma bag"), _ST),
    Item(51, N_("Sore skin around stoma"), _ST),
    Item(52, N_("Frequent bag changes, day"), _ST),
    Item(53, N_("Frequent bag changes, night"), _ST),
    Item(54, N_("Embarrassed by stoma"), _ST),
    Item(55, N_("Problems caring for stoma"), _ST),
    Item(49, N_("Flatulence"), _NS),
    Item(50, N_("Stool leakage"), _NS),
    Item(51, N_("Sore skin around anal area"), _NS),
    Item(52, N_("Frequent bowel movements, day"), _NS),
    Item(53, N_("Frequent bowel movements, night"), _NS),
    Item(54, N_("Embarrassed by bowel movements"), _NS),
    Item(56, N_("Sexual interest (men)"), Applies.MALE),
    Item(57, N_("Erection problems"), Applies.MALE),
    Item(58, N_("Sexual interest (women)"), Applies.FEMALE),
    Item(59, N_("Pain or discomfort during intercourse"), Applies.FEMALE),
)

_F = ScaleKind.FUNCTIONAL
_S = ScaleKind.SYMPTOM

SCALES: tuple[Scale, ...] = (
    Scale("BI", N_("Body image"), _F, (45, 46, 47), _A),
    Scale("ANX", N_("Anxiety"), _F, (43,), _A),
    Scale("WEI", N_("Weight"), _F, (44,), _A),
    # Symptom formula for both (EORTC CR29 scoring): higher = more interest.
    Scale("SEXM", N_("Sexual interest (men)"), _F, (56,), Applies.MALE, formula=_S),
    Scale("SEXW", N_("Sexual interest (women)"), _F, (58,), Applies.FEMALE, formula=_S),
    Scale("UF", N_("Urinary frequency"), _S, (31, 32), _A),
    Scale("BMS", N_("Blood and mucus in stool"), _S, (38, 39), _A),
    Scale("SF", N_("Stool frequency"), _S, (52, 53), _A),
    Scale("UI", N_("Urinary incontinence"), _S, (33,), _A),
    Scale("DY", N_("Dysuria"), _S, (34,), _A),
    Scale("AP", N_("Abdominal pain"), _S, (35,), _A),
    Scale("BP", N_("Buttock pain"), _S, (36,), _A),
    Scale("BF", N_("Bloating"), _S, (37,), _A),
    Scale("DM", N_("Dry mouth"), _S, (40,), _A),
    Scale("HL", N_("Hair loss"), _S, (41,), _A),
    Scale("TA", N_("Taste"), _S, (42,), _A),
    Scale("FL", N_("Flatulence"), _S, (49,), _A),
    Scale("FI", N_("Faecal incontinence"), _S, (50,), _A),
    Scale("SS", N_("Sore skin"), _S, (51,), _A),
    Scale("EMB", N_("Embarrassment"), _S, (54,), _A),
    Scale("STO", N_("Stoma care problems"), _S, (55,), _ST),
    Scale("IMP", N_("Impotence"), _S, (57,), Applies.MALE),
    Scale("DYS", N_("Dyspareunia"), _S, (59,), Applies.FEMALE),
)

_RANGES: Mapping[int, tuple[int, int]] = {i.number: (i.minimum, i.maximum) for i in ITEMS}


def _applies_by_number() -> dict[int, Applies]:
    """Who may answer each item number; a number with a stoma and a no-stoma version is
    answered by everybody (each patient answers the version that matches)."""
    found: dict[int, Applies] = {}
    for item in ITEMS:
        found[item.number] = _A if item.number in found else item.applies
    return found


_ITEM_APPLIES: Mapping[int, Applies] = _applies_by_number()

_WHY_NOT: Mapping[Applies, str] = {
    Applies.STOMA: N_("it is asked only of patients with a stoma"),
    Applies.MALE: N_("it is asked only of men"),
    Applies.FEMALE: N_("it is asked only of women"),
}


def _check_patient(sex: object, stoma: object) -> None:
    if sex not in ("male", "female"):
        raise InputError(
            _("sex must be \"male\" or \"female\", not {sex!r}.").format(sex=sex)
        )
    if not isinstance(stoma, bool):
        raise InputError(_("stoma must be True or False, not {stoma!r}.").format(stoma=stoma))


def items_for(*, sex: Sex, stoma: bool) -> tuple[Item, ...]:
    """The items (in form order) a patient of this sex and stoma status answers."""
    _check_patient(sex, stoma)
    return _patient_rules(sex, stoma)[0]


@lru_cache(maxsize=8)
def _patient_rules(sex: Sex, stoma: bool) -> tuple[tuple[Item, ...], frozenset[int],
                                                    tuple[tuple[Scale, bool], ...]]:
    """For a patient of ``sex`` and ``stoma`` status (checked by the caller): the items they
    answer, the item numbers that do *not* apply to them, and each scale with whether it
    applies. Four combinations exist; working them out once rather than for every form is
    most of the time of scoring a study's thousands of questionnaires."""
    items = tuple(i for i in ITEMS if i.applies.matches(sex, stoma))
    barred = frozenset(number for number, applies in _ITEM_APPLIES.items()
                       if not applies.matches(sex, stoma))
    scales = tuple((scale, scale.applies.matches(sex, stoma)) for scale in SCALES)
    return items, barred, scales


def score(
    responses: Mapping[int, int | None], *, sex: Sex, stoma: bool
) -> dict[str, float | None]:
    """Score a QLQ-CR29 form for a patient of ``sex`` ("male"/"female") and ``stoma`` status.

    ``responses`` maps item number (31-59, without 48) to the answer 1-4 or None; absent
    items count as unanswered. Returns every abbreviation of :data:`SCALES` mapped to the
    0-100 score, or None when the scale does not apply to this patient or has fewer than
    half of its items answered. Raises InputError for an unknown item number (including the
    unscored stoma question 48), an answer outside 1-4, an answer to an item that does not
    apply to this patient, or a bad ``sex``/``stoma``.
    """
    _check_patient(sex, stoma)
    if STOMA_QUESTION in responses:
        raise InputError(
            _("Item 48 (stoma bag yes/no) is not scored; give it as stoma=True/False.")
        )
    answers = answers_in_range(responses, _RANGES, QUESTIONNAIRE)
    _items, barred, scales = _patient_rules(sex, stoma)
    for number, answer in answers.items():
        if answer is not None and number in barred:
            raise InputError(
                _("Item {item} was answered but does not apply to this patient: {why}.").format(
                    item=number, why=_(_WHY_NOT[_ITEM_APPLIES[number]])
                )
            )
    result: dict[str, float | None] = {}
    for scale, applies in scales:
        if not applies:
            result[scale.abbreviation] = None
            continue
        raw = raw_score([answers[i] for i in scale.items])
        result[scale.abbreviation] = (
            None if raw is None else linear_score(raw, scale.transform, ITEM_RANGE)
        )
    return result

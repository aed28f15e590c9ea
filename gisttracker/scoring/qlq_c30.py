"""EORTC QLQ-C30 version 3.0 scale scores and the QLQ-C30 summary score.

Sources:

- Fayers PM, Aaronson NK, Bjordal K, Groenvold M, Curran D, Bottomley A, on behalf of the
  EORTC Quality of Life Group. *The EORTC QLQ-C30 Scoring Manual* (3rd edition). EORTC,
  Brussels, 2001 — scales, items, raw score, linear transformation, half rule for missing
  items.
- Giesinger JM, Kieffer JM, Fayers PM, et al. Replication and validation of higher order
  models demonstrated that a summary score for the EORTC QLQ-C30 is robust. *J Clin
  Epidemiol* 2016;69:79-88 — the summary score ``SUMSC``.

Input: ``responses`` maps the item number as printed on the form (1-30) to the answer the
patient circled, or None (or the item is simply absent) when it was not answered. Items 1-28
are answered 1 ("not at all") to 4 ("very much"); items 29 and 30 are answered 1 ("very
poor") to 7 ("excellent").

Output: a dict from the EORTC abbreviation to the 0-100 score (float, unrounded) or None
when the scale cannot be scored. The rules (raw score = mean of answered items; scored when
at least half of the items are answered; functional ``(1 - (RS-1)/range) * 100``, symptom
and global health ``(RS-1)/range * 100``) are described in :mod:`gisttracker.scoring`.

``SUMSC`` is the mean of the 13 scores PF2, RF2, EF, CF, SF and 100 minus each of FA, NV,
PA, DY, SL, AP, CO, DI (global health status QL2 and financial difficulties FI are not part
of it). Following the EORTC summary score instructions it is computed only when all 13 are
available (each after its own half rule); otherwise it is None.

The item labels below are short descriptive names, not the questionnaire's wording, which
is copyrighted by the EORTC and must be obtained from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gisttracker.i18n import N_
from gisttracker.scoring import ScaleKind, answers_in_range, linear_score, raw_score

__all__ = [
    "ITEMS",
    "QUESTIONNAIRE",
    "RESPONSE_LABELS_1_4",
    "RESPONSE_LABELS_1_7",
    "SCALES",
    "SUMMARY",
    "SUMMARY_NAME",
    "SUMMARY_SCALES",
    "Item",
    "Scale",
    "ScaleKind",
    "score",
]

QUESTIONNAIRE = "EORTC QLQ-C30"


@dataclass(frozen=True, slots=True)
class Item:
    """One item of the form: its number, a short label (``N_``-marked) and answer range."""

    number: int
    label: str
    minimum: int
    maximum: int


@dataclass(frozen=True, slots=True)
class Scale:
    """One scale or single-item measure: abbreviation, name (``N_``-marked), kind, items."""

    abbreviation: str
    name: str
    kind: ScaleKind
    items: tuple[int, ...]


def _item(number: int, label: str) -> Item:
    high = 7 if number in (29, 30) else 4
    return Item(number, label, 1, high)


ITEMS: tuple[Item, ...] = (
    _item(1, N_("Strenuous activities")),
    _item(2, N_("Long walk")),
    _item(3, N_("Short walk outside")),
    _item(4, N_("Bed or chair during the day")),
    _item(5, N_("Help with eating, dressing, washing or toilet")),
    _item(6, N_("Limited in work or daily activities")),
    _item(7, N_("Limited in hobbies or leisure")),
    _item(8, N_("Short of breath")),
    _item(9, N_("Pain")),
    _item(10, N_("Needed rest")),
    _item(11, N_("Trouble sleeping")),
    _item(12, N_("Felt weak")),
    _item(13, N_("Lacked appetite")),
    _item(14, N_("Nausea")),
    _item(15, N_("Vomiting")),
    _item(16, N_("Constipation")),
    _item(17, N_("Diarrhoea")),
    _item(18, N_("Tired")),
    _item(19, N_("Pain interfered with daily activities")),
    _item(20, N_("Difficulty concentrating")),
    _item(21, N_("Felt tense")),
    _item(22, N_("Worried")),
    _item(23, N_("Felt irritable")),
    _item(24, N_("Felt depressed")),
    _item(25, N_("Difficulty remembering")),
    _item(26, N_("Interfered with family life")),
    _item(27, N_("Interfered with social activities")),
    _item(28, N_("Financial difficulties")),
    _item(29, N_("Overall health")),
    _item(30, N_("Overall quality of life")),
)

# Answer labels for entry forms: index 0 is the label of answer 1.
RESPONSE_LABELS_1_4: tuple[str, ...] = (
    N_("Not at all"),
    N_("A little"),
    N_("Quite a bit"),
    N_("Very much"),
)
# Items 29-30 label only their ends (1 and 7); the points in between are numbers.
RESPONSE_LABELS_1_7: tuple[str, str] = (N_("Very poor"), N_("Excellent"))

_F = ScaleKind.FUNCTIONAL
_S = ScaleKind.SYMPTOM

SCALES: tuple[Scale, ...] = (
    Scale("QL2", N_("Global health status / QoL"), ScaleKind.GLOBAL, (29, 30)),
    Scale("PF2", N_("Physical functioning"), _F, (1, 2, 3, 4, 5)),
    Scale("RF2", N_("Role functioning"), _F, (6, 7)),
    Scale("EF", N_("Emotional functioning"), _F, (21, 22, 23, 24)),
    Scale("CF", N_("Cognitive functioning"), _F, (20, 25)),
    Scale("SF", N_("Social functioning"), _F, (26, 27)),
    Scale("FA", N_("Fatigue"), _S, (10, 12, 18)),
    Scale("NV", N_("Nausea and vomiting"), _S, (14, 15)),
    Scale("PA", N_("Pain"), _S, (9, 19)),
    Scale("DY", N_("Dyspnoea"), _S, (8,)),
    Scale("SL", N_("Insomnia"), _S, (11,)),
    Scale("AP", N_("Appetite loss"), _S, (13,)),
    Scale("CO", N_("Constipation"), _S, (16,)),
    Scale("DI", N_("Diarrhoea"), _S, (17,)),
    Scale("FI", N_("Financial difficulties"), _S, (28,)),
)

SUMMARY = "SUMSC"
SUMMARY_NAME = N_("Summary score")
# The 13 scores the summary score averages (symptoms reversed as 100 - score).
SUMMARY_SCALES: tuple[str, ...] = (
    "PF2", "RF2", "EF", "CF", "SF", "FA", "NV", "PA", "DY", "SL", "AP", "CO", "DI",
)

_ITEM_RANGES: Mapping[int, tuple[int, int]] = {i.number: (i.minimum, i.maximum) for i in ITEMS}


def score(responses: Mapping[int, int | None]) -> dict[str, float | None]:
    """Score a completed QLQ-C30 form.

    ``responses`` maps item number (1-30) to the answer or None; absent items count as
    unanswered. Returns every scale abbreviation of :data:`SCALES` plus ``SUMSC`` mapped to
    the 0-100 score or None. Raises InputError for an unknown item number or an answer
    outside the item's range (1-4, or 1-7 for items 29-30).
    """
    answers = answers_in_range(responses, _ITEM_RANGES, QUESTIONNAIRE)
    result: dict[str, float | None] = {}
    for scale, item_range in _SCALE_RANGES:
        raw = raw_score([answers[i] for i in scale.items])
        result[scale.abbreviation] = (
            None if raw is None else linear_score(raw, scale.kind, item_range)
        )
    result[SUMMARY] = _summary(result)
    return result


#: Each scale with the range of its items' answers (the same for every item of a scale).
_SCALE_RANGES: tuple[tuple[Scale, int], ...] = tuple(
    (s, _ITEM_RANGES[s.items[0]][1] - _ITEM_RANGES[s.items[0]][0]) for s in SCALES)
_KINDS: Mapping[str, ScaleKind] = {s.abbreviation: s.kind for s in SCALES}


def _summary(scores: Mapping[str, float | None]) -> float | None:
    kinds = _KINDS
    parts: list[float] = []
    for abbreviation in SUMMARY_SCALES:
        value = scores[abbreviation]
        if value is None:
            return None
        parts.append(value if kinds[abbreviation] is ScaleKind.FUNCTIONAL else 100.0 - value)
    return sum(parts) / len(parts)

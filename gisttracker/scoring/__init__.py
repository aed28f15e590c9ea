"""Patient-reported outcome scoring: EORTC QLQ-C30, EORTC QLQ-CR29 and the LARS score.

Pure functions only (no I/O, no clock, no database). The submodules are:

- :mod:`gisttracker.scoring.qlq_c30` — EORTC QLQ-C30 version 3.0 and the Giesinger 2016
  summary score;
- :mod:`gisttracker.scoring.qlq_cr29` — EORTC QLQ-CR29 colorectal module;
- :mod:`gisttracker.scoring.lars` — Low Anterior Resection Syndrome score.

This package module holds the scoring rules the two EORTC questionnaires share (EORTC
QLQ-C30 Scoring Manual, 3rd ed., 2001, sections "Scoring procedures" and "Missing data"):

- the raw score (RS) of a scale is the mean of the items the patient answered;
- a scale is scored only when at least half of its items are answered (the manual's
  "half rule", equivalent to imputing the missing items with the mean of the answered ones);
- the raw score is transformed linearly to 0-100, where ``range`` is the difference between
  the highest and the lowest possible answer of the items (3 for 1-4 items, 6 for 1-7 items):

  - functional scales: ``S = (1 - (RS - 1) / range) * 100`` (high = good functioning);
  - symptom scales and items, and global health status: ``S = (RS - 1) / range * 100``
    (high = much symptom, or high quality of life for global health status).

Scores are returned unrounded; rounding is a presentation decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from gisttracker.errors import InputError
from gisttracker.i18n import _

__all__ = ["ScaleKind", "answers_in_range", "linear_score", "raw_score"]


class ScaleKind(StrEnum):
    """How a scale's raw score is transformed to 0-100 (see the module docstring)."""

    FUNCTIONAL = "functional"
    SYMPTOM = "symptom"
    GLOBAL = "global"


def raw_score(answers: Iterable[int | None]) -> float | None:
    """Mean of the answered items, or None when fewer than half of them are answered.

    ``answers`` holds one entry per item of the scale, None for an unanswered item.
    """
    values = answers if type(answers) is list else list(answers)  # no copy: only read
    if not values:
        raise InputError(_("A scale needs at least one item."))
    given = [v for v in values if v is not None]
    if 2 * len(given) < len(values):
        return None
    return sum(given) / len(given)


def linear_score(raw: float, kind: ScaleKind, item_range: int) -> float:
    """Transform a raw score to 0-100 as the EORTC manual prescribes for ``kind``."""
    if kind is ScaleKind.FUNCTIONAL:
        return (1.0 - (raw - 1.0) / item_range) * 100.0
    return (raw - 1.0) / item_range * 100.0


def answers_in_range(
    responses: Mapping[int, int | None],
    valid: Mapping[int, tuple[int, int]],
    questionnaire: str,
) -> dict[int, int | None]:
    """Check ``responses`` against the item numbers and answer ranges in ``valid``.

    Returns a plain dict with every known item number (absent items as None). Raises
    InputError naming the item for an unknown item number, a non-integer answer or an answer
    outside the item's range.
    """
    checked: dict[int, int | None] = dict.fromkeys(valid)
    for item, answer in responses.items():
        if type(item) is int and type(answer) is int and item in valid:
            # The usual answer, a plain whole number of a known item: only its range to
            # check (a study scores thousands of forms); anything else takes the full path.
            low, high = valid[item]
            if low <= answer <= high:
                checked[item] = answer
                continue
        if isinstance(item, bool) or not isinstance(item, int) or item not in valid:
            raise InputError(
                _("Item {item!r} is not an item of the {questionnaire}.").format(
                    item=item, questionnaire=questionnaire
                )
            )
        if answer is None:
            continue
        low, high = valid[item]
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise InputError(
                _("Item {item}: the answer must be a whole number from {low} to {high}, "
                  "not {answer!r}.").format(item=item, low=low, high=high, answer=answer)
            )
        if not low <= answer <= high:
            raise InputError(
                _("Item {item}: answer {answer} is outside the range {low} to {high}.").format(
                    item=item, answer=answer, low=low, high=high
                )
            )
        checked[item] = answer
    return checked

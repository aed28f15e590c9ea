"""LARS score (Low Anterior Resection Syndrome) after rectal surgery.

Source: Emmertsen KJ, Laurberg S. Low anterior resection syndrome score: development and
validation of a symptom-based scoring system for bowel dysfunction after low anterior
resection for rectal cancer. *Ann Surg* 2012;255(5):922-928.

Five questions, each answered by choosing one option; the options carry the points of the
published score (0-42 in total):

==============  ==========================================================  ==============
argument        options, in the order the questionnaire prints them         points
==============  ==========================================================  ==============
``flatus``      never / less than once per week / at least once per week    0 / 4 / 7
``liquid``      never / less than once per week / at least once per week    0 / 3 / 3
``frequency``   more than 7 per day / 4-7 per day / 1-3 per day /
                less than once per day                                      4 / 2 / 0 / 5
``clustering``  never / less than once per week / at least once per week    0 / 9 / 11
``urgency``     never / less than once per week / at least once per week    0 / 11 / 16
==============  ==========================================================  ==============

Each argument is the 0-based index of the chosen option in that order. Categories: 0-20
"no LARS", 21-29 "minor LARS", 30-42 "major LARS". The score is defined only for a complete
questionnaire: when any answer is missing the result is ``LarsScore(None, None)``.

The category strings are fixed values (compare them, store them); they are ``N_``-marked so
a window translates them with ``_()`` when it shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from gisttracker.errors import InputError
from gisttracker.i18n import N_, _

__all__ = [
    "MAJOR_LARS",
    "MAX_TOTAL",
    "MINOR_LARS",
    "NO_LARS",
    "QUESTIONS",
    "LarsOption",
    "LarsQuestion",
    "LarsScore",
    "category",
    "score",
]

NO_LARS = N_("no LARS")
MINOR_LARS = N_("minor LARS")
MAJOR_LARS = N_("major LARS")
MAX_TOTAL = 42


class LarsScore(NamedTuple):
    """Total points (0-42) and category, both None when the questionnaire is incomplete."""

    total: int | None
    category: str | None


@dataclass(frozen=True, slots=True)
class LarsOption:
    """One printed answer option: short label (``N_``-marked) and its points."""

    label: str
    points: int


@dataclass(frozen=True, slots=True)
class LarsQuestion:
    """One question: the :func:`score` argument name, a short label and its options."""

    key: str
    label: str
    options: tuple[LarsOption, ...]


_NEVER = N_("No, never")
_RARELY = N_("Yes, less than once per week")
_WEEKLY = N_("Yes, at least once per week")


def _weekly(flatus_like: tuple[int, int, int]) -> tuple[LarsOption, ...]:
    return tuple(
        LarsOption(label, points)
        for label, points in zip((_NEVER, _RARELY, _WEEKLY), flatus_like, strict=True)
    )


QUESTIONS: tuple[LarsQuestion, ...] = (
    LarsQuestion("flatus", N_("Cannot control flatus (wind)"), _weekly((0, 4, 7))),
    LarsQuestion("liquid", N_("Accidental leakage of liquid stool"), _weekly((0, 3, 3))),
    LarsQuestion(
        "frequency",
        N_("How often bowels are opened"),
        (
            LarsOption(N_("More than 7 times per day (24 hours)"), 4),
            LarsOption(N_("4-7 times per day (24 hours)"), 2),
            LarsOption(N_("1-3 times per day (24 hours)"), 0),
            LarsOption(N_("Less than once per day (24 hours)"), 5),
        ),
    ),
    LarsQuestion(
        "clustering", N_("Opening bowels again within one hour"), _weekly((0, 9, 11))
    ),
    LarsQuestion("urgency", N_("Urgency: must rush to the toilet"), _weekly((0, 11, 16))),
)


def category(total: int) -> str:
    """The LARS category of a total score 0-42."""
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= MAX_TOTAL:
        raise InputError(
            _("total must be a whole number from 0 to {maximum}, not {total!r}.").format(
                maximum=MAX_TOTAL, total=total
            )
        )
    if total <= 20:
        return NO_LARS
    if total <= 29:
        return MINOR_LARS
    return MAJOR_LARS


def score(
    flatus: int | None,
    liquid: int | None,
    frequency: int | None,
    clustering: int | None,
    urgency: int | None,
) -> LarsScore:
    """Score the five answers (0-based option indexes, None if unanswered).

    Raises InputError naming the argument for an index that is not a whole number or is
    outside the question's options.
    """
    answers = (flatus, liquid, frequency, clustering, urgency)
    total = 0
    complete = True
    for question, answer in zip(QUESTIONS, answers, strict=True):
        if answer is None:
            complete = False
            continue
        last = len(question.options) - 1
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer <= last:
            raise InputError(
                _("{argument} must be an option index from 0 to {last} or None, "
                  "not {answer!r}.").format(argument=question.key, last=last, answer=answer)
            )
        total += question.options[answer].points
    if not complete:
        return LarsScore(None, None)
    return LarsScore(total, category(total))

"""LARS score (Emmertsen & Laurberg 2012): points, categories, incomplete forms."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from gisttracker.errors import InputError
from gisttracker.scoring.lars import (
    MAJOR_LARS,
    MINOR_LARS,
    NO_LARS,
    QUESTIONS,
    LarsScore,
    category,
    score,
)

NEVER, RARELY, WEEKLY = 0, 1, 2  # option indexes of the four "how often" questions
OVER_7, FOUR_TO_7, ONE_TO_3, UNDER_1 = 0, 1, 2, 3  # option indexes of "frequency"


def test_no_symptoms_scores_0_no_lars() -> None:
    result = score(NEVER, NEVER, ONE_TO_3, NEVER, NEVER)
    assert result == LarsScore(0, "no LARS")
    assert result.total == 0
    assert result.category == NO_LARS


def test_worst_answers_score_42_major_lars() -> None:
    result = score(WEEKLY, WEEKLY, UNDER_1, WEEKLY, WEEKLY)
    assert result == LarsScore(42, "major LARS")


# --- category boundaries with real answer combinations -----------------------------------


@pytest.mark.parametrize(
    ("answers", "total", "expected_category"),
    [
        # clustering < once a week (9) + urgency < once a week (11)
        ((NEVER, NEVER, ONE_TO_3, RARELY, RARELY), 20, "no LARS"),
        # urgency weekly (16) + liquid leakage (3) + 4-7 a day (2)
        ((NEVER, RARELY, FOUR_TO_7, NEVER, WEEKLY), 21, "minor LARS"),
        # urgency weekly (16) + clustering < weekly (9) + flatus < weekly (4)
        ((RARELY, NEVER, ONE_TO_3, RARELY, WEEKLY), 29, "minor LARS"),
        # urgency weekly (16) + clustering weekly (11) + liquid weekly (3)
        ((NEVER, WEEKLY, ONE_TO_3, WEEKLY, WEEKLY), 30, "major LARS"),
    ],
)
def test_category_boundaries(
    answers: tuple[int, int, int, int, int], total: int, expected_category: str
) -> None:
    assert score(*answers) == LarsScore(total, expected_category)


@pytest.mark.parametrize(
    ("total", "expected"),
    [(0, NO_LARS), (20, NO_LARS), (21, MINOR_LARS), (29, MINOR_LARS), (30, MAJOR_LARS),
     (42, MAJOR_LARS)],
)
def test_category_function(total: int, expected: str) -> None:
    assert category(total) == expected


@pytest.mark.parametrize("total", [-1, 43, 20.5, True, None])
def test_category_rejects_impossible_totals(total: Any) -> None:
    with pytest.raises(InputError, match="total"):
        category(total)


# --- the published points, one question at a time -----------------------------------------

BASELINE = {"flatus": NEVER, "liquid": NEVER, "frequency": ONE_TO_3, "clustering": NEVER,
            "urgency": NEVER}


@pytest.mark.parametrize(
    ("question", "points"),
    [
        ("flatus", (0, 4, 7)),
        ("liquid", (0, 3, 3)),
        ("frequency", (4, 2, 0, 5)),
        ("clustering", (0, 9, 11)),
        ("urgency", (0, 11, 16)),
    ],
)
def test_points_of_every_option(question: str, points: tuple[int, ...]) -> None:
    for index, expected in enumerate(points):
        answers = dict(BASELINE, **{question: index})
        assert score(**answers).total == expected, (question, index)


# --- incomplete and bad answers -------------------------------------------------------------


WEEKLY_ALL = {"flatus": WEEKLY, "liquid": WEEKLY, "frequency": UNDER_1, "clustering": WEEKLY,
              "urgency": WEEKLY}


@pytest.mark.parametrize("missing", list(BASELINE))
def test_any_unanswered_question_gives_no_score(missing: str) -> None:
    answers: dict[str, int | None] = dict(WEEKLY_ALL)
    answers[missing] = None
    assert score(**answers) == LarsScore(None, None)


def test_all_unanswered_gives_no_score() -> None:
    assert score(None, None, None, None, None) == LarsScore(None, None)


@pytest.mark.parametrize(
    ("argument", "bad"),
    [("flatus", 3), ("flatus", -1), ("liquid", 1.0), ("frequency", 4), ("clustering", True),
     ("urgency", "2")],
)
def test_bad_option_index_raises_naming_the_argument(argument: str, bad: Any) -> None:
    answers: dict[str, Any] = dict(BASELINE, **{argument: bad})
    with pytest.raises(InputError, match=argument):
        score(**answers)


def test_bad_index_raises_even_when_another_answer_is_missing() -> None:
    with pytest.raises(InputError, match="urgency"):
        score(None, NEVER, ONE_TO_3, NEVER, 5)


# --- metadata for the entry form ----------------------------------------------------------


def test_questions_metadata_matches_the_score_signature() -> None:
    assert [q.key for q in QUESTIONS] == list(inspect.signature(score).parameters)
    assert [len(q.options) for q in QUESTIONS] == [3, 3, 4, 3, 3]
    assert sum(max(o.points for o in q.options) for q in QUESTIONS) == 42
    assert all(q.label and all(o.label for o in q.options) for q in QUESTIONS)
    frequency = QUESTIONS[2]
    assert [o.points for o in frequency.options] == [4, 2, 0, 5]
    assert "7" in frequency.options[0].label


def test_lars_score_is_a_named_tuple() -> None:
    total, category_ = score(RARELY, NEVER, ONE_TO_3, NEVER, NEVER)
    assert (total, category_) == (4, "no LARS")

"""The questionnaire forms: EORTC QLQ-C30, EORTC QLQ-CR29 and the LARS score.

Items, answer scales and short labels come from the scoring modules
(:mod:`gisttracker.scoring`), so the entry form follows the paper form's item numbers
without reproducing the EORTC's copyrighted wording. Scores are computed by the same
scoring functions the reports use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from gisttracker.forms.registry import (
    Applies,
    Choice,
    FormContext,
    FormSpec,
    Item,
    Score,
    choices,
    register,
)
from gisttracker.i18n import N_
from gisttracker.scoring import lars, qlq_c30, qlq_cr29

# --- QLQ-C30 -------------------------------------------------------------------------------

_C30_1_4 = tuple(Choice(i + 1, label) for i, label in enumerate(qlq_c30.RESPONSE_LABELS_1_4))
_C30_1_7 = tuple(
    Choice(n, qlq_c30.RESPONSE_LABELS_1_7[0] if n == 1
           else qlq_c30.RESPONSE_LABELS_1_7[1] if n == 7 else str(n))
    for n in range(1, 8)
)


def _c30_items() -> tuple[Item, ...]:
    out = []
    for item in qlq_c30.ITEMS:
        section = None
        if item.number == 1:
            section = N_("During the past week (items 1–28: 1 not at all … 4 very much)")
        elif item.number == 29:
            section = N_("Items 29–30: 1 very poor … 7 excellent")
        out.append(Item(
            key=str(item.number), label=item.label, type="choice", number=str(item.number),
            choices=_C30_1_7 if item.maximum == 7 else _C30_1_4, section=section,
        ))
    return tuple(out)


def _numbered(keys: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """Each form key with the item number it answers (``49s`` → 49)."""
    return tuple((key, int(key.rstrip("s"))) for key in keys)


def _ints(values: Mapping[str, object], keys: tuple[tuple[str, int], ...]
          ) -> dict[int, int | None]:
    """The answers of ``keys`` (from :func:`_numbered`) by item number; anything but a whole
    number (a blank, a yes/no) is None."""
    out: dict[int, int | None] = {}
    for key, number in keys:
        value = values.get(key)
        out[number] = value if isinstance(value, int) and not isinstance(
            value, bool) else None
    return out


# Built once: a study scores thousands of questionnaires with the same keys and names.
_C30_KEYS = _numbered([str(n) for n in range(1, 31)])
_C30_NAMES = {s.abbreviation: s.name for s in qlq_c30.SCALES} | {
    qlq_c30.SUMMARY: qlq_c30.SUMMARY_NAME}


def _c30_scores(values: Mapping[str, object], context: FormContext) -> tuple[Score, ...]:
    result = qlq_c30.score(_ints(values, _C30_KEYS))
    return tuple(Score(key, _C30_NAMES[key], value) for key, value in result.items())


QLQ_C30 = register(FormSpec(
    kind="qlq_c30", title=N_("EORTC QLQ-C30"), items=_c30_items(), questionnaire=True,
    scorer=_c30_scores,
    note=N_("Type the number the patient circled; '-' marks an item left blank."),
))

# --- QLQ-CR29 ------------------------------------------------------------------------------

STOMA_KEY = str(qlq_cr29.STOMA_QUESTION)


def stoma_of(context: FormContext) -> bool | None:
    """The answer to CR29 item 48 (stoma bag), or None while it is not answered."""
    value = context.values.get(STOMA_KEY)
    return value if isinstance(value, bool) else None


def _applies(applies: qlq_cr29.Applies) -> Applies:
    def check(context: FormContext) -> bool:
        if applies is qlq_cr29.Applies.ALL:
            return True
        if applies in (qlq_cr29.Applies.MALE, qlq_cr29.Applies.FEMALE):
            # Sex unknown: ask both, so nothing is lost; scoring waits for the sex.
            return context.sex is None or context.sex == applies.value
        stoma = stoma_of(context)
        return stoma is not None and stoma == (applies is qlq_cr29.Applies.STOMA)
    return check


_CR29_1_4 = _C30_1_4
_STOMA_VERSION = (49, 50, 51, 52, 53, 54)


def _cr29_key(item: qlq_cr29.Item) -> str:
    if item.applies is qlq_cr29.Applies.STOMA and item.number in _STOMA_VERSION:
        return f"{item.number}s"
    return str(item.number)


def _cr29_items() -> tuple[Item, ...]:
    out: list[Item] = []
    sections = {
        "31": N_("During the past week (1 not at all … 4 very much)"),
        "49s": N_("Patients with a stoma bag"),
        "49": N_("Patients without a stoma bag"),
        "56": N_("Men"),
        "58": N_("Women"),
    }
    for item in qlq_cr29.ITEMS:
        key = _cr29_key(item)
        section = sections.get(key)
        out.append(Item(
            key=key, label=item.label, type="choice", number=str(item.number),
            choices=_CR29_1_4, applies=_applies(item.applies), section=section,
        ))
        if item.number == 47:
            out.append(Item(
                key=STOMA_KEY, label=N_("Has a stoma bag"), type="bool",
                number=STOMA_KEY, section=N_("Stoma (1 yes, 2 no)"),
                choices=choices(((True, N_("Yes")), (False, N_("No")))),
            ))
    return tuple(out)


_CR29_NAMES = {s.abbreviation: s.name for s in qlq_cr29.SCALES}


@lru_cache(maxsize=8)
def _cr29_keys(sex: qlq_cr29.Sex, stoma: bool) -> tuple[tuple[str, int], ...]:
    """The form keys a patient of ``sex`` and ``stoma`` status answers (four variants)."""
    return _numbered([_cr29_key(i) for i in qlq_cr29.items_for(sex=sex, stoma=stoma)])


def _cr29_scores(values: Mapping[str, object], context: FormContext) -> tuple[Score, ...]:
    stoma = stoma_of(context)
    names = _CR29_NAMES
    sex: qlq_cr29.Sex
    if context.sex == "male":
        sex = "male"
    elif context.sex == "female":
        sex = "female"
    else:
        return tuple(Score(key, name, None) for key, name in names.items())
    if stoma is None:
        return tuple(Score(key, name, None) for key, name in names.items())
    result = qlq_cr29.score(_ints(values, _cr29_keys(sex, stoma)), sex=sex, stoma=stoma)
    return tuple(Score(key, names[key], value) for key, value in result.items())


QLQ_CR29 = register(FormSpec(
    kind="qlq_cr29", title=N_("EORTC QLQ-CR29"), items=_cr29_items(), questionnaire=True,
    scorer=_cr29_scores,
    note=N_("Item 48 (stoma bag) decides which version of items 49–54 applies; "
            "the other version is stored as not applicable."),
))

# --- LARS ----------------------------------------------------------------------------------


def _lars_items() -> tuple[Item, ...]:
    return tuple(
        Item(key=q.key, label=q.label, type="choice", number=str(n),
             choices=tuple(Choice(i, o.label) for i, o in enumerate(q.options)))
        for n, q in enumerate(lars.QUESTIONS, start=1)
    )


def _lars_scores(values: Mapping[str, object], context: FormContext) -> tuple[Score, ...]:
    answers = []
    for question in lars.QUESTIONS:
        value = values.get(question.key)
        answers.append(value if isinstance(value, int) and not isinstance(value, bool) else None)
    result = lars.score(*answers)
    return (Score("total", N_("LARS score (0–42)"), result.total),
            Score("category", N_("Category"), result.category))


LARS = register(FormSpec(
    kind="lars", title=N_("LARS score"), items=_lars_items(), questionnaire=True,
    scorer=_lars_scores,
    note=N_("Type the number of the option, counting from 1 in the printed order."),
))

"""CTCAE v5.0 grades of seven laboratory adverse events, from the lab value.

Source: U.S. Department of Health and Human Services, National Cancer Institute. *Common
Terminology Criteria for Adverse Events (CTCAE) Version 5.0*, November 27, 2017 — terms
"Neutrophil count decreased", "Platelet count decreased" (Investigations), "Anemia" (Blood
and lymphatic system disorders), "Alanine aminotransferase increased", "Aspartate
aminotransferase increased", "Blood bilirubin increased", "Creatinine increased"
(Investigations).

Units of ``value`` (and of ``lln``/``uln``/``baseline``, which must be in the same unit):

- neutrophil and platelet counts: ×10⁹/L (= ×10³/µL; CTCAE prints /mm³: 1500/mm³ = 1.5);
- haemoglobin: g/L (CTCAE's g/dL limits ×10);
- ALT, AST, bilirubin, creatinine: the laboratory's own unit, compared with its ``uln``
  (and ``baseline``) in that same unit — the grades are multiples, so any unit works.

Use :mod:`gisttracker.grading.units` to convert first when needed.

How each boundary is read. CTCAE writes ranges as "A - B" where the higher grade starts with
a strict "<" (decrease) or ">" (increase); the boundary value therefore belongs to the
lower grade, exactly as worded:

- Neutrophil count decreased: G1 ``LLN > v >= 1.5``; G2 ``1.5 > v >= 1.0``;
  G3 ``1.0 > v >= 0.5``; G4 ``v < 0.5``. So 1.5 is G1 (or 0 when 1.5 >= LLN), 1.0 is G2,
  0.5 is G3.
- Platelet count decreased: G1 ``LLN > v >= 75``; G2 ``75 > v >= 50``; G3 ``50 > v >= 25``;
  G4 ``v < 25``.
- Anemia (haemoglobin, g/L): G1 ``LLN > v >= 100``; G2 ``100 > v >= 80``; G3 ``v < 80``.
  Grade 4 ("life-threatening consequences; urgent intervention indicated") is a clinical
  judgement and is never returned from a value; neither is the clinical G3 criterion
  "transfusion indicated".
- For the three decreases the grade-2-and-worse limits are absolute: a value below them is
  graded without ``lln``. A value at or above the grade-2 limit is grade 1 when below
  ``lln`` and grade 0 otherwise; without ``lln`` the grade is undecidable (None).
- ALT / AST increased, baseline normal (``baseline`` None or ``baseline <= uln``):
  G1 ``ULN < v <= 3×ULN``; G2 ``3× < v <= 5×``; G3 ``5× < v <= 20×``; G4 ``v > 20×ULN``.
  Baseline abnormal (``baseline > uln``), multiples of the baseline: G1
  ``1.5× <= v <= 3×`` (CTCAE v5.0 writes "1.5 - 3.0 x baseline" without ">", so exactly
  1.5 × baseline is grade 1); G2 ``3× < v <= 5×``; G3 ``5× < v <= 20×``; G4 ``v > 20×``;
  below 1.5 × baseline is grade 0.
- Blood bilirubin increased, baseline normal: G1 ``ULN < v <= 1.5×ULN``; G2
  ``1.5× < v <= 3×``; G3 ``3× < v <= 10×``; G4 ``v > 10×ULN``. Baseline abnormal, multiples
  of the baseline: G1 ``1.0× < v <= 1.5×`` (written "> 1.0 - 1.5"); G2 ``1.5× < v <= 3×``;
  G3 ``3× < v <= 10×``; G4 ``v > 10×``.
- Creatinine increased: from the ULN, G1 ``ULN < v <= 1.5×ULN``; G2 ``1.5× < v <= 3×``;
  G3 ``3× < v <= 6×``; G4 ``v > 6×ULN``; from the baseline (when given), G2
  ``1.5× < v <= 3× baseline``; G3 ``v > 3× baseline``. The higher of the two grades is
  returned (CTCAE lists both criteria for G2 and G3). Without ``baseline`` only the ULN
  criteria are used. Without ``uln`` the grade is undecidable (G1 and G4 need it).
- ALT, AST and bilirubin without ``uln``: None (whether the baseline is normal, and every
  grade-1 limit, needs the ULN).

Comparisons are made in decimal arithmetic on the numbers as written (a float's shortest
representation), so that a bilirubin of 1.8 mg/dL with ULN 1.2 mg/dL is exactly 1.5 × ULN
(grade 1) and not a hair above it through binary rounding.

Bad input raises InputError naming the argument: an unknown ``term``; a ``value`` that is
not a finite number ≥ 0; an ``lln``, ``uln`` or ``baseline`` that is given but not a finite
number > 0. Missing limits are not errors: they make the result None when they matter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from gisttracker.errors import InputError
from gisttracker.i18n import N_, _, join_list

__all__ = [
    "AE_GRADE_THRESHOLD",
    "TERMS",
    "TERM_UNITS",
    "grade",
    "suggests_adverse_event",
]

TERMS: Mapping[str, str] = MappingProxyType(
    {
        "neutrophil_count_decreased": N_("Neutrophil count decreased"),
        "platelet_count_decreased": N_("Platelet count decreased"),
        "anemia": N_("Anemia"),
        "alt_increased": N_("Alanine aminotransferase increased"),
        "ast_increased": N_("Aspartate aminotransferase increased"),
        "blood_bilirubin_increased": N_("Blood bilirubin increased"),
        "creatinine_increased": N_("Creatinine increased"),
    }
)

# The unit grade() expects for each term's value (``N_``-marked where it is words).
TERM_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "neutrophil_count_decreased": "×10⁹/L",
        "platelet_count_decreased": "×10⁹/L",
        "anemia": "g/L",
        "alt_increased": N_("same unit as ULN"),
        "ast_increased": N_("same unit as ULN"),
        "blood_bilirubin_increased": N_("same unit as ULN"),
        "creatinine_increased": N_("same unit as ULN"),
    }
)

# Grade from which a lab abnormality suggests recording an adverse event.
AE_GRADE_THRESHOLD = 3

_D = Decimal

# Decreases: (grade, limit) checked worst first; value < limit gives the grade.
_DECREASES: Mapping[str, tuple[tuple[int, Decimal], ...]] = {
    "neutrophil_count_decreased": ((4, _D("0.5")), (3, _D("1.0")), (2, _D("1.5"))),
    "platelet_count_decreased": ((4, _D(25)), (3, _D(50)), (2, _D(75))),
    "anemia": ((3, _D(80)), (2, _D(100))),
}

# Increases: (grade, factor, inclusive) checked worst first; value > factor × reference
# (or >= when inclusive) gives the grade.
_Steps = tuple[tuple[int, Decimal, bool], ...]
_AMINOTRANSFERASE_NORMAL: _Steps = (
    (4, _D(20), False), (3, _D(5), False), (2, _D(3), False), (1, _D(1), False),
)
_AMINOTRANSFERASE_ABNORMAL: _Steps = (
    (4, _D(20), False), (3, _D(5), False), (2, _D(3), False), (1, _D("1.5"), True),
)
_BILIRUBIN: _Steps = (
    (4, _D(10), False), (3, _D(3), False), (2, _D("1.5"), False), (1, _D(1), False),
)
_CREATININE_ULN: _Steps = (
    (4, _D(6), False), (3, _D(3), False), (2, _D("1.5"), False), (1, _D(1), False),
)
_CREATININE_BASELINE: _Steps = ((3, _D(3), False), (2, _D("1.5"), False))


def _number(name: str, x: object, *, positive: bool) -> Decimal:
    """``x`` as an exact Decimal of its written form; InputError naming ``name`` if bad."""
    if isinstance(x, bool) or not isinstance(x, int | float | Decimal):
        raise InputError(_("{name} must be a number, not {x!r}.").format(name=name, x=x))
    if isinstance(x, int):
        d = Decimal(x)
    elif isinstance(x, float):
        if not math.isfinite(x):
            raise InputError(_("{name} must be a finite number, not {x!r}.").format(name=name, x=x))
        d = Decimal(repr(x))
    else:
        if not x.is_finite():
            raise InputError(_("{name} must be a finite number, not {x!r}.").format(name=name, x=x))
        d = x
    if positive and d <= 0:
        raise InputError(_("{name} must be greater than 0, not {x!r}.").format(name=name, x=x))
    if d < 0:
        raise InputError(_("{name} must not be negative, not {x!r}.").format(name=name, x=x))
    return d


def _optional(name: str, x: object) -> Decimal | None:
    return None if x is None else _number(name, x, positive=True)


def _increase(value: Decimal, reference: Decimal, steps: _Steps) -> int:
    for grade_, factor, inclusive in steps:
        limit = factor * reference
        if value > limit or (inclusive and value == limit):
            return grade_
    return 0


def grade(
    term: str,
    value: float | Decimal,
    *,
    lln: float | Decimal | None = None,
    uln: float | Decimal | None = None,
    baseline: float | Decimal | None = None,
) -> int | None:
    """CTCAE v5.0 grade 0-4 of ``term`` for the lab ``value``, or None if undecidable.

    See the module docstring for units and for how every boundary is read. ``lln`` is used
    by the three decreases, ``uln`` and ``baseline`` by the four increases; a limit that the
    term does not use is checked for sanity and otherwise ignored.
    """
    if term not in TERMS:
        raise InputError(
            _("term must be one of {terms}, not {term!r}.").format(
                terms=join_list(TERMS), term=term
            )
        )
    v = _number("value", value, positive=False)
    low = _optional("lln", lln)
    high = _optional("uln", uln)
    base = _optional("baseline", baseline)

    if term in _DECREASES:
        for grade_, limit in _DECREASES[term]:
            if v < limit:
                return grade_
        if low is None:
            return None
        return 1 if v < low else 0

    if high is None:
        return None
    if term in ("alt_increased", "ast_increased"):
        if base is None or base <= high:
            return _increase(v, high, _AMINOTRANSFERASE_NORMAL)
        return _increase(v, base, _AMINOTRANSFERASE_ABNORMAL)
    if term == "blood_bilirubin_increased":
        reference = high if base is None or base <= high else base
        return _increase(v, reference, _BILIRUBIN)
    # creatinine_increased
    by_uln = _increase(v, high, _CREATININE_ULN)
    by_baseline = 0 if base is None else _increase(v, base, _CREATININE_BASELINE)
    return max(by_uln, by_baseline)


def suggests_adverse_event(grade: int | None) -> bool:
    """Whether a lab grade is high enough (≥ 3) to prompt recording an adverse event.

    None (grade undecidable) does not. Raises InputError for a grade outside 0-5.
    """
    if grade is None:
        return False
    if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= 5:
        raise InputError(
            _("grade must be a CTCAE grade from 0 to 5 or None, not {grade!r}.").format(
                grade=grade
            )
        )
    return grade >= AE_GRADE_THRESHOLD

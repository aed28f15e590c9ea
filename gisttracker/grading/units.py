"""Exact unit conversions and wrong-unit plausibility checks for seven lab analytes.

Only conversions that are exact by definition or fixed by a documented convention are
offered; anything else raises InputError rather than guess.

==========  ===============  ==================================================================
analyte     canonical unit   other accepted units (factor to the canonical unit)
==========  ===============  ==================================================================
neutrophils ×10⁹/L           ×10³/µL (×1, identical), /µL (×0.001; /mm³ is the same, 1 mm³ = 1 µL)
platelets   ×10⁹/L           ×10³/µL (×1), /µL (×0.001)
hemoglobin  g/L              g/dL (×10, SI prefix), mmol/L (÷0.6206, see below)
alt, ast    U/L              µkat/L (×60: 1 U = 1 µmol/min, 1 kat = 1 mol/s, so 1 µkat = 60 U)
bilirubin   µmol/L           mg/dL (×17.1: 1 mg/dL = 17.1 µmol/L, molar mass 584.7 g/mol)
creatinine  µmol/L           mg/dL (×88.4: 1 mg/dL = 88.4 µmol/L, molar mass 113.12 g/mol)
==========  ===============  ==================================================================

Haemoglobin in mmol/L is included: it is the standard reporting unit in the Netherlands
(concentration of the Hb monomer, molar mass 16 114.5 g/mol, hence 1 g/dL = 0.6206 mmol/L)
and CTCAE v5.0 itself prints its anemia limits in mmol/L (10.0 g/dL = 6.2 mmol/L,
8.0 g/dL = 4.9 mmol/L). The factor 0.6206 is the conventional one; note that CTCAE's rounded
mmol/L limits differ slightly from the converted g/L limits (6.2 mmol/L = 99.9 g/L), so grade
from the converted g/L value, never by mixing the two.

The accepted spellings of each unit (``umol/L``, ``μmol/L``, ``mg/dl``, ``10^9/L``, ``G/L``,
``/mm3``, ``K/uL``, ``IU/L``, ...) are listed in ``_ALIASES``; :func:`normalize_unit` maps
them to the canonical spelling above. "G/L" (giga per litre, French usage) is read case-
sensitively so it is never taken for grams per litre.

The plausible ranges in :data:`LABS` are wide physiological bounds (in the canonical unit)
meant to catch a value typed in the wrong unit — platelets entered as 150000 instead of
150 ×10⁹/L, haemoglobin 13.5 (g/dL) under g/L — not to judge the value clinically.

Arithmetic is decimal on the numbers as written, so conversions by the exact factors are
exact (1.2 mg/dL → 20.52 µmol/L and back to 1.2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from types import MappingProxyType

from gisttracker.errors import InputError
from gisttracker.i18n import N_, _, join_list

__all__ = ["LABS", "Lab", "convert", "normalize_unit", "plausibility"]

G_PER_L = "×10⁹/L"
K_PER_UL = "×10³/µL"
PER_UL = "/µL"
GRAM_L = "g/L"
GRAM_DL = "g/dL"
MMOL_L = "mmol/L"
UMOL_L = "µmol/L"
MG_DL = "mg/dL"
U_L = "U/L"
UKAT_L = "µkat/L"


@dataclass(frozen=True, slots=True)
class Lab:
    """One analyte: key, label (``N_``-marked), units and the wrong-unit guard.

    ``units`` lists the accepted units, canonical first; ``plausible_min`` and
    ``plausible_max`` are in the canonical unit; ``ctcae_term`` is the matching
    :data:`gisttracker.grading.ctcae.TERMS` key.
    """

    key: str
    label: str
    canonical_unit: str
    units: tuple[str, ...]
    plausible_min: float
    plausible_max: float
    ctcae_term: str


LABS: Mapping[str, Lab] = MappingProxyType(
    {
        lab.key: lab
        for lab in (
            Lab("neutrophils", N_("Neutrophils (ANC)"), G_PER_L, (G_PER_L, K_PER_UL, PER_UL),
                0.0, 100.0, "neutrophil_count_decreased"),
            Lab("platelets", N_("Platelets"), G_PER_L, (G_PER_L, K_PER_UL, PER_UL),
                0.0, 2000.0, "platelet_count_decreased"),
            Lab("hemoglobin", N_("Haemoglobin"), GRAM_L, (GRAM_L, GRAM_DL, MMOL_L),
                20.0, 250.0, "anemia"),
            Lab("alt", N_("ALT"), U_L, (U_L, UKAT_L), 1.0, 20000.0, "alt_increased"),
            Lab("ast", N_("AST"), U_L, (U_L, UKAT_L), 1.0, 20000.0, "ast_increased"),
            Lab("bilirubin", N_("Bilirubin (total)"), UMOL_L, (UMOL_L, MG_DL),
                1.0, 1000.0, "blood_bilirubin_increased"),
            Lab("creatinine", N_("Creatinine"), UMOL_L, (UMOL_L, MG_DL),
                10.0, 2500.0, "creatinine_increased"),
        )
    }
)

# Factor from each accepted unit to the analyte's canonical unit.
_COUNT = {G_PER_L: Decimal(1), K_PER_UL: Decimal(1), PER_UL: Decimal("0.001")}
_FACTORS: Mapping[str, Mapping[str, Decimal]] = {
    "neutrophils": _COUNT,
    "platelets": _COUNT,
    "hemoglobin": {GRAM_L: Decimal(1), GRAM_DL: Decimal(10), MMOL_L: Decimal(10) / Decimal(
        "0.6206")},
    "alt": {U_L: Decimal(1), UKAT_L: Decimal(60)},
    "ast": {U_L: Decimal(1), UKAT_L: Decimal(60)},
    "bilirubin": {UMOL_L: Decimal(1), MG_DL: Decimal("17.1")},
    "creatinine": {UMOL_L: Decimal(1), MG_DL: Decimal("88.4")},
}

# Spellings accepted for each canonical unit, compared after _fold() (no spaces, µ/μ → u,
# × → x, superscripts → ^n, lower case).
_ALIASES: Mapping[str, tuple[str, ...]] = {
    G_PER_L: ("x10^9/l", "10^9/l", "10*9/l", "x10e9/l", "10e9/l", "x10*9/l", "gpt/l"),
    K_PER_UL: ("x10^3/ul", "10^3/ul", "10*3/ul", "x10e3/ul", "k/ul", "x10^3/mm^3",
               "10^3/mm^3", "x10^3/mm3", "10^3/mm3", "thousand/ul"),
    PER_UL: ("/ul", "cells/ul", "/mm^3", "/mm3", "cells/mm^3", "cells/mm3"),
    GRAM_L: ("g/l",),
    GRAM_DL: ("g/dl",),
    MMOL_L: ("mmol/l",),
    UMOL_L: ("umol/l", "micromol/l"),
    MG_DL: ("mg/dl",),
    U_L: ("u/l", "iu/l", "ui/l"),
    UKAT_L: ("ukat/l", "microkat/l"),
}
_BY_FOLDED: Mapping[str, str] = {
    alias: canonical for canonical, aliases in _ALIASES.items() for alias in aliases
}
# Case matters only here: "G/L" is giga per litre (counts), "g/L" grams per litre.
_CASE_SENSITIVE = {"G/L": G_PER_L}

_SUPERSCRIPTS = str.maketrans({"⁹": "^9", "³": "^3", "×": "x", "µ": "u", "μ": "u"})


def _fold(unit: str) -> str:
    return "".join(unit.split()).translate(_SUPERSCRIPTS).lower()


def normalize_unit(unit: str) -> str:
    """The canonical spelling of ``unit`` (e.g. ``"umol/l"`` → ``"µmol/L"``).

    Raises InputError for a spelling not known here.
    """
    if not isinstance(unit, str):
        raise InputError(_("A unit must be text, not {unit!r}.").format(unit=unit))
    stripped = "".join(unit.split())
    if stripped in _CASE_SENSITIVE:
        return _CASE_SENSITIVE[stripped]
    folded = _fold(unit)
    if folded in _BY_FOLDED:
        return _BY_FOLDED[folded]
    raise InputError(_("Unknown unit {unit!r}.").format(unit=unit))


def _lab(analyte: str) -> Lab:
    if analyte not in LABS:
        raise InputError(
            _("analyte must be one of {keys}, not {analyte!r}.").format(
                keys=join_list(LABS), analyte=analyte
            )
        )
    return LABS[analyte]


def _unit_for(lab: Lab, argument: str, unit: str) -> str:
    try:
        canonical = normalize_unit(unit)
    except InputError:
        raise InputError(
            _("{argument}: unknown unit {unit!r} for {analyte}; accepted: {units}.").format(
                argument=argument, unit=unit, analyte=lab.key, units=join_list(lab.units)
            )
        ) from None
    if canonical not in lab.units:
        raise InputError(
            _("{argument}: {analyte} is not converted from or to {unit!r}; "
              "accepted: {units}.").format(
                argument=argument, analyte=lab.key, unit=unit, units=join_list(lab.units)
            )
        )
    return canonical


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InputError(_("value must be a number, not {value!r}.").format(value=value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(_("value must be a finite number, not {value!r}.").format(
                value=value))
        return Decimal(repr(value))
    d = Decimal(value)
    if not d.is_finite():
        raise InputError(_("value must be a finite number, not {value!r}.").format(value=value))
    return d


def _to_unit(analyte: str, value: Decimal, from_unit: str, to_unit: str) -> Decimal:
    factors = _FACTORS[analyte]
    if from_unit == to_unit:
        return value
    with localcontext() as ctx:
        ctx.prec = 28
        result = value * factors[from_unit] / factors[to_unit]
    return result


def convert(analyte: str, value: float | Decimal, from_unit: str, to_unit: str) -> float:
    """``value`` of ``analyte`` in ``from_unit`` expressed in ``to_unit``.

    ``analyte`` is a key of :data:`LABS`; units may be written in any accepted spelling.
    Raises InputError for an unknown analyte or unit, a unit not used for this analyte, or a
    value that is not a finite number ≥ 0.
    """
    lab = _lab(analyte)
    source = _unit_for(lab, "from_unit", from_unit)
    target = _unit_for(lab, "to_unit", to_unit)
    d = _decimal(value)
    if d < 0:
        raise InputError(_("value must not be negative, not {value!r}.").format(value=value))
    return float(_to_unit(lab.key, d, source, target))


def _show(d: Decimal) -> str:
    return f"{float(d):g}"


def plausibility(analyte: str, value: float | Decimal, unit: str) -> str | None:
    """None if ``value`` in ``unit`` is plausible for ``analyte``, else a message.

    The message says which range was expected and, when the same number would be plausible
    in another accepted unit, suggests that unit (the usual cause: a wrong unit chosen).
    Raises InputError for an unknown analyte or unit, or a non-numeric or infinite value.
    """
    lab = _lab(analyte)
    source = _unit_for(lab, "unit", unit)
    d = _decimal(value)
    label = _(lab.label)
    if d < 0:
        return _("{label}: a negative value ({value}) is impossible.").format(
            label=label, value=_show(d)
        )
    low, high = Decimal(repr(lab.plausible_min)), Decimal(repr(lab.plausible_max))
    canonical = _to_unit(lab.key, d, source, lab.canonical_unit)
    if low <= canonical <= high:
        return None
    shown = f"{_show(d)} {source}"
    if source != lab.canonical_unit:
        shown += f" (= {_show(canonical)} {lab.canonical_unit})"
    message = _("{label}: {shown} is outside the plausible range {low}–{high} {unit}.").format(
        label=label, shown=shown, low=_show(low), high=_show(high), unit=lab.canonical_unit
    )
    fits = [
        other for other in lab.units
        if other != source and low <= _to_unit(lab.key, d, other, lab.canonical_unit) <= high
    ]
    if fits:
        units = fits[0]
        for unit in fits[1:]:
            # TRANSLATORS: one more unit in a list of alternatives ("mmol/L or mg/dL").
            units = _("{units} or {unit}").format(units=units, unit=unit)
        message += " " + _("Check the unit: the number would be plausible in {units}.").format(
            units=units
        )
    else:
        message += " " + _("Check the value and its unit.")
    return message

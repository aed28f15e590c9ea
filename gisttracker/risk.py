"""Risk of recurrence of a resected primary GIST: the modified NIH consensus classification.

Reference: Joensuu H. Risk stratification of patients diagnosed with gastrointestinal
stromal tumor. Hum Pathol 2008;39:1411-1419 (table "Proposed modification of consensus
classification for selecting patients with GIST for adjuvant therapy").

Units: tumour size is the largest diameter in centimetres (cm); the mitotic index is mitoses
per 50 high-power fields (HPF). Counts per 5 mm² (WHO 2013/2019) are used as they are: see
:func:`mitoses_per_50hpf_from_5mm2`.
"""

from __future__ import annotations

import math
from typing import Final, Literal

from gisttracker.errors import InputError
from gisttracker.i18n import _

RiskCategory = Literal["very low", "low", "intermediate", "high"]

#: Mitoses per 50 HPF equivalent to one mitosis per 5 mm² of tumour.
MITOSES_PER_50HPF_PER_5MM2: Final = 1.0


def _validate(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InputError(_("{name} must be a finite number, got {value}").format(
            name=name, value=value))
    if value < 0:
        raise InputError(_("{name} must be ≥ 0, got {value}").format(
            name=name, value=f"{value:g}"))


def nih2008(size_cm: float, mitoses_per_50hpf: float, *, gastric: bool,
            ruptured: bool) -> RiskCategory:
    """Modified NIH risk category (Joensuu 2008) of a primary GIST.

    The published table, row by row (size in cm, mitoses per 50 HPF, primary site):

    * very low: ≤ 2.0 (printed "<2.0"), ≤ 5, any site
    * low: 2.1–5.0, ≤ 5, any site
    * intermediate: 2.1–5.0, > 5, gastric
    * intermediate: ≤ 2.0 (printed "<2.0"), 6–10, any site
    * intermediate: 5.1–10.0, ≤ 5, gastric
    * high: any size, any count, tumour rupture
    * high: > 10 cm, any count, any site
    * high: any size, > 10, any site
    * high: > 5.0, > 5, any site
    * high: 2.1–5.0, > 5, non-gastric
    * high: 5.1–10.0, ≤ 5, non-gastric

    Where rows overlap the higher risk wins (2.1–5.0 cm gastric with > 10 mitoses is high
    by "any size, > 10"). Hence a tumour ≤ 2.0 cm with 6–10 mitoses is *intermediate at any
    site*, gastric or not, as printed by Joensuu; only > 10 mitoses makes it high.

    Bands are closed above: exactly 2.0, 5.0 and 10.0 cm belong to the lower band (the
    printed "<2.0" is read as ≤ 2.0 so that 2.0 cm falls in a row); 2.05 cm belongs to
    "2.1–5.0". Mitotic counts may be fractional: ≤ 5 is "≤ 5", above 5 up to 10 is "6–10",
    above 10 is "> 10".

    Raises InputError for a negative or non-finite size or count.
    """
    _validate("size_cm", size_cm)
    _validate("mitoses_per_50hpf", mitoses_per_50hpf)
    if ruptured or size_cm > 10.0 or mitoses_per_50hpf > 10:
        return "high"
    if size_cm > 5.0 and mitoses_per_50hpf > 5:
        return "high"
    if size_cm > 5.0:  # 5.1–10.0 cm, ≤ 5 mitoses
        return "intermediate" if gastric else "high"
    if size_cm > 2.0:  # 2.1–5.0 cm
        if mitoses_per_50hpf <= 5:
            return "low"
        return "intermediate" if gastric else "high"
    # ≤ 2.0 cm
    return "very low" if mitoses_per_50hpf <= 5 else "intermediate"


def mitoses_per_50hpf_from_5mm2(mitoses_per_5mm2: float) -> float:
    """Convert a mitotic count per 5 mm² into the per 50 HPF of :func:`nih2008`.

    The WHO classification (2013, 2019) counts mitoses per 5 mm² and treats that area as the
    equivalent of the 50 HPF of the older literature (50 fields of about 0.1 mm² each on
    the microscopes of the time), so the factor is 1. Raises InputError for a negative
    count.
    """
    _validate("mitoses_per_5mm2", mitoses_per_5mm2)
    return mitoses_per_5mm2 * MITOSES_PER_50HPF_PER_5MM2

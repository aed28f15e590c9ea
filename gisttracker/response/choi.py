"""Choi response criteria for GIST treated with imatinib (CT size and density).

Reference: Choi H, Charnsangavej C, Faria SC, et al. Correlation of computed tomography and
positron emission tomography in patients with metastatic gastrointestinal stromal tumor
treated at a single institution with imatinib mesylate: proposal of new computed tomography
response criteria. J Clin Oncol 2007;25:1753-1759 (table of the proposed criteria).

Units: size is the sum of the longest diameters of the target lesions in millimetres (mm),
measured as in RECIST; density is the mean attenuation of the target lesions in Hounsfield
units (HU) on contrast-enhanced CT (portal venous phase in the original study), accepted in
-1000 … 3000 HU.

The criteria as published:

* CR: disappearance of all lesions; no new lesions.
* PR: a decrease in size ≥ 10 % *or* a decrease in density ≥ 15 %; no new lesions; no
  obvious progression of non-measurable disease.
* SD: does not meet the criteria for CR, PR or PD; no symptomatic deterioration attributed
  to tumour progression.
* PD: an increase in size ≥ 10 % that does not meet the criteria of PR by density; or new
  lesions; or new intratumoral nodules or an increase in size of existing intratumoral
  nodules.
"""

from __future__ import annotations

import math
from typing import Final, Literal

from gisttracker.errors import InputError
from gisttracker.i18n import _
from gisttracker.response.recist import validate_mm

ChoiResponse = Literal["CR", "PR", "SD", "PD"]

#: PR by size: at least this fractional decrease of the sum from baseline.
SIZE_DECREASE: Final = 0.10
#: PD by size: at least this fractional increase of the sum over the reference.
SIZE_INCREASE: Final = 0.10
#: PR by density: at least this fractional decrease of the mean HU from baseline.
DENSITY_DECREASE: Final = 0.15
#: Accepted range of a density (HU).
MIN_HU: Final = -1000.0
MAX_HU: Final = 3000.0

_EPS: Final = 1e-9


def _validate_hu(name: str, value: float | None) -> None:
    if value is None:
        return
    if not math.isfinite(value) or not MIN_HU <= value <= MAX_HU:
        raise InputError(_("{name} must be between -1000 and 3000 HU, got {value}").format(
            name=name, value=f"{value:g}"))


def density_decrease(baseline_hu: float | None, current_hu: float | None) -> float | None:
    """Fractional decrease of the mean density from baseline (0.15 = 15 %), or None.

    None when either density is missing, or when the baseline density is ≤ 0 HU, where a
    percentage change has no meaning (solid GIST enhances well above 0 HU).
    """
    _validate_hu("baseline_hu", baseline_hu)
    _validate_hu("current_hu", current_hu)
    if baseline_hu is None or current_hu is None or baseline_hu <= 0:
        return None
    return (baseline_hu - current_hu) / baseline_hu


def response(baseline_mm: float, baseline_hu: float | None, current_mm: float,
             current_hu: float | None, *, nadir_mm: float | None = None,
             new_lesions: bool = False, new_nodules: bool = False,
             complete: bool = False) -> ChoiResponse:
    """Choi response at one assessment.

    ``baseline_mm``/``current_mm``: sums of longest diameters (mm), baseline > 0.
    ``baseline_hu``/``current_hu``: mean density of the target lesions (HU), or None when
    not measured. ``nadir_mm``: the smallest sum before this assessment, baseline included;
    when given, growth is measured from it, else from the baseline (the publication does
    not name the reference for the 10 % increase). ``new_nodules``: new intratumoral nodules
    or growth of existing ones. ``complete``: all lesions have disappeared.

    Rules, applied in this order:

    1. PD when ``new_lesions`` or ``new_nodules``;
    2. CR when ``complete`` (the publication's CR also requires no new lesions, settled by 1);
    3. PD when the sum grew by ≥ 10 % over the reference and the density did *not* fall by
       ≥ 15 % — so a tumour that grew but whose density fell by ≥ 15 % is not PD;
    4. PR when the sum fell by ≥ 10 % from baseline or the density fell by ≥ 15 % from
       baseline — including the grown tumour of rule 3 whose density fell ≥ 15 %;
    5. SD otherwise.

    Missing density (either value None, or a baseline ≤ 0 HU) means the decision is taken
    from size alone: no PR by density, and nothing rescues a ≥ 10 % growth from PD.
    "Obvious progression of non-measurable disease" and "symptomatic deterioration" are
    clinical judgements outside these arguments; record such progression as PD directly.

    Raises InputError naming the argument for a negative or non-finite size, a density
    outside -1000 … 3000 HU, a baseline sum of 0 mm, or a nadir above baseline.
    """
    validate_mm("baseline_mm", baseline_mm)
    validate_mm("current_mm", current_mm)
    if nadir_mm is not None:
        validate_mm("nadir_mm", nadir_mm)
        if nadir_mm > baseline_mm:
            raise InputError(_("nadir_mm must not exceed baseline_mm ({baseline}), got "
                               "{value}").format(baseline=f"{baseline_mm:g}",
                                                 value=f"{nadir_mm:g}"))
    if baseline_mm == 0:
        raise InputError(_("baseline_mm must be > 0, got {value}").format(
            value=f"{baseline_mm:g}"))
    fall = density_decrease(baseline_hu, current_hu)
    pr_by_density = fall is not None and fall >= DENSITY_DECREASE - _EPS
    if new_lesions or new_nodules:
        return "PD"
    if complete:
        return "CR"
    reference = baseline_mm if nadir_mm is None else nadir_mm
    if reference == 0:
        grew = current_mm > 0
    else:
        grew = (current_mm - reference) / reference >= SIZE_INCREASE - _EPS
    if grew and not pr_by_density:
        return "PD"
    shrank = (baseline_mm - current_mm) / baseline_mm >= SIZE_DECREASE - _EPS
    if shrank or pr_by_density:
        return "PR"
    return "SD"

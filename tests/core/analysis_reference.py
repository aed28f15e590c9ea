"""Published data sets and the comparison rule for checking the statistics engine against R.

The data are facts typed from their published sources (each named below); the reference
numbers live in the tests next to their sources. R prints 3–7 significant digits, so
:func:`agrees` checks a value to exactly the digits R printed (half a unit in the last
printed place), which is 4 decimal places or better wherever R printed that many.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

DATA = Path(__file__).resolve().parent / "analysis_data"


def agrees(actual: float | None, printed: str) -> bool:
    """Whether ``actual`` rounds to R's ``printed`` value ("NA" matches None)."""
    if printed == "NA":
        return actual is None
    if actual is None or math.isnan(actual):
        return False
    text = printed.lower()
    if "e" in text:
        mantissa, exponent = text.split("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        tolerance = 0.5 * 10 ** (int(exponent) - decimals)
    else:
        decimals = len(text.split(".")[1]) if "." in text else 0
        tolerance = 0.5 * 10**-decimals
    return abs(actual - float(printed)) <= tolerance * (1 + 1e-9)


def check(actual: float | None, printed: str, what: str = "") -> None:
    """Assert :func:`agrees`, with both numbers in the failure message."""
    assert agrees(actual, printed), f"{what}: got {actual!r}, R printed {printed}"


# R survival package, data set `aml` (Miller 1997, Survival Analysis): weeks of remission,
# status 1 = relapse, x = maintenance chemotherapy given. Same order as R's data frame.
AML_TIME = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161,
            5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
AML_STATUS = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0,
              1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
AML_X = ["Maintained"] * 11 + ["Nonmaintained"] * 12

# Freireich et al. 1963 6-MP leukaemia trial (Gehan 1965; R MASS::gehan), weeks in
# remission, with log white blood cell count as in Kleinbaum & Klein, Survival Analysis
# (the "anderson" remission data). rx 0 = 6-MP, 1 = placebo.
FREIREICH = [
    # time, status, logWBC, rx
    (35, 0, 1.45, 0), (34, 0, 1.47, 0), (32, 0, 2.2, 0), (32, 0, 2.53, 0), (25, 0, 1.78, 0),
    (23, 1, 2.57, 0), (22, 1, 2.32, 0), (20, 0, 2.01, 0), (19, 0, 2.05, 0), (17, 0, 2.16, 0),
    (16, 1, 3.6, 0), (13, 1, 2.88, 0), (11, 0, 2.6, 0), (10, 0, 2.7, 0), (10, 1, 2.96, 0),
    (9, 0, 2.8, 0), (7, 1, 4.43, 0), (6, 0, 3.2, 0), (6, 1, 2.31, 0), (6, 1, 4.06, 0),
    (6, 1, 3.28, 0),
    (23, 1, 1.97, 1), (22, 1, 2.73, 1), (17, 1, 2.95, 1), (15, 1, 2.3, 1), (12, 1, 1.5, 1),
    (12, 1, 3.06, 1), (11, 1, 3.49, 1), (11, 1, 2.12, 1), (8, 1, 3.52, 1), (8, 1, 3.05, 1),
    (8, 1, 2.32, 1), (8, 1, 3.26, 1), (5, 1, 3.49, 1), (5, 1, 3.97, 1), (4, 1, 4.36, 1),
    (4, 1, 2.42, 1), (3, 1, 4.01, 1), (2, 1, 4.91, 1), (2, 1, 4.48, 1), (1, 1, 2.8, 1),
    (1, 1, 5.0, 1),
]

# R survival package, data set `ovarian` (Edmonson et al. 1979), as R prints it.
OVARIAN = [
    # futime, fustat, age, resid.ds, rx, ecog.ps
    (59, 1, 72.3315, 2, 1, 1), (115, 1, 74.4932, 2, 1, 1), (156, 1, 66.4658, 2, 1, 2),
    (421, 0, 53.3644, 2, 2, 1), (431, 1, 50.3397, 2, 1, 1), (448, 0, 56.4301, 1, 1, 2),
    (464, 1, 56.9370, 2, 2, 2), (475, 1, 59.8548, 2, 2, 2), (477, 0, 64.1753, 2, 1, 1),
    (563, 1, 55.1781, 1, 2, 2), (638, 1, 56.7562, 1, 1, 2), (744, 0, 50.1096, 1, 2, 1),
    (769, 0, 59.6301, 2, 2, 2), (770, 0, 57.0521, 2, 2, 1), (803, 0, 39.2712, 1, 1, 1),
    (855, 0, 43.1233, 1, 1, 2), (1040, 0, 38.8932, 2, 1, 2), (1106, 0, 44.6000, 1, 1, 1),
    (1129, 0, 53.9068, 1, 2, 1), (1206, 0, 44.2055, 2, 2, 1), (1227, 0, 59.5890, 1, 2, 2),
    (268, 1, 74.5041, 2, 1, 2), (329, 1, 43.1370, 2, 1, 1), (353, 1, 63.2192, 1, 2, 2),
    (365, 1, 64.4247, 2, 2, 1), (377, 0, 58.3096, 1, 2, 1),
]


def column(rows: list[tuple[float, ...]], i: int) -> list[float]:
    """The ``i``-th value of every row."""
    return [row[i] for row in rows]


def read_csv(name: str) -> list[dict[str, str]]:
    """A data file of ``analysis_data/`` as rows of text (empty text is R's NA)."""
    with (DATA / name).open(newline="") as f:
        return list(csv.DictReader(f))

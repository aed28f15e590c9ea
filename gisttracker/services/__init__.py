"""Services: the only code that writes to the database (see :mod:`.base`).

The names below are loaded on first use (PEP 562), so that a light service module such as
:mod:`.patient_list` (the window's first screen) does not import the ORM behind ``base``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Changes", "ReasonRequired", "ServiceError", "Tracker", "Writer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("gisttracker.services.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

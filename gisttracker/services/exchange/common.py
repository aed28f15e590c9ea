"""What the exchange services share: models by table name, JSON values."""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
from functools import cache

import gisttracker.store as store_package
from gisttracker.store.models import Record


@cache
def models_by_table() -> dict[str, type[Record]]:
    """Every record model of the store, by table name."""
    found: dict[str, type[Record]] = {}
    for info in pkgutil.iter_modules(store_package.__path__):
        if not info.name.startswith("models"):
            continue
        module = importlib.import_module(f"gisttracker.store.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Record) and value is not Record
                    and value.__module__ == module.__name__):
                found[value._meta.table_name] = value
    return found


def field_of_column(model: type[Record], column: str) -> str:
    """The model field stored in ``column`` (``patient_id`` → ``patient``)."""
    for name, f in model._meta.fields.items():
        if f.column_name == column:
            return str(name)
    return column


def same(a: object, b: object) -> bool:
    """Equal as stored values. Floats compare to 12 significant digits: the last values a
    site sent are kept as SQLite JSON, which writes 15 (clinical values never differ in
    the 13th digit; a float a user changes changes far earlier)."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(
                a, bool) and not isinstance(b, bool):
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-300)
        return False
    return a == b


def json_value(value: object) -> str | None:
    """A stored value as the JSON text the audit trail and conflicts keep."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False)

"""The SQLite store: opening the file, the models, and numbered migrations.

The names below are loaded on first use (PEP 562), so that a light submodule such as
:mod:`gisttracker.store.paths` can be imported without the ORM behind :mod:`.db`.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "NewerSchemaError", "StoreError", "database", "default_path", "open_database",
    "resolve_path",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("gisttracker.store.db"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

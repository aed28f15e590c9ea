"""The SQLite store: opening the file, the models, and numbered migrations."""

from gisttracker.store.db import (
    NewerSchemaError,
    StoreError,
    database,
    default_path,
    open_database,
    resolve_path,
)

__all__ = [
    "NewerSchemaError", "StoreError", "database", "default_path", "open_database",
    "resolve_path",
]

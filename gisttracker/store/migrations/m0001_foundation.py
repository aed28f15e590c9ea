"""Schema 1: migration bookkeeping, site settings, and the append-only audit trail."""

VERSION = 1

STATEMENTS = [
    """CREATE TABLE schema_migration (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""",
    # Site-wide settings (site code, paper size...). Every change is audited like any other.
    """CREATE TABLE setting (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL UNIQUE,
        value TEXT NOT NULL
    )""",
    # One row per changed field. Values are JSON text so that None, numbers and text survive.
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
        table_name TEXT NOT NULL,
        record_uid TEXT NOT NULL,
        field TEXT NOT NULL,
        old_value TEXT,
        new_value TEXT,
        reason TEXT,
        patient_uid TEXT
    )""",
    "CREATE INDEX audit_log_record ON audit_log (record_uid)",
    "CREATE INDEX audit_log_patient ON audit_log (patient_uid)",
    # The audit trail is append-only: the database itself refuses to change or remove it.
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
]

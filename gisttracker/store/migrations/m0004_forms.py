"""Schema 4: forms at visits, their item values, and adverse events."""

VERSION = 4

STATEMENTS = [
    """CREATE TABLE form (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        visit_id INTEGER NOT NULL REFERENCES visit (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'not_started' CHECK (state IN ('not_started',
            'in_progress', 'complete', 'not_done')),
        not_done_reason TEXT,
        completed_at TEXT,
        completed_by TEXT,
        UNIQUE (visit_id, kind)
    )""",
    # One row per item. `missing` says why there is no value: 'not_answered' (asked, left
    # blank) is not 'not_applicable' (not asked of this patient).
    """CREATE TABLE form_value (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        form_id INTEGER NOT NULL REFERENCES form (id) ON DELETE CASCADE,
        item TEXT NOT NULL,
        value TEXT,
        missing TEXT CHECK (missing IN ('not_answered', 'not_applicable')),
        UNIQUE (form_id, item)
    )""",
    """CREATE TABLE adverse_event (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        visit_id INTEGER REFERENCES visit (id) ON DELETE SET NULL,
        lab_result_id INTEGER REFERENCES lab_result (id) ON DELETE SET NULL,
        term TEXT NOT NULL,
        grade INTEGER NOT NULL CHECK (grade BETWEEN 1 AND 5),
        onset TEXT NOT NULL,
        resolved_on TEXT,
        serious INTEGER NOT NULL DEFAULT 0,
        drug TEXT,
        relation TEXT,
        action TEXT,
        outcome TEXT,
        notes TEXT
    )""",
    "CREATE INDEX adverse_event_patient ON adverse_event (patient_id, onset)",
]

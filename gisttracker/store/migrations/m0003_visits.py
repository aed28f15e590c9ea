"""Schema 3: anchor dates and the visits planned from them."""

VERSION = 3

STATEMENTS = [
    """CREATE TABLE anchor_date (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        anchor_key TEXT NOT NULL,
        date TEXT NOT NULL,
        UNIQUE (patient_id, anchor_key)
    )""",
    # Planned dates are stored (recomputed when an anchor moves) so the site worklist is an
    # indexed range query even with a million visits. Statuses a user decides are stored;
    # upcoming / due / overdue are derived from the dates and today.
    """CREATE TABLE visit (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        visit_key TEXT,
        name TEXT NOT NULL,
        anchor_key TEXT,
        seq INTEGER NOT NULL DEFAULT 0,
        planned_on TEXT,
        window_start TEXT,
        window_end TEXT,
        state TEXT NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'done', 'missed',
            'cancelled', 'not_applicable')),
        done_on TEXT,
        reason TEXT,
        unscheduled INTEGER NOT NULL DEFAULT 0,
        UNIQUE (patient_id, visit_key)
    )""",
    "CREATE INDEX visit_window ON visit (state, window_start, window_end)",
    "CREATE INDEX visit_window_end ON visit (state, window_end)",
    "CREATE INDEX visit_patient ON visit (patient_id, seq)",
    "CREATE INDEX visit_done ON visit (state, done_on)",
    # The worklist reads open visits in target-date order and filters on the window and the
    # patient without touching the table; the month view counts open visits per target day.
    "CREATE INDEX visit_planned ON visit (state, planned_on, window_start, window_end, "
    "patient_id)",
    "ALTER TABLE lab_result ADD COLUMN visit_id INTEGER REFERENCES visit (id) ON DELETE CASCADE",
]

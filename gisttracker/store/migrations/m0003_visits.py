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
        study_key TEXT,
        UNIQUE (patient_id, visit_key)
    )""",
    # The patient's study, copied onto each visit so that one study's worklist is an index
    # range too (a patient never changes study). Filled by the database itself, so no writer
    # can leave it out; it is derived data, like an index, and not audited.
    """CREATE TRIGGER visit_study_key AFTER INSERT ON visit WHEN NEW.study_key IS NULL
       BEGIN
         UPDATE visit SET study_key = (SELECT study_key FROM patient WHERE id = NEW.patient_id)
         WHERE id = NEW.id;
       END""",
    "CREATE INDEX visit_study_planned ON visit (study_key, state, planned_on, window_start, "
    "window_end, patient_id)",
    "CREATE INDEX visit_study_done ON visit (study_key, state, done_on)",
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

"""Schema 5: tumour assessments, treatment exposure, surgery, pathology, clinical course."""

VERSION = 5

STATEMENTS = [
    """CREATE TABLE tumour_assessment (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        visit_id INTEGER REFERENCES visit (id) ON DELETE SET NULL,
        assessed_on TEXT NOT NULL,
        modality TEXT,
        is_baseline INTEGER NOT NULL DEFAULT 0,
        non_target TEXT CHECK (non_target IN ('none', 'absent', 'present', 'progression',
            'not_evaluated')),
        new_lesions INTEGER NOT NULL DEFAULT 0,
        new_nodules INTEGER NOT NULL DEFAULT 0,
        notes TEXT
    )""",
    "CREATE INDEX tumour_assessment_patient ON tumour_assessment (patient_id, assessed_on)",
    """CREATE TABLE lesion_measurement (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        assessment_id INTEGER NOT NULL REFERENCES tumour_assessment (id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        organ TEXT NOT NULL,
        is_node INTEGER NOT NULL DEFAULT 0,
        is_target INTEGER NOT NULL DEFAULT 1,
        diameter_mm REAL CHECK (diameter_mm >= 0),
        density_hu REAL CHECK (density_hu BETWEEN -1000 AND 3000),
        too_small INTEGER NOT NULL DEFAULT 0,
        UNIQUE (assessment_id, label)
    )""",
    """CREATE TABLE treatment_exposure (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        drug TEXT NOT NULL,
        dose_mg_per_day REAL NOT NULL CHECK (dose_mg_per_day > 0),
        phase TEXT NOT NULL,
        start_on TEXT NOT NULL,
        stop_on TEXT,
        reason TEXT
    )""",
    "CREATE INDEX treatment_exposure_patient ON treatment_exposure (patient_id, start_on)",
    """CREATE TABLE treatment_interruption (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        exposure_id INTEGER NOT NULL REFERENCES treatment_exposure (id) ON DELETE CASCADE,
        start_on TEXT NOT NULL,
        end_on TEXT,
        reason TEXT
    )""",
    """CREATE TABLE surgery (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        performed_on TEXT NOT NULL,
        procedure TEXT NOT NULL,
        margin TEXT CHECK (margin IN ('R0', 'R1', 'R2')),
        ruptured INTEGER,
        stoma TEXT CHECK (stoma IN ('none', 'temporary', 'permanent')),
        stoma_reversed_on TEXT,
        complications TEXT
    )""",
    """CREATE TABLE pathology (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        surgery_id INTEGER REFERENCES surgery (id) ON DELETE SET NULL,
        reported_on TEXT,
        primary_site TEXT,
        tumour_size_cm REAL CHECK (tumour_size_cm >= 0),
        mitotic_count REAL CHECK (mitotic_count >= 0),
        mitotic_unit TEXT,
        mutation TEXT,
        ruptured INTEGER,
        response_grade TEXT
    )""",
    """CREATE TABLE course_event (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('progression', 'local_recurrence',
            'distant_recurrence', 'regrowth', 'death', 'last_known_alive',
            'lost_to_follow_up')),
        occurred_on TEXT NOT NULL,
        criterion TEXT,
        site TEXT,
        cause TEXT,
        salvage_procedure TEXT,
        salvage_margin TEXT,
        notes TEXT
    )""",
    "CREATE INDEX course_event_patient ON course_event (patient_id, kind, occurred_on)",
]

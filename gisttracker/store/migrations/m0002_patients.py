"""Schema 2: patients, their personal identifiers (kept apart), screening, enrollment."""

VERSION = 2

STATEMENTS = [
    # A study participant. `study_id` (site code + sequence, e.g. ZJU-0007) names the patient
    # everywhere; it carries no personal data.
    """CREATE TABLE patient (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        study_key TEXT NOT NULL,
        study_id TEXT NOT NULL UNIQUE,
        site_code TEXT NOT NULL,
        seq INTEGER NOT NULL,
        sex TEXT CHECK (sex IN ('male', 'female')),
        status TEXT NOT NULL DEFAULT 'screened' CHECK (status IN ('screened', 'screen_failed',
            'enrolled', 'withdrawn', 'lost_to_follow_up', 'died', 'completed')),
        arm_code TEXT,
        arm_option TEXT,
        enrolled_on TEXT,
        enrolled_by TEXT,
        randomization_number TEXT,
        ended_on TEXT,
        end_reason TEXT,
        treatment_procedures TEXT,
        created_on TEXT NOT NULL,
        UNIQUE (site_code, seq)
    )""",
    # Filter columns first, then the list's default order (study id): a filtered list's
    # first page is read in index order, without sorting every match.
    "CREATE INDEX patient_study_status ON patient (study_key, status, study_id)",
    "CREATE INDEX patient_arm ON patient (study_key, arm_code, study_id)",
    # The patient list filters and sorts 100,000 rows: every filter and sort key is indexed.
    "CREATE INDEX patient_status ON patient (status, study_id)",
    "CREATE INDEX patient_arm_code ON patient (arm_code, enrolled_on)",
    "CREATE INDEX patient_enrolled ON patient (enrolled_on)",
    "CREATE INDEX patient_study_enrolled ON patient (study_key, enrolled_on)",
    # Personal identifiers live here only, so reports and exports can leave them out.
    """CREATE TABLE patient_identity (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL UNIQUE REFERENCES patient (id) ON DELETE CASCADE,
        record_number TEXT,
        name TEXT,
        initials TEXT,
        date_of_birth TEXT
    )""",
    "CREATE INDEX patient_identity_record ON patient_identity (record_number)",
    # Case-insensitive prefix search of names and initials (LIKE 'x%' uses these indexes).
    "CREATE INDEX patient_identity_name ON patient_identity (name COLLATE NOCASE)",
    "CREATE INDEX patient_identity_initials ON patient_identity (initials COLLATE NOCASE)",
    # One screening episode; re-screening adds a row, so the history stays.
    """CREATE TABLE screening (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        screened_on TEXT NOT NULL,
        screened_by TEXT NOT NULL,
        ecog INTEGER CHECK (ecog BETWEEN 0 AND 5),
        asa INTEGER CHECK (asa BETWEEN 1 AND 6),
        primary_site TEXT,
        tumour_size_cm REAL CHECK (tumour_size_cm >= 0),
        mitotic_count REAL CHECK (mitotic_count >= 0),
        mitotic_unit TEXT CHECK (mitotic_unit IN ('50hpf', '5mm2')),
        ruptured INTEGER,
        mutation TEXT,
        cd117_positive INTEGER,
        dog1_positive INTEGER,
        histology_confirmed INTEGER,
        distant_metastases INTEGER,
        liver_metastases INTEGER,
        metastasis_sites TEXT,
        progressive_lesions INTEGER CHECK (progressive_lesions >= 0),
        progressive_organs INTEGER CHECK (progressive_organs >= 0),
        prior_imatinib INTEGER,
        prior_tki INTEGER,
        other_malignancy_5y INTEGER,
        pregnant_or_lactating INTEGER,
        hiv_positive INTEGER,
        consent_date TEXT,
        outcome TEXT NOT NULL DEFAULT 'incomplete'
            CHECK (outcome IN ('incomplete', 'eligible', 'ineligible')),
        reasons TEXT,
        closed INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX screening_patient ON screening (patient_id)",
    # The investigator's tick for a criterion that needs judgement: who and when.
    """CREATE TABLE screening_judgement (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        screening_id INTEGER NOT NULL REFERENCES screening (id) ON DELETE CASCADE,
        criterion_id TEXT NOT NULL,
        met INTEGER NOT NULL,
        judged_by TEXT NOT NULL,
        judged_at TEXT NOT NULL,
        UNIQUE (screening_id, criterion_id)
    )""",
    # Laboratory results: at screening (screening_id) or at a visit (visit_id, schema 3).
    """CREATE TABLE lab_result (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL REFERENCES patient (id) ON DELETE CASCADE,
        screening_id INTEGER REFERENCES screening (id) ON DELETE CASCADE,
        analyte TEXT NOT NULL,
        value REAL NOT NULL,
        unit TEXT NOT NULL,
        lln REAL,
        uln REAL,
        sampled_on TEXT
    )""",
    "CREATE INDEX lab_result_patient ON lab_result (patient_id, analyte)",
    # The recorded seed of each randomized study's allocation list.
    """CREATE TABLE randomization_seed (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        study_key TEXT NOT NULL UNIQUE,
        seed TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    )""",
    # One row per randomization; the UNIQUE constraints make it impossible to repeat.
    """CREATE TABLE randomization (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        patient_id INTEGER NOT NULL UNIQUE REFERENCES patient (id),
        study_key TEXT NOT NULL,
        stratum TEXT NOT NULL,
        position INTEGER NOT NULL,
        number TEXT NOT NULL UNIQUE,
        arm_code TEXT NOT NULL,
        randomized_at TEXT NOT NULL,
        randomized_by TEXT NOT NULL,
        UNIQUE (study_key, stratum, position)
    )""",
    """CREATE TRIGGER randomization_no_update BEFORE UPDATE ON randomization
       BEGIN SELECT RAISE(ABORT, 'a randomization cannot be changed'); END""",
    """CREATE TRIGGER randomization_no_delete BEFORE DELETE ON randomization
       BEGIN SELECT RAISE(ABORT, 'a randomization cannot be undone'); END""",
]

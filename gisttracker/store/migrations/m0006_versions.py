"""Schema 6: the protocol and form versions data are captured under, and a visit's date
kept apart from the time it was entered.

* ``protocol_version``: every protocol file text a study was used under at this site (its
  SHA-256, the study key, the file name, the full text, first seen); immutable.
* ``study_protocol``: the version in force for each study (changed, audited, when the site
  installs another file that orphans nothing).
* ``patient.protocol_version_id``: the version the patient was enrolled under. Patients
  enrolled before this schema get the version of the file loaded the first time the upgraded
  database is opened (the migration itself is frozen SQL and reads no protocol file).
* ``form_version`` and ``form.form_version_id``: the same for the form definitions.
* ``visit.done_recorded_at``: when the date of the visit was entered (UTC), apart from
  ``done_on``, the day the visit took place.
"""

VERSION = 6

STATEMENTS = [
    """CREATE TABLE protocol_version (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        study_key TEXT NOT NULL,
        digest TEXT NOT NULL,
        file_name TEXT NOT NULL,
        text TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        UNIQUE (study_key, digest)
    )""",
    # A version is evidence of what the data meant when captured: never changed or removed.
    """CREATE TRIGGER protocol_version_no_update BEFORE UPDATE ON protocol_version
       BEGIN SELECT RAISE(ABORT, 'a protocol version cannot be changed'); END""",
    """CREATE TRIGGER protocol_version_no_delete BEFORE DELETE ON protocol_version
       BEGIN SELECT RAISE(ABORT, 'a protocol version cannot be removed'); END""",
    """CREATE TABLE study_protocol (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        study_key TEXT NOT NULL UNIQUE,
        protocol_version_id INTEGER NOT NULL REFERENCES protocol_version (id),
        since TEXT NOT NULL
    )""",
    "ALTER TABLE patient ADD COLUMN protocol_version_id INTEGER REFERENCES protocol_version (id)",
    """CREATE TABLE form_version (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        definition TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        UNIQUE (kind, digest)
    )""",
    """CREATE TRIGGER form_version_no_update BEFORE UPDATE ON form_version
       BEGIN SELECT RAISE(ABORT, 'a form version cannot be changed'); END""",
    """CREATE TRIGGER form_version_no_delete BEFORE DELETE ON form_version
       BEGIN SELECT RAISE(ABORT, 'a form version cannot be removed'); END""",
    "ALTER TABLE form ADD COLUMN form_version_id INTEGER REFERENCES form_version (id)",
    "ALTER TABLE visit ADD COLUMN done_recorded_at TEXT",
]

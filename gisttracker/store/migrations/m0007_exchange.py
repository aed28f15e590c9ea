"""Schema 7: data exchange between sites and a coordinating centre, and the demo's own marks.

- ``demo_run``: which patients the demo generator made (site code and number range) and
  with which seed, so that ``gisttracker demo`` can refuse a file holding anyone else.
- ``exchange_site``: at a coordinating centre, each site whose packages it accepts — its
  code and its Ed25519 public key. One key per site code: two sites' identifiers never
  collide, and a package from a code registered with another key is refused.
- ``exchange_package``: packages a site has sent, and packages a centre has imported (by
  site, number and digest: the same package twice changes nothing).
- ``exchange_base``: at a centre, the values of each record as its site last sent them
  (one JSON object per record). A field that differs both here→site and here→centre was
  changed on both sides: a conflict. Bookkeeping, like an index: not audited.
- ``exchange_conflict``: a field changed both at the site and at the centre; both values are
  kept until a user resolves it with a reason (audited).
- ``randomization.number`` is unique per site, no longer across the whole file: a centre
  holds the randomizations of several sites, each numbered R-0001, R-0002… The table is
  rebuilt (SQLite cannot drop a UNIQUE constraint) keeping every row, column, index and
  trigger it had; a trigger now refuses a number already used at the patient's site.

Frozen: no imports of today's models.
"""

from __future__ import annotations

import peewee

VERSION = 7

STATEMENTS = [
    """CREATE TABLE demo_run (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        seed TEXT NOT NULL,
        site_code TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        patients INTEGER NOT NULL,
        made_on TEXT NOT NULL,
        UNIQUE (seed)
    )""",
    """CREATE TABLE exchange_site (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        site_code TEXT NOT NULL UNIQUE,
        site_name TEXT,
        public_key TEXT NOT NULL UNIQUE,
        trusted_on TEXT NOT NULL,
        audit_mark INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE exchange_package (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
        site_code TEXT NOT NULL,
        seq INTEGER NOT NULL,
        base_seq INTEGER,
        audit_from INTEGER NOT NULL,
        audit_to INTEGER NOT NULL,
        digest TEXT NOT NULL,
        made_at TEXT NOT NULL,
        summary TEXT,
        UNIQUE (direction, site_code, seq)
    )""",
    """CREATE TABLE exchange_base (
        record_uid TEXT PRIMARY KEY,
        site_code TEXT NOT NULL,
        table_name TEXT NOT NULL,
        data TEXT NOT NULL
    )""",
    """CREATE TABLE exchange_conflict (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        site_code TEXT NOT NULL,
        package_seq INTEGER NOT NULL,
        table_name TEXT NOT NULL,
        record_uid TEXT NOT NULL,
        patient_uid TEXT,
        field TEXT NOT NULL,
        base_value TEXT,
        site_value TEXT,
        centre_value TEXT,
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
        kept TEXT CHECK (kept IN ('site', 'centre')),
        resolved_by TEXT,
        resolved_at TEXT
    )""",
    "CREATE INDEX exchange_conflict_state ON exchange_conflict (state, site_code)",
    "CREATE INDEX exchange_conflict_record ON exchange_conflict (record_uid, field)",
]

# Per-site uniqueness of randomization numbers (replacing UNIQUE (number)).
NUMBER_TRIGGER = """CREATE TRIGGER randomization_number_per_site BEFORE INSERT ON randomization
    WHEN EXISTS (SELECT 1 FROM randomization r JOIN patient p ON p.id = r.patient_id
                 WHERE r.number = NEW.number AND p.site_code =
                       (SELECT site_code FROM patient WHERE id = NEW.patient_id))
    BEGIN SELECT RAISE(ABORT, 'this randomization number is already used at this site'); END"""


def _without_unique_number(sql: str) -> str:
    """The CREATE TABLE text of ``randomization`` with ``number``'s UNIQUE removed."""
    lines = sql.splitlines()
    out = []
    done = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("number ") and "UNIQUE" in stripped:
            line = line.replace(" UNIQUE", "")
            done = True
        out.append(line)
    if not done:
        raise RuntimeError("schema 6: randomization.number is not declared as expected")
    return "\n".join(out)


def upgrade(db: peewee.SqliteDatabase) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
    # Rebuild randomization (SQLite's documented procedure for changing a table's
    # constraints): keep whatever columns, indexes and triggers it has by then.
    table_sql = db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'randomization'"
    ).fetchone()[0]
    others = [r[0] for r in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'randomization' "
        "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name")]
    new_sql = _without_unique_number(table_sql).replace(
        "CREATE TABLE randomization", "CREATE TABLE randomization_rebuilt", 1)
    db.execute_sql(new_sql)
    db.execute_sql("INSERT INTO randomization_rebuilt SELECT * FROM randomization")
    db.execute_sql("DROP TABLE randomization")
    db.execute_sql("ALTER TABLE randomization_rebuilt RENAME TO randomization")
    for sql in others:
        db.execute_sql(sql)
    db.execute_sql("CREATE INDEX randomization_number ON randomization (number)")
    db.execute_sql(NUMBER_TRIGGER)

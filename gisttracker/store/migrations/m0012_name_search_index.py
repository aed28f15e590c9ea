"""Schema 12: the server's patient-name search through an index.

The patient list's search (a name, initials or record number typed into the filter box)
finds names and initials by their beginning, whatever the case. SQLite does it with
``LIKE`` over its ``COLLATE NOCASE`` indexes. On a PostgreSQL server the indexes were on
``lower(name)`` and ``lower(initials)``, but the search ran as ``ILIKE``, which no b-tree
index serves, so each search read the whole identity table: 141 ms at 100,000 patients on
the local server (``tests/benchmarks/bench_postgres.py``), against 22 ms on SQLite.

The two indexes are made again with the ``text_pattern_ops`` operator class, which serves
``lower(name) LIKE 'zhang%'`` under any collation of the database (the search asks for that
on a server: :mod:`gisttracker.services.patient_list`). Same names, same expressions,
indexes only: no data change. SQLite is untouched (no SQLite statements: the file's version
moves to 12 with no change).
"""

VERSION = 12

STATEMENTS: list[str] = []

POSTGRES_STATEMENTS = [
    "DROP INDEX patient_identity_name",
    "CREATE INDEX patient_identity_name ON patient_identity (lower(name) text_pattern_ops)",
    "DROP INDEX patient_identity_initials",
    "CREATE INDEX patient_identity_initials ON patient_identity "
    "(lower(initials) text_pattern_ops)",
]

"""Schema 12: the patient list's name search and the worklist's counts through indexes alone.

Measured on the 100,000-patient, 1.5-million-visit site of the benchmarks
(``tests/benchmarks/bench_postgres.py``, local server):

* **The name search on a server.** The list's search (a name, initials or record number
  typed into the filter box) finds names and initials by their beginning, whatever the
  case. SQLite does it with ``LIKE`` over its ``COLLATE NOCASE`` indexes. On a server the
  indexes were on ``lower(name)`` and ``lower(initials)``, but the search ran as ``ILIKE``,
  which no b-tree index serves, so each search read the whole identity table (141 ms). The
  two indexes are made again with the ``text_pattern_ops`` operator class, which serves
  ``lower(name) LIKE 'zhang%'`` under any collation of the database (what the search asks
  for on a server: :mod:`gisttracker.services.patient_list`). SQLite's are unchanged.
* **The worklist's section counts, both engines.** A count filters on the visit's study and
  visit key too (the visits a protocol never lists as due), which ``visit_planned`` and
  ``visit_study_planned`` did not hold, so every counted visit was also read from the
  table: 25,000 table pages for the week's "due" count on the server (240 ms for the three
  counts). With both columns at the end of the indexes a count reads the index alone
  (49 ms on the server). The same names and leading columns, so every query that used them
  still does.

Indexes only: no data change.
"""

VERSION = 12

_VISIT_INDEXES = [
    "DROP INDEX visit_planned",
    "CREATE INDEX visit_planned ON visit (state, planned_on, window_start, window_end, "
    "patient_id, study_key, visit_key)",
    "DROP INDEX visit_study_planned",
    "CREATE INDEX visit_study_planned ON visit (study_key, state, planned_on, window_start, "
    "window_end, patient_id, visit_key)",
]

STATEMENTS: list[str] = list(_VISIT_INDEXES)

POSTGRES_STATEMENTS = [
    "DROP INDEX patient_identity_name",
    "CREATE INDEX patient_identity_name ON patient_identity (lower(name) text_pattern_ops)",
    "DROP INDEX patient_identity_initials",
    "CREATE INDEX patient_identity_initials ON patient_identity "
    "(lower(initials) text_pattern_ops)",
    *_VISIT_INDEXES,
]

"""Writing exchanged data into a database: site packages (made at a site, imported at the
coordinating centre, conflicts resolved there) and CDISC ODM imports.

- :mod:`.packages` — a site makes its package (numbering, what changed since the last one).
- :mod:`.centre` — a coordinating centre registers sites' keys, imports their packages and
  lists and resolves conflicts.
- :mod:`.odm_import` — subjects, visits and form data from an ODM 1.3.2 file.
"""

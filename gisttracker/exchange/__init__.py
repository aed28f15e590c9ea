"""Data that leaves the workstation and comes back: exports, CDISC ODM, site packages.

- :mod:`.tables` — which tables hold the study's records, their columns and references, in
  the order parents before children (read from the database itself, so a table another
  feature adds later is carried too).
- :mod:`.keys` — each site's Ed25519 key pair (private key kept beside the database, 0600).
- :mod:`.package` — a site package: everything changed since the site's last package (or
  everything), as a signed archive the coordinating centre can check for completeness and
  origin before reading a byte of its data.
- :mod:`.csv_export` and :mod:`.scripts` — CSV files per form and table, a wide file per
  study, a data dictionary and import scripts for R, SPSS and Stata.
- :mod:`.odm` — CDISC ODM 1.3.2: metadata, snapshot and transactional files, validated
  against the schema shipped in ``resources/odm-1.3.2``.

Writing into a database (a centre importing a package, an ODM import) is service work and
lives in :mod:`gisttracker.services.exchange`.

Every file is written whole or not at all (:mod:`gisttracker.atomic`) and is readable by its
owner only. Exports are pseudonymous (patients named by study identifier) unless identifiers
are asked for.
"""

"""CDISC ODM 1.3.2: the study's metadata and its clinical data as XML.

- :mod:`.schema` — validation against the ODM 1.3.2 schema shipped in
  ``resources/odm-1.3.2`` (with our vendor extension, added the way ODM provides for).
- :mod:`.metadata` — how a study maps to ODM: one ``StudyEventDef`` per protocol visit plus
  the patient-level event ``SE.SUBJECT``, a ``FormDef``/``ItemGroupDef`` per visit form and
  per record table, ``ItemDef`` with data types, units and code lists. Export and import
  share it, so every OID means the same thing both ways.
- :mod:`.export` — snapshot, transactional (with ``AuditRecord``\\ s) and metadata files.

Import of clinical data lives in :mod:`gisttracker.services.exchange.odm_import`.
"""

from __future__ import annotations

NS = "http://www.cdisc.org/ns/odm/v1.3"
GT = "urn:gisttracker:odm-extension:1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def q(tag: str) -> str:
    """An ODM element name in Clark notation."""
    return f"{{{NS}}}{tag}"


def gt(name: str) -> str:
    """An attribute of our extension namespace in Clark notation."""
    return f"{{{GT}}}{name}"

"""Validation against the ODM 1.3.2 XML schema (``resources/odm-1.3.2``, MIT licence).

Two schemas: the plain ODM 1.3.2 schema, and ODM 1.3.2 with our extension attributes
(``ODM1-3-2-gisttracker.xsd``, built with ``xs:redefine`` on the foundation's empty
``…AttributeExtension`` groups — ODM's own mechanism for vendor extensions). Our files are
validated against the second; with the extension attributes removed they are valid against
the first (a test proves it).

Validation streams (``iterparse``), so a file of any size is checked in bounded memory.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from gisttracker import resources
from gisttracker.exchange.odm import GT

# The schema files ship with the program (resources/, copied into wheels and bundles).
RESOURCES = resources.resources_dir() / "odm-1.3.2"
PLAIN = "ODM1-3-2.xsd"
EXTENDED = "ODM1-3-2-gisttracker.xsd"


@cache
def schema(extended: bool = True) -> etree.XMLSchema:
    """The compiled schema (ODM 1.3.2, with our extension unless ``extended`` is False)."""
    path = RESOURCES / (EXTENDED if extended else PLAIN)
    return etree.XMLSchema(etree.parse(str(path)))


def validate_file(path: Path, *, extended: bool = True, limit: int = 10) -> list[str]:
    """The schema errors of the XML file ``path`` (at most ``limit``); [] when valid."""
    try:
        for _event, element in etree.iterparse(str(path), events=("end",),
                                               schema=schema(extended), huge_tree=True):
            # Keep memory flat: what has been validated (while it was parsed) is not
            # needed any more.
            if len(element):
                element.clear(keep_tail=True)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        log = [f"line {e.line}: {e.message}" for e in exc.error_log][:limit]
        return log or [str(exc)]
    return []


def strip_extension(tree: etree._ElementTree) -> etree._ElementTree:
    """``tree`` without our extension attributes (for checking against plain ODM)."""
    prefix = f"{{{GT}}}"
    for element in tree.iter():
        for name in [n for n in element.attrib if n.startswith(prefix)]:
            del element.attrib[name]
    etree.cleanup_namespaces(tree)
    return tree

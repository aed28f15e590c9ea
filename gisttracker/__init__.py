"""GIST Study Tracker core: protocols, domain rules, the audited store, reports, CLI.

Nothing in this package imports Qt; the front end lives in the separate ``ui`` package.
"""

__version__ = "0.1.0"

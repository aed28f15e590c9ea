"""Calls of the public service methods with wrong types and unusual text, for the fuzz tests.

Every public method of the service facades is called with arguments that are, parameter by
parameter, either plausible (a real patient, a real visit, a date near the fixed "today")
or nasty: the wrong Python type, None, NaN and infinities, huge numbers, far dates, lone
surrogates, NUL characters, very long text. The services must answer such a call with a
:class:`gisttracker.errors.UserError` (a message for the user) and leave the database as it
was; anything else escaping is a bug.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import hashlib
import inspect
import random
import types
import typing
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from gisttracker.forms import registered
from gisttracker.services.course import CourseService
from gisttracker.services.forms import FormService
from gisttracker.services.patient_list import PatientList
from gisttracker.services.patients import PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.services.tumour import TumourService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.introspect import table_names
from gisttracker.store.models_patients import Patient, Screening
from gisttracker.store.models_visits import Visit
from gisttracker.store.server import is_server_db
from gisttracker.validation import EARLIEST_DATE, LATEST_DATE

TODAY = date(2026, 3, 14)

FACADES: tuple[type, ...] = (PatientService, PatientList, CourseService, FormService,
                             VisitService, TumourService, SettingsService)

# Text a keyboard, a paste or another program can produce and a database or PDF may choke on.
NASTY_TEXT: tuple[str, ...] = (
    "", " ", "\t\n", "\ud800", "a\udfffb", "nul\x00here", "\x1b[31m", "x" * 200_000,
    "ZJU-0007\x00", "0000-00-00", "9999-99-99", "NaN", "-1", "1e309", "%s%n{0}{x}",
    "'; DROP TABLE patient; --", "患者 张三", "\u202eevil", "\ufeff", "e\u0301", "🙂" * 50,
)
NASTY_VALUES: tuple[object, ...] = (
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 10**400, float("nan"), float("inf"),
    -float("inf"), 1e308, -0.0, Decimal("NaN"), Decimal("1e999"), b"bytes", bytearray(b"x"),
    [], {}, (), {"a"}, object(), date(1, 1, 1), date(9999, 12, 31),
    datetime(2026, 3, 14, 9, 30), timedelta(days=1), 1 + 2j, range(3),
)


def nasty() -> st.SearchStrategy[object]:
    """Values of any wrong kind (and the right kind at absurd sizes)."""
    return st.one_of(st.sampled_from(NASTY_TEXT), st.sampled_from(NASTY_VALUES),
                     st.text(max_size=30), st.integers(), st.floats())


class Pools:
    """Real keys of a site, so that plausible calls reach past the first look-up."""

    def __init__(self, session: Session, folder: Path) -> None:
        self.session = session
        self.folder = folder  # where files the calls write may go
        db = session.db
        self.patients = [r[0] for r in db.execute_sql(
            "SELECT study_id FROM patient ORDER BY id LIMIT 40")]
        self.patient_uids = [r[0] for r in db.execute_sql(
            "SELECT uid FROM patient ORDER BY id LIMIT 10")]
        self.visits = [r[0] for r in db.execute_sql(
            "SELECT uid FROM visit ORDER BY id LIMIT 60")]
        uids: list[str] = []
        for table in ("treatment_exposure", "treatment_interruption", "surgery", "pathology",
                      "course_event", "tumour_assessment", "lab_result", "adverse_event",
                      "form"):
            uids += [r[0] for r in db.execute_sql(f"SELECT uid FROM {table} LIMIT 10")]
        self.uids = uids or ["0" * 32]
        self.studies = sorted(session.studies)

    def patient_refs(self) -> st.SearchStrategy[str]:
        refs = self.patients + self.patient_uids
        return st.one_of(st.sampled_from(refs),
                         st.sampled_from(refs).map(lambda r: f"  {r.lower()} "))

    def record(self, model: type) -> st.SearchStrategy[object]:
        def pick(i: int) -> object:
            rows = list(model.select().order_by(model.id).limit(1).offset(i))
            return rows[0] if rows else None
        return st.integers(0, 20).map(pick)


def dates() -> st.SearchStrategy[date]:
    """Mostly near today; sometimes anywhere the services accept."""
    return st.one_of(st.integers(-4000, 400).map(lambda d: TODAY + timedelta(days=d)),
                     st.dates(EARLIEST_DATE, LATEST_DATE))


# Text of the right type that is unusual all the same: long, Chinese, blank, padded.
ODD_TEXT: tuple[str, ...] = ("", "   ", " padded ", "患者 张三 · 胃", "x" * 5000,
                             "line one\nline two", "tab\there", "Ωmega ≤ 5 × 10⁹/L", "0")


def plausible(pools: Pools, name: str, hint: Any) -> st.SearchStrategy[object]:
    """A value a caller of the window or the command line would pass for ``name``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = st.one_of(*[plausible(pools, name, a) for a in options])
        return st.one_of(st.none(), inner) if type(None) in args else inner
    if name in ("ref", "patient_key"):
        return pools.patient_refs()
    if name == "key":
        return st.one_of(pools.patient_refs(), st.sampled_from(
            [*pools.studies, "site_code", "paper", "site_name"]))
    if name == "visit_uid":
        return st.sampled_from(pools.visits or ["0" * 32])
    if name in ("uid", "exposure_uid", "lab_uid", "surgery_uid"):
        return st.sampled_from(pools.uids)
    if name in ("study_key",):
        return st.sampled_from(pools.studies)
    if name == "path":
        return st.sampled_from([str(pools.folder / "visits.ics"), str(pools.folder),
                                str(pools.folder / "missing" / "x.ics"), "", "."])
    if name == "kind":
        return st.sampled_from(sorted(registered()))
    if hint is str:
        return st.one_of(st.text(max_size=40), st.sampled_from(ODD_TEXT), st.sampled_from(
            ["surgery", "randomization", "imatinib_start", "male", "female", "died",
             "withdrawn", "progression", "imatinib", "mg", "g/L", "alt", "site_code",
             "paper", "a4", "typo", "preoperative", "hepatic_resection", "R0"]))
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.one_of(st.integers(-5, 3000), st.integers(-(2**53), 2**53))
    if hint is float:
        return st.one_of(st.floats(-10, 1000, allow_nan=False),
                         st.floats(-1e15, 1e15, allow_nan=False))
    if hint is date:
        return dates()
    if hint is object or hint is Any:
        return st.one_of(st.none(), st.integers(0, 10), st.text(max_size=10), st.booleans())
    if hint is random.Random:
        return st.integers(0, 1000).map(random.Random)
    if hint is Patient:
        return pools.record(Patient)
    if hint is Screening:
        return pools.record(Screening)
    if hint is Visit:
        return pools.record(Visit)
    if origin in (list, tuple, set, frozenset, cabc.Iterable, cabc.Sequence, cabc.Collection):
        item = args[0] if args else Any
        return st.lists(plausible(pools, name, item), max_size=4)
    if origin in (dict, cabc.Mapping):
        key_hint, value_hint = args if args else (str, Any)
        return st.dictionaries(plausible(pools, "key_of_" + name, key_hint),
                               plausible(pools, name, value_hint), max_size=6)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return instances(pools, hint)
    return st.none()


def instances(pools: Pools, cls: type) -> st.SearchStrategy[object]:
    """Instances of the input dataclass ``cls``: every field plausible, or one nasty."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: plausible(pools, f.name, hints[f.name]) for f in dataclasses.fields(cls)
              if f.init}
    return one_nasty_or_none(fields).map(lambda values: cls(**values))


def one_nasty_or_none(strategies: dict[str, st.SearchStrategy[object]]
                      ) -> st.SearchStrategy[dict[str, object]]:
    """Keyword arguments: all plausible, or all plausible but one, which is nasty."""
    good = st.fixed_dictionaries(strategies)
    if not strategies:
        return good

    def spoil(args: tuple[dict[str, object], str, object, object]) -> dict[str, object]:
        values, name, bad, bad_path = args
        # A file path is never random text: it could name a system file (written as root).
        return {**values, name: bad_path if name == "path" else bad}
    bad = st.tuples(good, st.sampled_from(sorted(strategies)), nasty(),
                    st.sampled_from(NASTY_VALUES + NASTY_TEXT)).map(spoil)
    return st.one_of(good, bad)


def public_methods() -> list[tuple[type, str]]:
    found = []
    for cls in FACADES:
        for name in sorted(dir(cls)):
            if not name.startswith("_") and inspect.isfunction(inspect.getattr_static(cls, name)):
                found.append((cls, name))
    return found


def calls(pools: Pools) -> st.SearchStrategy[tuple[type, str, dict[str, object]]]:
    """(facade, method name, keyword arguments) for any public method."""
    def for_method(entry: tuple[type, str]) -> st.SearchStrategy[tuple[type, str,
                                                                       dict[str, object]]]:
        cls, name = entry
        fn = getattr(cls, name)
        fn = inspect.unwrap(fn)
        hints = typing.get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
        strategies = {}
        for p in params:
            strategy = plausible(pools, p.name, hints.get(p.name, Any))
            if p.default is not inspect.Parameter.empty:
                strategy = st.one_of(st.just(p.default), strategy)
            strategies[p.name] = strategy
        return one_nasty_or_none(strategies).map(lambda kw: (cls, name, kw))
    return st.sampled_from(public_methods()).flatmap(for_method)


def build(cls: type, session: Session) -> Any:
    """A facade over ``session`` (the settings service takes the tracker)."""
    return cls(session.tracker) if cls is SettingsService else cls(session)


def fingerprint(session: Session) -> str:
    """A digest of every row of every table: equal digests, unchanged data.

    The audit trail is append-only (SQLite triggers refuse anything else), so its row count
    and last id stand for its content.
    """
    digest = hashlib.sha256()
    tables = table_names(session.db)
    # The server has no rowid; there every table's first column is its key.
    order = "1" if is_server_db(session.db) else "rowid"
    for table in tables:
        digest.update(table.encode())
        sql = ('SELECT count(*), max(id) FROM "audit_log"' if table == "audit_log"
               else f'SELECT * FROM "{table}" ORDER BY {order}')
        for row in session.db.execute_sql(sql):
            digest.update(repr(row).encode("utf-8", "backslashreplace"))
    return digest.hexdigest()


def describe(cls: type, name: str, kwargs: dict[str, object]) -> str:
    def short(value: object) -> str:
        text = repr(value)
        return text if len(text) < 80 else text[:77] + "…"
    return f"{cls.__name__}.{name}(" + ", ".join(
        f"{k}={short(v)}" for k, v in kwargs.items()) + ")"


Call = tuple[type, str, dict[str, object]]

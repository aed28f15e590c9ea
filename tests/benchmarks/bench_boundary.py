"""Benchmark: what the checks at the service boundary cost, next to the bare method.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_boundary.py``.

Every public method of a service facade is wrapped (:func:`gisttracker.services.base.service`)
to check its arguments against their annotations. This times, on a small demo site, calls
whose own work is small — so the checks weigh most — through the wrapper and through the
bare function underneath (``__wrapped__``), and prints the cost per call:

* ``SettingsService.get`` (one text argument, one indexed row read);
* ``PatientService.get`` (the patient look-up every screen starts with);
* ``CourseService.check_event`` (an input record of eight fields, checked field by field);
* ``FormService.validate`` of a whole QLQ-C30 (a mapping of 30 answers).

The aim: a few microseconds per call, invisible next to the database work of any screen.
"""

from __future__ import annotations

import inspect
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gisttracker.demo import generate  # noqa: E402
from gisttracker.services.course import CourseService, EventInput  # noqa: E402
from gisttracker.services.forms import FormService  # noqa: E402
from gisttracker.services.patients import PatientService  # noqa: E402
from gisttracker.services.settings import SettingsService  # noqa: E402
from gisttracker.session import open_session  # noqa: E402
from gisttracker.validation import checked  # noqa: E402

TODAY = date(2026, 3, 14)
CALLS = 500


def per_call_us(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[float, float]:
    """The fastest of 9 rounds of each, rounds interleaved so that a busy machine slows
    both alike: microseconds per call of ``first`` and of ``second``."""
    rounds: tuple[list[float], list[float]] = ([], [])
    for _round in range(9):
        for fn, out in ((first, rounds[0]), (second, rounds[1])):
            started = time.perf_counter()
            for _i in range(CALLS):
                fn()
            out.append((time.perf_counter() - started) / CALLS * 1e6)
    return min(rounds[0]), min(rounds[1])


def bare(cls: type, name: str) -> Callable[..., Any]:
    return inspect.unwrap(getattr(cls, name))


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="gisttracker-bench-boundary-"))
    session = open_session(folder / "site.db", user="nurse",
                           clock=lambda: datetime(2026, 3, 14, tzinfo=UTC))
    generate(session, patients=50, seed=1, today=TODAY)
    ref = session.db.execute_sql("SELECT study_id FROM patient LIMIT 1").fetchone()[0]
    settings = SettingsService(session.tracker)
    patients = PatientService(session)
    course = CourseService(session)
    forms = FormService(session)
    event = EventInput(kind="progression", occurred_on=date(2026, 1, 5), criterion="RECIST",
                       site="liver", notes="new liver lesion, 14 mm")
    answers: dict[str, object] = {str(i): 2 for i in range(1, 29)} | {"29": 5, "30": 5}
    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("SettingsService.get", lambda: settings.get("paper"),
         lambda: bare(SettingsService, "get")(settings, "paper")),
        ("PatientService.get", lambda: patients.get(ref),
         lambda: bare(PatientService, "get")(patients, ref)),
        ("CourseService.check_event", lambda: course.check_event(ref, event, today=TODAY),
         lambda: bare(CourseService, "check_event")(course, ref, event, today=TODAY)),
        ("FormService.validate (C30)", lambda: forms.validate("qlq_c30", answers),
         lambda: bare(FormService, "validate")(forms, "qlq_c30", answers)),
    ]
    print(f"{'call':32} {'checked µs':>11} {'bare µs':>9} {'checks µs':>10}")
    for name, with_checks_fn, plain in cases:
        with_checks, without = per_call_us(with_checks_fn, plain)
        print(f"{name:32} {with_checks:11.1f} {without:9.1f} {with_checks - without:10.1f}")
    session.close()

    # The checks alone, on functions that do nothing: no database, so no noise from it.
    def get(self: object, key: str) -> None:
        return None

    def check_event(self: object, patient_key: str, data: EventInput, *, today: date,
                    uid: str | None = None) -> None:
        return None

    def validate(self: object, kind: str, values: Mapping[str, object], *,
                 sex: str | None = None) -> None:
        return None

    print()
    print(f"{'the checks alone':32} {'checked µs':>11} {'bare µs':>9} {'checks µs':>10}")
    for name, fn, args, kwargs in (
            ("one text argument", get, (None, "paper"), {}),
            ("an 8-field input record", check_event, (None, ref, event), {"today": TODAY}),
            ("a mapping of 30 answers", validate, (None, "qlq_c30", answers), {})):
        wrapped = checked(fn)
        with_checks, without = per_call_us(lambda w=wrapped, a=args, k=kwargs: w(*a, **k),
                                           lambda f=fn, a=args, k=kwargs: f(*a, **k))
        print(f"{name:32} {with_checks:11.2f} {without:9.2f} {with_checks - without:10.2f}")


if __name__ == "__main__":
    main()

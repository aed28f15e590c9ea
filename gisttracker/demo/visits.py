"""Demo enricher: the past of every demo patient's schedule, as a real site would have it.

Visits whose window has closed were mostly done in window, a few outside it (protocol
deviations), a few missed with a reason; recent ones may still be overdue. Visits whose
window is open now are sometimes already done. Future visits stay planned.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from gisttracker.i18n import N_
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit

MISSED_REASONS = (N_("patient did not attend"), N_("patient too ill to travel"),
                  N_("visit at another hospital, no data"))
OVERDUE_GRACE_DAYS = 45  # a site chases recent misses; older gaps were settled long ago


def _day_between(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


def enrich(session: Session, rng: random.Random, today: date) -> None:
    """Mark the demo's past visits done, out of window or missed (audited, in bulk)."""
    visit_id = Visit._meta.primary_key
    query: Any = (
        Visit.select(visit_id, Visit.uid, Visit.window_start, Visit.window_end,
                     Patient.uid.alias("patient_uid"))
        .join(Patient)
        .where((Visit.state == "planned") & Visit.window_start.is_null(False)
               & (Visit.window_start <= today))
        .order_by(visit_id).dicts())
    rows: list[dict[str, Any]] = list(query)
    updates: list[tuple[int, str, str | None, dict[str, tuple[Any, Any]]]] = []
    for row in rows:
        start, end = row["window_start"], row["window_end"]
        roll = rng.random()
        if end >= today:  # window open now
            if roll < 0.4:
                updates.append((row["id"], row["uid"], row["patient_uid"], {
                    "state": ("planned", "done"),
                    "done_on": (None, _day_between(rng, start, today))}))
            continue
        recent = (today - end).days <= OVERDUE_GRACE_DAYS
        if recent and roll < 0.25:
            continue  # still overdue: on the worklist
        if roll < 0.88:
            done = _day_between(rng, start, end)
        elif roll < 0.95:
            done = min(today, end + timedelta(days=rng.randint(1, 21)))
        else:
            updates.append((row["id"], row["uid"], row["patient_uid"], {
                "state": ("planned", "missed"),
                "reason": (None, MISSED_REASONS[rng.randrange(len(MISSED_REASONS))])}))
            continue
        updates.append((row["id"], row["uid"], row["patient_uid"], {
            "state": ("planned", "done"), "done_on": (None, done)}))
    with session.tracker.transaction("demo data: visit history") as w:
        w.update_many(Visit, updates)

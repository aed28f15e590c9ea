"""The schedule engine: calendar-month targets, inclusive windows, status, replanning, timing.

Small studies are built in code; the real protocol files are loaded from ``seeds/`` (a
missing file fails the test, it is never skipped).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from gisttracker.domain.schedule import (
    PlannedVisit,
    WorklistEntry,
    check_timing,
    moved_visits,
    plan,
    status,
    timing_problems,
    worklist,
)
from gisttracker.errors import InputError
from gisttracker.protocols.loader import SEEDS_DIR, load_studies, load_study
from gisttracker.protocols.model import (
    Allocation,
    Anchor,
    Arm,
    Criterion,
    Period,
    Study,
    TimingRule,
    Visit,
)

D = date


def make_study(
    visits: tuple[Visit, ...] = (),
    anchors: tuple[str, ...] = ("surgery",),
    timing_rules: tuple[TimingRule, ...] = (),
) -> Study:
    return Study(
        key="TEST", registration=None, title="Test study", short_title="Test",
        sponsor="Test", design="single arm", study_type="interventional",
        target_enrollment=None, condition="GIST", summary="", source="",
        primary_response_criterion=None,
        arms=(Arm("A", "Arm A", ""),), allocation=Allocation("single_arm"),
        criteria=(Criterion("I1", "inclusion", "Consent"),),
        anchors=tuple(Anchor(k, k.replace("_", " ").capitalize(), "entered") for k in anchors),
        visits=visits, endpoints=(), timing_rules=timing_rules,
    )


WEEK = Period(days=7)


def visit(key: str, months: int = 0, days: int = 0, *, anchor: str = "surgery",
          before: Period = WEEK, after: Period = WEEK) -> Visit:
    return Visit(key, key.upper(), anchor, Period(months=months, days=days), before, after,
                 ("physical_exam",))


def one(study: Study, anchor: date | None, key: str | None = None) -> PlannedVisit:
    planned = plan(study, {"surgery": anchor})
    return planned[0] if key is None else next(p for p in planned if p.visit_key == key)


# ------------------------------------------------------------------ month arithmetic


@pytest.mark.parametrize(("anchor", "months", "expected"), [
    (D(2025, 1, 31), 1, D(2025, 2, 28)),
    (D(2024, 1, 31), 1, D(2024, 2, 29)),
    (D(2024, 8, 31), 6, D(2025, 2, 28)),
    (D(2023, 8, 31), 6, D(2024, 2, 29)),
    (D(2024, 2, 29), 12, D(2025, 2, 28)),
    (D(2024, 2, 29), 48, D(2028, 2, 29)),
    (D(2025, 3, 31), 1, D(2025, 4, 30)),
    (D(2025, 1, 15), 3, D(2025, 4, 15)),
])
def test_calendar_months_clip_to_month_end(anchor: date, months: int, expected: date) -> None:
    study = make_study((visit("v", months),))
    assert one(study, anchor).target == expected


def test_targets_are_counted_from_the_anchor_not_by_stepping() -> None:
    study = make_study(tuple(visit(f"m{m}", m) for m in (1, 2, 3, 12)))
    targets = {p.visit_key: p.target for p in plan(study, {"surgery": D(2025, 1, 31)})}
    # Stepping month by month through 28 Feb would give 28 Mar, 28 Apr and 28 Jan.
    assert targets == {"m1": D(2025, 2, 28), "m2": D(2025, 3, 31), "m3": D(2025, 4, 30),
                       "m12": D(2026, 1, 31)}


def test_window_in_months_and_days() -> None:
    study = make_study((
        visit("m12", 12, before=Period(months=1), after=Period(months=1)),
        visit("d0", before=Period(days=28), after=Period()),
    ))
    m12, d0 = plan(study, {"surgery": D(2024, 3, 31)})
    assert (m12.window_start, m12.target, m12.window_end) == (
        D(2025, 2, 28), D(2025, 3, 31), D(2025, 4, 30))
    assert (d0.window_start, d0.target, d0.window_end) == (
        D(2024, 3, 3), D(2024, 3, 31), D(2024, 3, 31))


def test_plan_keeps_protocol_order_and_carries_visit_facts() -> None:
    study = make_study((visit("b", 6), visit("a", 3)))
    planned = plan(study, {"surgery": D(2025, 1, 1)})
    assert [p.visit_key for p in planned] == ["b", "a"]
    assert planned[0].name == "B"
    assert planned[0].anchor == "surgery"
    assert planned[0].anchor_label == "Surgery"
    assert planned[0].anchor_date == D(2025, 1, 1)
    assert planned[0].assessments == ("physical_exam",)
    assert planned[0].required is True


# ------------------------------------------------------------------ waiting


@pytest.mark.parametrize("anchors", [{}, {"surgery": None}])
def test_unknown_anchor_gives_no_dates_and_waiting(anchors: dict[str, date | None]) -> None:
    study = make_study((visit("m3", 3),))
    (planned,) = plan(study, anchors)
    assert (planned.anchor_date, planned.target, planned.window_start, planned.window_end) == (
        None, None, None, None)
    assert not planned.scheduled
    st = status(planned, today=D(2030, 1, 1))
    assert st.status == "waiting"
    assert st.describe(planned) == "Waiting for the date of: Surgery"


def test_only_visits_of_the_unknown_anchor_wait() -> None:
    study = make_study((visit("base", anchor="enrollment"), visit("m3", 3)),
                       anchors=("enrollment", "surgery"))
    base, m3 = plan(study, {"enrollment": D(2025, 5, 1)})
    assert base.target == D(2025, 5, 1)
    assert m3.target is None
    today = D(2025, 5, 1)
    assert [status(p, today=today).status for p in (base, m3)] == ["due", "waiting"]


def test_datetime_is_refused_as_a_date() -> None:
    study = make_study((visit("m3", 3),))
    with pytest.raises(TypeError):
        plan(study, {"surgery": datetime(2025, 1, 1, 12, 0)})
    with pytest.raises(TypeError):
        status(one(study, D(2025, 1, 1)), today=datetime(2025, 1, 1, 12, 0))


# ------------------------------------------------------------------ windows and status

# Target 17 Jan 2026, window 10–24 Jan 2026.
WINDOWED = make_study((visit("v", days=17, before=Period(days=7), after=Period(days=7)),))
P = one(WINDOWED, D(2025, 12, 31))


def test_window_fixture() -> None:
    assert (P.window_start, P.target, P.window_end) == (D(2026, 1, 10), D(2026, 1, 17),
                                                        D(2026, 1, 24))


@pytest.mark.parametrize(("done_on", "expected", "days", "side"), [
    (D(2026, 1, 24), "done", 0, None),                  # last day of the window
    (D(2026, 1, 25), "done_out_of_window", 1, "late"),  # the day after
    (D(2026, 2, 3), "done_out_of_window", 10, "late"),
    (D(2026, 1, 10), "done", 0, None),                  # first day
    (D(2026, 1, 9), "done_out_of_window", 1, "early"),  # the day before
    (D(2026, 1, 17), "done", 0, None),
])
def test_done_within_or_outside_window(done_on: date, expected: str, days: int,
                                       side: str | None) -> None:
    st = status(P, today=D(2026, 3, 1), done_on=done_on)
    assert (st.status, st.deviation_days, st.deviation, st.done_on) == (
        expected, days, side, done_on)


def test_deviation_is_described() -> None:
    late = status(P, today=D(2026, 3, 1), done_on=D(2026, 1, 27))
    early = status(P, today=D(2026, 3, 1), done_on=D(2026, 1, 9))
    assert late.describe() == "Done 3 days after the window"
    assert early.describe() == "Done 1 day before the window"
    assert P.deviation(D(2026, 1, 27)) == 3
    assert P.deviation(D(2026, 1, 9)) == -1
    assert P.deviation(D(2026, 1, 24)) == 0


@pytest.mark.parametrize(("today", "expected", "overdue_days"), [
    (D(2025, 12, 31), "upcoming", 0),
    (D(2026, 1, 9), "upcoming", 0),    # day before the window
    (D(2026, 1, 10), "due", 0),        # first day
    (D(2026, 1, 24), "due", 0),        # last day
    (D(2026, 1, 25), "overdue", 1),    # the day after
    (D(2026, 2, 24), "overdue", 31),
])
def test_upcoming_due_overdue_edges(today: date, expected: str, overdue_days: int) -> None:
    st = status(P, today=today)
    assert (st.status, st.overdue_days) == (expected, overdue_days)


def test_overdue_is_described() -> None:
    assert status(P, today=D(2026, 1, 25)).describe() == "Overdue by 1 day"
    assert status(P, today=D(2026, 1, 27)).describe() == "Overdue by 3 days"


@pytest.mark.parametrize(("flags", "expected"), [
    ({"missed": True}, "missed"),
    ({"cancelled": True}, "cancelled"),
    ({"not_applicable": True}, "not_applicable"),
])
def test_decisions_override_dates(flags: dict[str, Any], expected: str) -> None:
    # Overdue by the dates, but what the user decided wins.
    assert status(P, today=D(2026, 6, 1), **flags).status == expected
    assert status(P, today=D(2026, 6, 1), **flags).label != ""


def test_conflicting_decisions_are_refused() -> None:
    with pytest.raises(ValueError):
        status(P, today=D(2026, 6, 1), done_on=D(2026, 1, 15), missed=True)
    with pytest.raises(ValueError):
        status(P, today=D(2026, 6, 1), cancelled=True, not_applicable=True)


def test_done_after_the_day_judged_still_counts_as_done() -> None:
    # A worklist "as of" yesterday must not fail on a visit recorded done today.
    assert status(P, today=D(2026, 1, 15), done_on=D(2026, 1, 16)).status == "done"
    assert status(P, today=D(2026, 1, 16), done_on=D(2026, 1, 16)).status == "done"


def test_done_while_anchor_unknown_is_done() -> None:
    waiting = one(WINDOWED, None)
    st = status(waiting, today=D(2026, 1, 16), done_on=D(2026, 1, 16))
    assert (st.status, st.deviation_days) == ("done", 0)


# ------------------------------------------------------------------ participation ended


def test_participation_ended_cancels_later_visits_and_keeps_done_ones() -> None:
    study = make_study((
        visit("m3", 3, before=Period(days=14), after=Period(days=14)),
        visit("m6", 6, before=Period(days=14), after=Period(days=14)),
        visit("m9", 9, before=Period(days=14), after=Period(days=14)),
        visit("m12", 12, before=Period(days=14), after=Period(days=14)),
    ))
    m3, m6, m9, m12 = plan(study, {"surgery": D(2025, 1, 15)})
    # m6 window 1–29 Jul 2025; m9 window 1–29 Oct 2025.
    ended = D(2025, 7, 20)
    today = D(2025, 12, 1)
    assert status(m3, today=today, done_on=D(2025, 4, 16), ended_on=ended).status == "done"
    # Window had opened before the end date: still owed, so it is overdue (user marks missed).
    assert status(m6, today=today, ended_on=ended).status == "overdue"
    assert status(m9, today=today, ended_on=ended).status == "cancelled"
    assert status(m12, today=today, ended_on=ended).status == "cancelled"
    # Done late after the end (e.g. a final visit): done stays done.
    st = status(m9, today=today, done_on=D(2025, 10, 29), ended_on=ended)
    assert st.status == "done"


def test_participation_end_edge_is_the_window_start() -> None:
    assert P.window_start == D(2026, 1, 10)
    assert status(P, today=D(2026, 2, 1), ended_on=D(2026, 1, 10)).status == "overdue"
    assert status(P, today=D(2026, 2, 1), ended_on=D(2026, 1, 9)).status == "cancelled"
    assert status(P, today=D(2026, 1, 5), ended_on=D(2026, 1, 9)).status == "cancelled"


def test_participation_ended_cancels_waiting_visits() -> None:
    waiting = one(WINDOWED, None)
    assert status(waiting, today=D(2026, 2, 1), ended_on=D(2026, 1, 1)).status == "cancelled"


# ------------------------------------------------------------------ replanning


def test_moved_visits_after_anchor_moves_excludes_done_ones() -> None:
    study = make_study((visit("surg"), visit("m3", 3), visit("m6", 6)))
    old = plan(study, {"surgery": D(2025, 3, 1)})
    new = plan(study, {"surgery": D(2025, 3, 11)})
    moves = moved_visits(old, new, done_keys={"surg"})
    assert [m.visit_key for m in moves] == ["m3", "m6"]
    m3 = moves[0]
    assert (m3.old_target, m3.new_target) == (D(2025, 6, 1), D(2025, 6, 11))
    assert m3.old_window == (D(2025, 5, 25), D(2025, 6, 8))
    assert m3.new_window == (D(2025, 6, 4), D(2025, 6, 18))
    assert m3.name == "M3"
    # Done visits keep their actual dates: nothing about them is reported.
    assert moved_visits(old, new, done_keys={"surg", "m3", "m6"}) == ()


def test_no_move_when_anchor_unchanged() -> None:
    study = make_study((visit("m3", 3),))
    p = plan(study, {"surgery": D(2025, 3, 1)})
    assert moved_visits(p, plan(study, {"surgery": D(2025, 3, 1)}), done_keys=()) == ()


def test_entering_or_clearing_the_anchor_is_a_move() -> None:
    study = make_study((visit("m3", 3),))
    waiting = plan(study, {})
    known = plan(study, {"surgery": D(2025, 3, 1)})
    (entered,) = moved_visits(waiting, known, done_keys=())
    assert (entered.old_target, entered.new_target, entered.old_window) == (
        None, D(2025, 6, 1), None)
    (cleared,) = moved_visits(known, waiting, done_keys=())
    assert (cleared.old_target, cleared.new_target, cleared.new_window) == (
        D(2025, 6, 1), None, None)


def test_move_within_the_same_month_end_is_no_move() -> None:
    # 30 and 31 Jan both give 30 Apr at 3 months, but the window start is the same too.
    study = make_study((visit("m3", 3),))
    old = plan(study, {"surgery": D(2025, 1, 30)})
    new = plan(study, {"surgery": D(2025, 1, 31)})
    assert old[0].target == new[0].target == D(2025, 4, 30)
    assert moved_visits(old, new, done_keys=()) == ()


# ------------------------------------------------------------------ real protocol: NCT03862768


def test_nct03862768_schedule_from_its_protocol_file() -> None:
    study = load_study(SEEDS_DIR / "nct03862768_focal_progression.toml")
    planned = plan(study, {"randomization": D(2025, 8, 31)})
    got = [(p.visit_key, p.name, p.target) for p in planned]
    assert got == [
        ("baseline", "Baseline", D(2025, 8, 31)),
        ("fu_q3m_1", "Month 3", D(2025, 11, 30)),
        ("fu_q3m_2", "Month 6", D(2026, 2, 28)),
        ("fu_q3m_3", "Month 9", D(2026, 5, 31)),  # not 28 May: counted from the anchor
        ("fu_q3m_4", "Month 12", D(2026, 8, 31)),
        ("fu_q6m_1", "Month 18", D(2027, 2, 28)),
        ("fu_q6m_2", "Month 24", D(2027, 8, 31)),
    ]
    windows = {p.visit_key: (p.window_start, p.window_end) for p in planned}
    assert windows["baseline"] == (D(2025, 8, 3), D(2025, 8, 31))
    assert windows["fu_q3m_1"] == (D(2025, 11, 16), D(2025, 12, 14))
    assert windows["fu_q6m_1"] == (D(2027, 1, 31), D(2027, 3, 28))
    assert all("imaging" in p.assessments for p in planned)


# ------------------------------------------------------------------ timing rules

TIMED = make_study(
    anchors=("imatinib_start", "last_preop_dose", "surgery"),
    timing_rules=(
        TimingRule("preop", "Preoperative imatinib 3–12 months", "imatinib_start",
                   "last_preop_dose", min=Period(months=3), max=Period(months=12)),
        TimingRule("surgery_1w", "Surgery within 1 week", "last_preop_dose", "surgery",
                   max=Period(days=7)),
    ),
)


def checks(start: date | None, last: date | None, surgery: date | None) -> dict[str, tuple[
        str, str]]:
    out = check_timing(TIMED, {"imatinib_start": start, "last_preop_dose": last,
                               "surgery": surgery})
    return {c.rule.key: (c.state, c.message) for c in out}


def test_exactly_three_months_is_enough_two_months_30_days_is_not() -> None:
    assert checks(D(2025, 1, 15), D(2025, 4, 15), None)["preop"] == ("ok", "")
    state, message = checks(D(2025, 1, 15), D(2025, 4, 14), None)["preop"]
    assert state == "violated"
    assert message == ("“Last preop dose” is only 2 months 30 days after “Imatinib start” "
                       "(at least 3 months)")


def test_three_months_from_a_month_end() -> None:
    assert checks(D(2025, 1, 31), D(2025, 4, 30), None)["preop"][0] == "ok"
    assert checks(D(2025, 1, 31), D(2025, 4, 29), None)["preop"][0] == "violated"


def test_twelve_months_is_the_upper_limit() -> None:
    assert checks(D(2025, 1, 15), D(2026, 1, 15), None)["preop"][0] == "ok"
    state, message = checks(D(2025, 1, 15), D(2026, 1, 16), None)["preop"]
    assert state == "violated"
    assert message == ("“Last preop dose” is 12 months 1 day after “Imatinib start” "
                       "(at most 12 months)")


@pytest.mark.parametrize(("surgery", "state"), [
    (D(2025, 4, 15), "ok"),   # same day
    (D(2025, 4, 22), "ok"),   # 7 days
    (D(2025, 4, 23), "violated"),  # 8 days
])
def test_surgery_within_seven_days(surgery: date, state: str) -> None:
    assert checks(D(2025, 1, 15), D(2025, 4, 15), surgery)["surgery_1w"][0] == state


def test_surgery_message_names_days_and_limit() -> None:
    state, message = checks(D(2025, 1, 15), D(2025, 4, 15), D(2025, 4, 25))["surgery_1w"]
    assert state == "violated"
    assert message == "“Surgery” is 10 days after “Last preop dose” (at most 7 days)"


def test_end_before_start_is_a_problem() -> None:
    state, message = checks(D(2025, 1, 15), D(2025, 4, 15), D(2025, 4, 13))["surgery_1w"]
    assert state == "violated"
    assert message == ("“Surgery” is 2 days before “Last preop dose”: it must not come "
                       "before it")


def test_unknown_dates_are_not_problems_but_say_so() -> None:
    result = check_timing(TIMED, {"imatinib_start": D(2025, 1, 15)})
    assert [(c.rule.key, c.state, c.checkable, c.problem) for c in result] == [
        ("preop", "unknown", False, False), ("surgery_1w", "unknown", False, False)]
    assert result[0].missing == ("last_preop_dose",)
    assert result[1].missing == ("last_preop_dose", "surgery")
    assert "Last preop dose" in result[0].message
    assert timing_problems(TIMED, {"imatinib_start": D(2025, 1, 15)}) == ()


def test_timing_problems_lists_only_violations() -> None:
    anchors = {"imatinib_start": D(2025, 1, 15), "last_preop_dose": D(2025, 3, 1),
               "surgery": D(2025, 3, 5)}
    assert [c.rule.key for c in timing_problems(TIMED, anchors)] == ["preop"]
    result = check_timing(TIMED, anchors)
    assert result[1].start_date == D(2025, 3, 1)
    assert result[1].end_date == D(2025, 3, 5)


# ------------------------------------------------------------------ worklist

WL_STUDY = make_study((visit("m3", 3), visit("m6", 6), visit("m9", 9)))


def entries_for(pid: str, surgery: date, **by_key: dict[str, Any]) -> list[WorklistEntry]:
    return [WorklistEntry(pid, "TEST", p, **by_key.get(p.visit_key, {}))
            for p in plan(WL_STUDY, {"surgery": surgery})]


def test_worklist_due_overdue_and_out_of_window() -> None:
    today = D(2025, 6, 2)
    week = (D(2025, 6, 2), D(2025, 6, 8))
    entries = [
        # S-001: surgery 1 Mar -> m3 window 25 May–8 Jun (due this week)
        *entries_for("S-001", D(2025, 3, 1)),
        # S-002: surgery 1 Dec 2024 -> m3 (22 Feb–8 Mar) overdue; m6 (25 May–8 Jun) done
        # early on 20 May, a deviation but not in this week
        *entries_for("S-002", D(2024, 12, 1), m6={"done_on": D(2025, 5, 20)}),
        # S-003: surgery 10 Mar -> m3 window 3–17 Jun: opens this week (upcoming today)
        *entries_for("S-003", D(2025, 3, 10)),
        # S-004: surgery 5 Dec -> m3 missed, m6 (29 May–12 Jun) done in window: not listed
        *entries_for("S-004", D(2024, 12, 5), m3={"missed": True},
                     m6={"done_on": D(2025, 6, 2)}),
        # S-005: ended before m3 window: nothing
        *entries_for("S-005", D(2025, 3, 1), m3={"ended_on": D(2025, 5, 1)},
                     m6={"ended_on": D(2025, 5, 1)}, m9={"ended_on": D(2025, 5, 1)}),
        # S-006: done out of window during the week
        *entries_for("S-006", D(2025, 2, 20), m3={"done_on": D(2025, 6, 3)}),
    ]
    rows = worklist(entries, start=week[0], end=week[1], today=D(2025, 6, 4))
    got = [(r.reason, r.entry.patient_study_id, r.entry.planned.visit_key, r.status.status)
           for r in rows]
    assert got == [
        ("overdue", "S-002", "m3", "overdue"),
        ("due", "S-001", "m3", "due"),
        ("due", "S-003", "m3", "due"),
        ("done_out_of_window", "S-006", "m3", "done_out_of_window"),
    ]
    # Seen from 2 June, S-003 is upcoming but still on this week's list; S-006's visit
    # on 3 June has not happened yet, so the out-of-window row is not there.
    early = worklist(entries[:-3], start=week[0], end=week[1], today=today)
    assert [(r.entry.patient_study_id, r.status.status) for r in early
            if r.reason == "due"] == [("S-001", "due"), ("S-003", "upcoming")]


def test_worklist_edges_of_the_period() -> None:
    # m3 window 25 May–8 Jun 2025.
    entries = entries_for("S-001", D(2025, 3, 1))[:1]
    today = D(2025, 5, 1)
    assert worklist(entries, start=D(2025, 6, 8), end=D(2025, 6, 14), today=today)
    assert not worklist(entries, start=D(2025, 6, 9), end=D(2025, 6, 15), today=today)
    assert worklist(entries, start=D(2025, 5, 18), end=D(2025, 5, 25), today=today)
    assert not worklist(entries, start=D(2025, 5, 17), end=D(2025, 5, 24), today=today)


def test_worklist_skips_waiting_and_refuses_reversed_period() -> None:
    entries = [WorklistEntry("S-9", "TEST", p) for p in plan(WL_STUDY, {})]
    assert worklist(entries, start=D(2025, 1, 1), end=D(2030, 1, 1), today=D(2030, 1, 1)) == ()
    with pytest.raises(InputError):
        worklist([], start=D(2025, 1, 2), end=D(2025, 1, 1), today=D(2025, 1, 1))


# ------------------------------------------------------------------ the other real protocols


def real_study(key: str) -> Study:
    result = load_studies(SEEDS_DIR)
    for study in result.studies:
        if study.key == key:
            return study
    pytest.fail(f"study {key} not found in {SEEDS_DIR}; load errors: {result.errors}")


def test_rectal_questionnaires_count_from_surgery() -> None:
    study = real_study("RECTAL-LE")
    waiting = plan(study, {"enrollment": D(2025, 1, 10)})
    questionnaires = [p for p in waiting if "qlq_c30" in p.assessments]
    assert questionnaires[0].visit_key == "baseline"
    assert questionnaires[0].target == D(2025, 1, 10)
    assert all(p.target is None for p in questionnaires[1:])
    assert all(status(p, today=D(2025, 6, 1)).status == "waiting" for p in questionnaires[1:])

    planned = plan(study, {"enrollment": D(2025, 1, 10), "surgery": D(2025, 8, 31)})
    after_surgery = [p for p in planned if "qlq_c30" in p.assessments and p.anchor == "surgery"]
    assert [p.target for p in after_surgery] == [
        D(2025, 11, 30), D(2026, 8, 31), D(2027, 8, 31), D(2028, 8, 31)]
    assert all({"qlq_cr29", "lars"} <= set(p.assessments) for p in after_surgery)


def test_nct04933669_timing_rules_from_the_protocol_file() -> None:
    study = real_study("NCT04933669")
    ok = {"imatinib_start": D(2025, 1, 15), "last_preop_dose": D(2025, 4, 15),
          "surgery": D(2025, 4, 22)}
    assert [c.state for c in check_timing(study, ok)] == ["ok", "ok"]
    short = dict(ok, last_preop_dose=D(2025, 4, 14), surgery=D(2025, 4, 21))
    assert [c.state for c in check_timing(study, short)] == ["violated", "ok"]
    late = dict(ok, surgery=D(2025, 4, 25))
    problems = timing_problems(study, late)
    assert [c.rule.key for c in problems] == ["surgery_within_1_week"]
    assert "10 days" in problems[0].message and "7 days" in problems[0].message
    assert [c.state for c in check_timing(study, {"imatinib_start": D(2025, 1, 15)})] == [
        "unknown", "unknown"]


def test_nct04933669_postoperative_visits_wait_for_surgery() -> None:
    study = real_study("NCT04933669")
    planned = plan(study, {"imatinib_start": D(2025, 1, 15)})
    by_anchor = {p.anchor for p in planned if p.target is None}
    assert by_anchor == {"surgery"}
    planned = plan(study, {"imatinib_start": D(2025, 1, 15), "surgery": D(2025, 7, 31)})
    postop = {p.visit_key: p.target for p in planned if p.anchor == "surgery"}
    assert postop["postop_q3m_1"] == D(2025, 10, 31)
    assert postop["postop_q3m_12"] == D(2028, 7, 31)
    assert postop["postop_q6m_1"] == D(2029, 1, 31)


def test_preop_duration_annual_abstraction_points() -> None:
    study = real_study("PREOP-DURATION")
    planned = plan(study, {"surgery": D(2016, 2, 29)})
    annual = [p for p in planned if p.visit_key.startswith("fu_annual")]
    assert [p.target for p in annual] == [D(2017, 2, 28), D(2018, 2, 28), D(2019, 2, 28),
                                          D(2020, 2, 29), D(2021, 2, 28)]
    assert (annual[0].window_start, annual[0].window_end) == (D(2016, 11, 28), D(2017, 5, 28))


def test_nct06038552_follow_up_to_month_200() -> None:
    study = real_study("NCT06038552")
    planned = plan(study, {"liver_mets_diagnosis": D(2024, 2, 29)})
    follow = [p for p in planned
              if p.anchor == "liver_mets_diagnosis" and p.visit_key != "lm_baseline"]
    targets = [p.target for p in follow if p.target is not None]
    assert len(targets) == len(follow) == 10 + 11 + 1
    assert targets == sorted(targets)
    assert len(targets) == len(set(targets))
    assert follow[-1].target == D(2040, 10, 29)
    assert follow[0].target == D(2024, 8, 29)
    # Visits of the other anchors wait.
    assert {p.anchor for p in planned if p.target is None} == {"enrollment", "local_treatment"}

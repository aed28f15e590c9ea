"""The protocol model's records (issue 17: no dataclasses at start-up) behave as the frozen
dataclasses they replace: construction, defaults, immutability, equality, hashing, repr,
replace (ours and dataclasses'), pickling and copying — checked against a real frozen
dataclass declared the same way."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import date

import pytest

from gisttracker.protocols.files import SEEDS_DIR
from gisttracker.protocols.loader import load_study
from gisttracker.protocols.model import AnalysisPlan, Period, Rule, Study
from gisttracker.protocols.record import FrozenInstanceError, Record, field, replace


class Sample(Record):
    name: str
    size: int = 3
    tags: tuple[str, ...] = ()
    plan: AnalysisPlan = field(default_factory=AnalysisPlan)
    note: str = field(default="", repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class Twin:
    name: str
    size: int = 3
    tags: tuple[str, ...] = ()
    plan: AnalysisPlan = dataclasses.field(default_factory=AnalysisPlan)
    note: str = dataclasses.field(default="", repr=False, compare=False)


def test_construction_and_defaults_as_a_dataclass() -> None:
    for args, kwargs in [(("a",), {}), (("a", 5), {}), ((), {"name": "a", "tags": ("x",)}),
                         (("a",), {"note": "n", "size": 0})]:
        ours, theirs = Sample(*args, **kwargs), Twin(*args, **kwargs)
        assert [getattr(ours, f.name) for f in dataclasses.fields(Twin)] == [
            getattr(theirs, f.name) for f in dataclasses.fields(Twin)]
        assert repr(ours).replace("Sample", "Twin") == repr(theirs)
    # Each record gets its own default_factory value.
    assert Sample("a").plan == Sample("b").plan and Sample("a").plan is not Sample("b").plan
    for bad_args, bad_kwargs in [((), {}), (("a", 1, (), AnalysisPlan(), "", "extra"), {}),
                                 (("a",), {"name": "b"}), (("a",), {"colour": "red"})]:
        with pytest.raises(TypeError):
            Sample(*bad_args, **bad_kwargs)
        with pytest.raises(TypeError):
            Twin(*bad_args, **bad_kwargs)


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default"):
        class Wrong(Record):
            first: int = 0
            second: int


def test_records_are_immutable() -> None:
    record = Sample("a")
    with pytest.raises(FrozenInstanceError):
        record.size = 4  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del record.name  # type: ignore[misc]
    with pytest.raises(AttributeError):
        record.other = 1  # type: ignore[attr-defined]
    assert record.size == 3


def test_equality_and_hash_follow_the_compared_fields() -> None:
    a, b = Sample("a", note="one"), Sample("a", note="two")
    assert a == b and hash(a) == hash(b)  # note is not compared
    assert Sample("a") != Sample("a", size=4)
    assert Sample("a") != Twin("a")  # another class is never equal
    assert len({Period(1), Period(1), Period(0, 4)}) == 2
    assert Period(months=1) == Period(1, 0, 0) and Period(1) != Period(0, 0, 30)
    single = Rule(op="all")
    assert single == Rule("all") and hash(single) == hash(Rule("all"))


def test_replace_ours_and_dataclasses() -> None:
    record = Sample("a", tags=("x",), note="kept")
    for changed in (replace(record, size=9), dataclasses.replace(record, size=9)):
        assert (changed.name, changed.size, changed.tags, changed.note) == ("a", 9, ("x",),
                                                                           "kept")
        assert record.size == 3
    assert dataclasses.is_dataclass(record) and dataclasses.is_dataclass(Period)
    assert [f.name for f in dataclasses.fields(Sample)] == [f.name for f in
                                                             dataclasses.fields(Twin)]
    assert dataclasses.asdict(Period(1, 2, 3)) == {"months": 1, "weeks": 2, "days": 3}
    with pytest.raises(TypeError):
        replace(Twin("a"), size=1)  # type: ignore[type-var]


def test_a_study_pickles_copies_and_replaces_whole() -> None:
    study = load_study(SEEDS_DIR / "nct04933669_neoadjuvant.toml")
    # Cached properties filled in before the copies are made travel with them.
    assert isinstance(study.enrollment_anchors, frozenset)
    assert study.visit_name(study.visits[0].key, "stored") == study.visits[0].name
    for other in (pickle.loads(pickle.dumps(study)), copy.copy(study), copy.deepcopy(study)):
        assert other == study and other.text == study.text
        assert other.visits[3].target(date(2026, 1, 31)) == study.visits[3].target(
            date(2026, 1, 31))
    changed = dataclasses.replace(study, target_enrollment=1)
    assert isinstance(changed, Study) and changed.target_enrollment == 1
    assert changed.visits == study.visits and changed != study


def test_periods_add_calendar_months() -> None:
    assert Period(months=1).after(date(2026, 1, 31)) == date(2026, 2, 28)
    assert Period(months=1).before(date(2026, 3, 31)) == date(2026, 2, 28)
    assert Period(weeks=1, days=1).after(date(2026, 1, 31)) == date(2026, 2, 8)

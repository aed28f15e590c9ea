"""Protocol files are data a site edits: every number has bounds, size and nesting are limited
before parsing, site copies keep the key of the file they replace, and every study rule the
application applies is declared in the file (anchors that follow the course, group rules,
strata and where their values come from, treatment limits, response rules, endpoints)."""

from __future__ import annotations

import contextlib
import copy
import random
import shutil
import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gisttracker.protocols import ProtocolError, load_studies
from gisttracker.protocols.loader import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    SEEDS_DIR,
    _build_study,
    _nesting_depth,
    load_study,
    parse_study,
)
from gisttracker.protocols.model import (
    AnchorSource,
    DurationSpan,
    GroupRule,
    Period,
    ResponseRules,
    TreatmentRule,
)

FILES = {
    "RECTAL-LE": "rectal_organ_preservation.toml",
    "NCT03862768": "nct03862768_focal_progression.toml",
    "NCT04933669": "nct04933669_neoadjuvant.toml",
    "PREOP-DURATION": "retrospective_preop_duration.toml",
    "NCT06038552": "nct06038552_liver_metastases.toml",
}


def seed_text(key: str) -> str:
    return (SEEDS_DIR / FILES[key]).read_text(encoding="utf-8")


def edited(key: str, *pairs: tuple[str, str]) -> str:
    text = seed_text(key)
    for old, new in pairs:
        assert old in text, f"{old!r} no longer in {FILES[key]}: update the test"
        text = text.replace(old, new, 1)
    return text


def refused(key: str, *pairs: tuple[str, str]) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_study(edited(key, *pairs), FILES[key])
    return info.value


# ---------------------------------------------------------------- bounds on every number

NEO = "NCT04933669"
BOUNDS: list[tuple[str, str, tuple[str, str], str]] = [
    ("window of ten million days", NEO,
     ('window_before = { days = 28 }', 'window_before = { days = 10000000 }'),
     "visits[0].window_before"),
    ("window of 13 months", NEO,
     ('window_before = { days = 28 }', 'window_before = { months = 13 }'),
     "visits[0].window_before"),
    ("a visit 1,000 years out", NEO,
     ('offset = { months = 42 }', 'offset = { months = 12000 }'), "visits[6].offset"),
    ("a repeat reaching 80 years", NEO,
     ('repeat = { every = { months = 6 }, count = 4 }',
      'repeat = { every = { months = 240 }, count = 4 }'), "visits[6].repeat.count"),
    ("a repeat of ten thousand", NEO,
     ('repeat = { every = { months = 6 }, count = 4 }',
      'repeat = { every = { days = 1 }, count = 10000 }'), "visits[6].repeat.count"),
    ("a period part beyond any calendar", NEO,
     ('offset = { months = 42 }', 'offset = { days = 99999999999999999 }'),
     "visits[6].offset"),
    ("a horizon of 1,000 years", NEO,
     ('horizon = { months = 60 }', 'horizon = { months = 12000 }'), "endpoints[0].horizon"),
    ("a timing limit of a million days", NEO,
     ('max = { days = 7 }', 'max = { days = 1000000 }'), "timing_rules[1].max"),
    ("a negative timing limit", NEO,
     ('max = { days = 7 }', 'max = { days = -7 }'), "timing_rules[1].max"),
    ("a target of a billion", NEO,
     ("target_enrollment = 122", "target_enrollment = 1000000000"), "target_enrollment"),
    ("a ULN multiple of a billion", NEO,
     ('{ field = "ast", op = ">", uln = 2.5 }', '{ field = "ast", op = ">", uln = 1e9 }'),
     "criteria[9].rule.any[0].uln"),
    ("an infinite threshold", NEO,
     ('{ field = "anc", op = "<", value = 1.5,', '{ field = "anc", op = "<", value = inf,'),
     "criteria[10].rule.any[0].value"),
    ("a minimum SD duration of two years", NEO,
     ("sd_min_duration = { weeks = 6 }", "sd_min_duration = { months = 24 }"),
     "response.sd_min_duration"),
    ("a treatment limit of 1,000 years", NEO,
     ("max = { months = 36 }", "max = { months = 12000 }"), "treatment_rules[0].max"),
    ("block size 1000", "NCT03862768", ("block_sizes = [2, 4]", "block_sizes = [2, 1000]"),
     "allocation.block_sizes"),
    ("a ratio part of 100", "NCT03862768",
     ("ratio = [1, 1]\nblock_sizes = [2, 4]", "ratio = [100, 100]\nblock_sizes = [200]"),
     "allocation.block_sizes"),
    ("a dose of 10^30 mg/day", "NCT03862768",
     ("dose_mg_per_day = 600", "dose_mg_per_day = 1e30"), "arms[1].options[0].dose_mg_per_day"),
    ("a group of 10,000 months", "PREOP-DURATION",
     ('{ arm = "MID", max_months = 12 }', '{ arm = "MID", max_months = 10000 }'),
     "allocation.groups[1].max_months"),
    ("a key with spaces and quotes", NEO, ('key = "NCT04933669"', "key = \"NCT 0493'3669\""),
     "key"),
]


@pytest.mark.parametrize(("case", "study", "change", "where"), BOUNDS,
                         ids=[case[0] for case in BOUNDS])
def test_absurd_numbers_are_refused_with_file_and_key(case: str, study: str,
                                                      change: tuple[str, str],
                                                      where: str) -> None:
    error = refused(study, change)
    assert (error.file, error.key) == (FILES[study], where), (case, str(error))


def test_a_study_without_visits_is_refused() -> None:
    text = seed_text("NCT06038552")
    head, _sep, _rest = text.partition("[[visits]]")
    tail = text[text.index("[[endpoints]]"):]
    with pytest.raises(ProtocolError) as info:
        parse_study(head + tail, FILES["NCT06038552"])
    assert info.value.key == "visits"


def test_the_shipped_files_are_well_inside_the_bounds() -> None:
    for name in FILES.values():
        assert (SEEDS_DIR / name).stat().st_size < MAX_FILE_BYTES // 20


# ---------------------------------------------------------------- size and nesting


def test_a_file_nested_3000_levels_deep_is_refused_quickly(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("schema = 1\nx = " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    inline = tmp_path / "inline.toml"
    inline.write_text("x = " + "{ a = " * 3000 + "1" + " }" * 3000 + "\n", encoding="utf-8")
    dotted = tmp_path / "dotted.toml"
    dotted.write_text("a" + ".a" * 3000 + " = 1\n", encoding="utf-8")
    started = time.perf_counter()
    for path in (deep, inline, dotted):
        with pytest.raises(ProtocolError) as info:
            load_study(path)
        assert info.value.key == "(file)"
        assert f"nested more than {MAX_DEPTH} levels" in info.value.message
    assert time.perf_counter() - started < 2


def test_brackets_inside_strings_and_comments_do_not_count_as_nesting() -> None:
    text = seed_text(NEO).replace(
        'short_title = "Neoadjuvant imatinib, high-risk GIST"',
        'short_title = "Neoadjuvant imatinib, high-risk GIST ' + "[" * 100 + '"\n'
        "# " + "{" * 100, 1)
    assert parse_study(text, FILES[NEO]).short_title.endswith("[" * 100)


def _depth_by_character(text: str) -> int:
    """The nesting depth as first written, one character at a time: the definition
    :func:`_nesting_depth` (which lets regular expressions skip text) must keep."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in "\"'":
            quote = c
            triple = text.startswith(quote * 3, i)
            end = quote * 3 if triple else quote
            i += len(end)
            while i < n and not text.startswith(end, i):
                if quote == '"' and text[i] == "\\":
                    i += 1
                elif not triple and text[i] == "\n":
                    break
                i += 1
            i += len(end)
            continue
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest


# Text made of what the depth scan reacts to (and a little else), so that strings, escapes,
# comments and brackets meet in every order.
TOML_BITS = st.lists(st.sampled_from(
    ['"', "'", '"""', "\'\'\'", "\\", "\n", "#", "[", "]", "{", "}", "[[", "]]", "a", " = ",
     "é", "胃"]), max_size=60).map("".join)


@settings(max_examples=1500, deadline=None)
@given(TOML_BITS)
def test_the_nesting_depth_is_the_character_by_character_one(text: str) -> None:
    assert _nesting_depth(text) == _depth_by_character(text)


def test_the_nesting_depth_of_every_shipped_file_is_the_character_by_character_one() -> None:
    for path in sorted(SEEDS_DIR.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        assert _nesting_depth(text) == _depth_by_character(text) >= 2, path.name


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text(seed_text(NEO) + "# " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match="larger than"):
        load_study(big)


def test_a_broken_file_does_not_stop_the_other_studies(tmp_path: Path) -> None:
    for name in FILES.values():
        shutil.copy(SEEDS_DIR / name, tmp_path / name)
    (tmp_path / "zz_deep.toml").write_text("x = " + "[" * 3000 + "]" * 3000, encoding="utf-8")
    result = load_studies(tmp_path)
    assert {s.key for s in result.studies} == set(FILES)
    assert [e.file for e in result.errors] == ["zz_deep.toml"]


# ---------------------------------------------------------------- site copies and their keys


def _site(tmp_path: Path, name: str, text: str) -> Path:
    site = tmp_path / "protocols"
    site.mkdir(exist_ok=True)
    (site / name).write_text(text, encoding="utf-8")
    return site


def test_a_site_copy_whose_key_names_another_study_is_refused(tmp_path: Path) -> None:
    # The neoadjuvant file copied over the liver study's name: it must not replace either.
    site = _site(tmp_path, FILES["NCT06038552"], seed_text(NEO))
    result = load_studies(SEEDS_DIR, site)
    studies = {s.key: s for s in result.studies}
    assert studies[NEO].path == FILES[NEO]            # the neoadjuvant study is the shipped one
    assert "NCT06038552" not in studies               # the study the site meant to change
    (error,) = result.errors
    assert (error.file, error.key, error.study) == (FILES["NCT06038552"], "key", "NCT06038552")
    assert "NCT04933669" in error.message and "must keep the key" in error.message
    assert list(result.blocked) == ["NCT06038552"]


def test_two_site_files_with_one_key_block_the_study(tmp_path: Path) -> None:
    _site(tmp_path, "ours_a.toml", seed_text(NEO))
    site = _site(tmp_path, "ours_b.toml", edited(NEO, ("target_enrollment = 122",
                                                        "target_enrollment = 130")))
    result = load_studies(SEEDS_DIR, site)
    assert NEO not in {s.key for s in result.studies}
    assert sorted(e.file for e in result.errors) == ["ours_a.toml", "ours_b.toml"]
    assert all("ours_a.toml, ours_b.toml" in e.message for e in result.errors)
    assert list(result.blocked) == [NEO]


def test_a_site_copy_under_another_name_replaces_the_study_with_its_key(tmp_path: Path) -> None:
    site = _site(tmp_path, "our_neoadjuvant.toml",
                 edited(NEO, ("target_enrollment = 122", "target_enrollment = 130")))
    result = load_studies(SEEDS_DIR, site)
    assert result.errors == () and dict(result.blocked) == {}
    studies = {s.key: s for s in result.studies}
    assert (studies[NEO].path, studies[NEO].target_enrollment) == ("our_neoadjuvant.toml", 130)
    assert studies[NEO].digest != load_study(SEEDS_DIR / FILES[NEO]).digest


def test_an_unreadable_site_copy_named_like_a_shipped_file_blocks_that_study(
        tmp_path: Path) -> None:
    site = _site(tmp_path, FILES[NEO], "this is not TOML")
    result = load_studies(SEEDS_DIR, site)
    assert NEO not in {s.key for s in result.studies}
    assert result.blocked[NEO][0].key == "(syntax)"


def test_an_unreadable_new_site_file_is_reported_without_blocking_anything(
        tmp_path: Path) -> None:
    site = _site(tmp_path, "notes.toml", "this is not TOML")
    result = load_studies(SEEDS_DIR, site)
    assert {s.key for s in result.studies} == set(FILES)
    assert [e.file for e in result.errors] == ["notes.toml"] and dict(result.blocked) == {}


# ---------------------------------------------------------------- the rules, declared


def test_anchors_that_follow_the_course_are_declared() -> None:
    neo = parse_study(seed_text(NEO), FILES[NEO])
    by_key = {a.key: a.set_by for a in neo.anchors}
    assert by_key == {
        "imatinib_start": AnchorSource("first_dose", "imatinib", "preoperative"),
        "last_preop_dose": AnchorSource("last_dose", "imatinib", "preoperative"),
        "surgery": AnchorSource("first_surgery"),
    }
    liver = parse_study(seed_text("NCT06038552"), FILES["NCT06038552"])
    local = next(a for a in liver.anchors if a.key == "local_treatment")
    assert local.set_by == AnchorSource("first_surgery",
                                        procedures=("hepatic_resection", "rfa", "tace"))


@pytest.mark.parametrize(("change", "where"), [
    (('source = "enrollment"\ndescription = "Date the patient is entered in the study',
      'source = "enrollment"\nset_by = { record = "first_surgery" }\n'
      'description = "Date the patient is entered in the study'), "anchors[1].set_by"),
    (('set_by = { record = "first_surgery", procedures',
      'set_by = { record = "last_surgery", procedures'), "anchors[2].set_by.record"),
    (('procedures = ["hepatic_resection", "rfa", "tace"] }',
      'procedures = ["hepatic_resection", "laser"] }'), "anchors[2].set_by.procedures"),
])
def test_a_wrong_anchor_source_is_refused(change: tuple[str, str], where: str) -> None:
    assert refused("NCT06038552", change).key == where


def test_group_rules_of_the_liver_study_are_declared_in_order() -> None:
    liver = parse_study(seed_text("NCT06038552"), FILES["NCT06038552"])
    assert liver.allocation.rules == (GroupRule("IM_HR", ("hepatic_resection",)),
                                      GroupRule("IM_LOCAL", ("rfa", "tace")),
                                      GroupRule("IM"))
    assert liver.allocation.group_procedures == ("hepatic_resection", "rfa", "tace")


@pytest.mark.parametrize(("change", "where"), [
    (('[[allocation.rules]]\narm = "IM"\n', ''), "allocation.rules"),        # no default
    (('arm = "IM_LOCAL"\nprocedures = ["rfa", "tace"]',
      'arm = "IM_HR"\nprocedures = ["rfa", "tace"]'), "allocation.rules"),   # IM_LOCAL unreached
    (('procedures = ["rfa", "tace"]', 'procedures = ["rfa", "cryoablation"]'),
     "allocation.rules[1].procedures"),
    (('[[allocation.rules]]\narm = "IM_HR"\nprocedures = ["hepatic_resection"]\n',
      '[[allocation.rules]]\narm = "IM_HR"\n'), "allocation.rules[1].arm"),  # default first
])
def test_wrong_group_rules_are_refused(change: tuple[str, str], where: str) -> None:
    assert refused("NCT06038552", change).key == where


def test_duration_groups_name_the_anchors_they_count_between() -> None:
    cohort = parse_study(seed_text("PREOP-DURATION"), FILES["PREOP-DURATION"])
    assert cohort.allocation.duration == DurationSpan("imatinib_start", "last_preop_dose")
    error = refused("PREOP-DURATION", ('duration = { start = "imatinib_start", ',
                                       'duration = { start = "operation", '))
    assert error.key == "allocation.duration.start"


@pytest.mark.parametrize(("strata", "ok"), [
    ('["site"]', True), ('["site", "sex"]', True), ('["progressive_organs"]', True),
    ('["ecog", "primary_site"]', True), ('["prior_line"]', False),
    ('["progressive_organ"]', False), ('["tumour_size_cm"]', False), ('["site", "site"]', False),
])
def test_a_stratum_names_where_its_value_comes_from(strata: str, ok: bool) -> None:
    text = edited("NCT03862768", ('strata = ["site"]', f"strata = {strata}"))
    if ok:
        assert parse_study(text, "x.toml").allocation.strata == tuple(
            s.strip(' "') for s in strata.strip("[]").split(","))
    else:
        with pytest.raises(ProtocolError) as info:
            parse_study(text, "x.toml")
        assert info.value.key == "allocation.strata"


def test_treatment_rules_and_response_rules_are_declared() -> None:
    neo = parse_study(seed_text(NEO), FILES[NEO])
    assert neo.treatment_rules == (TreatmentRule(
        "adjuvant_36_months", "Adjuvant imatinib for 36 months after complete resection",
        "imatinib", "postoperative", None, Period(months=36)),)
    assert neo.response == ResponseRules("imatinib_start", Period(weeks=6), False, None)
    error = refused(NEO, ("confirm = false", "confirm = true"))
    assert error.key == "response.confirm_after"
    confirmed = parse_study(edited(NEO, ("confirm = false",
                                         "confirm = true\nconfirm_after = { weeks = 4 }")), "x")
    assert confirmed.response == ResponseRules("imatinib_start", Period(weeks=6), True,
                                               Period(weeks=4))


def test_every_endpoint_of_the_five_studies_is_declared_precisely() -> None:
    result = load_studies()
    for study in result.studies:
        for endpoint in study.endpoints:
            assert endpoint.type is not None, (study.key, endpoint.key)
            if endpoint.type == "time_to_event":
                assert endpoint.events and endpoint.measured_from and endpoint.censor
            if endpoint.type in ("proportion", "descriptive"):
                assert endpoint.measure
            if endpoint.type == "repeated_measure":
                assert endpoint.instruments and endpoint.visits
    rectal = next(s for s in result.studies if s.key == "RECTAL-LE")
    local = next(e for e in rectal.endpoints if e.key == "local_recurrence")
    assert (local.events, local.competing) == (("local_recurrence", "regrowth"), ("death",))
    qol = next(e for e in rectal.endpoints if e.key == "qol")
    assert qol.visits == ("baseline", "fu_m3", "fu_m12", "fu_m24", "fu_m36")


@pytest.mark.parametrize(("change", "where"), [
    (('events = ["progression", "death"]\ncensor = "last_tumour_assessment"',
      'censor = "last_tumour_assessment"'), "endpoints[0].events"),
    (('events = ["progression", "death"]', 'events = ["progression", "relapse"]'),
     "endpoints[0].events"),
    (('measure = "objective_response"', 'measure = "objective_respons"'),
     "endpoints[1].measure"),
    (('type = "proportion"\nmeasure = "r0_resection"',
      'type = "proportion"\nmeasure = "r0_resection"\nevents = ["death"]'),
     "endpoints[2].events"),
])
def test_an_endpoint_declaration_that_cannot_be_computed_is_refused(
        change: tuple[str, str], where: str) -> None:
    assert refused(NEO, change).key == where


def test_a_repeated_measure_at_a_visit_that_does_not_record_it_is_refused() -> None:
    error = refused("RECTAL-LE", ('visits = ["baseline", "fu_m3", "fu_m12", "fu_m24", "fu_m36"]'
                                  '\nhorizon = { months = 36 }\nmeasured_from = "surgery"\n'
                                  'definition = "Quality',
                                  'visits = ["baseline", "fu_m6"]\nhorizon = { months = 36 }\n'
                                  'measured_from = "surgery"\ndefinition = "Quality'))
    assert error.key.endswith(".visits") and "fu_m6" in error.message


def test_an_endpoint_of_the_first_format_still_loads_and_is_not_computed() -> None:
    text = edited("NCT06038552", ('type = "time_to_event"\nevents = ["death"]\n'
                                  'censor = "last_contact"\n', ""))
    (endpoint,) = parse_study(text, "x.toml").endpoints
    assert (endpoint.type, endpoint.events) == (None, ())


# ---------------------------------------------------------------- nothing but ProtocolError

_ODD_VALUES: list[object] = [-1, 0, 10**12, 1e308, float("nan"), float("inf"), "", "x" * 100,
                             [], {}, True, [1, "a"], [{}], {"a": 1}, 3.5]


def _leaves(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    items = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else ())
    for key, value in items:
        found.append((*path, key))
        found.extend(_leaves(value, (*path, key)))
    return found


@pytest.mark.parametrize("key", sorted(FILES))
def test_any_odd_value_anywhere_is_a_protocol_error_never_a_crash(key: str) -> None:
    """Each shipped file with 300 random edits (a value of the wrong type or size, a key
    removed): the loader refuses with ProtocolError or loads, and nothing else escapes."""
    text = seed_text(key)
    base = tomllib.loads(text)
    paths = _leaves(base)
    rng = random.Random(key)
    for _n in range(300):
        data = copy.deepcopy(base)
        for _edit in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            node: object = data
            try:
                for step in path[:-1]:
                    node = node[step]  # type: ignore[index]
                if isinstance(node, dict) and rng.random() < 0.15:
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                continue  # an earlier edit replaced a parent
        with contextlib.suppress(ProtocolError):
            _build_study(data, text, FILES[key])

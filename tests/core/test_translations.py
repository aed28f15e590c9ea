"""The translations: the catalogue keeps up with the code, a translation keeps its source's
``{fields}``, the language is chosen as documented, and Simplified Chinese really shows."""

from __future__ import annotations

import argparse
import gettext
from collections.abc import Iterator
from pathlib import Path

import pytest

from gisttracker import i18n
from gisttracker.cli import main as cli_main
from gisttracker.i18n import ARGPARSE_DOMAIN, LocalText, join_list, join_sentences, local
from gisttracker.i18n_tools import (
    FIX_COMMAND,
    Problem,
    check,
    check_argparse,
    compile_catalogues,
    extract,
    extract_argparse,
    field_problems,
    hidden_from_extractor,
    po_path,
    pseudo_translations,
    read,
)
from gisttracker.protocols import load_studies
from gisttracker.protocols.loader import ProtocolError, parse_study
from gisttracker.protocols.model import Period
from gisttracker.services.settings import SettingsService, read_site_language
from gisttracker.session import Session


def test_the_catalogue_matches_the_code_and_zh_cn_is_complete() -> None:
    problems = check()
    assert not problems, (
        f"the translation catalogues are behind the code; run `{FIX_COMMAND}`, translate "
        f"what it lists in resources/translations/zh_CN/LC_MESSAGES/gisttracker.po, then "
        f"`scripts/translations compile`:\n" + "\n".join(map(str, problems[:40])))


def test_the_compiled_catalogue_is_the_po_file(tmp_path: Path) -> None:
    """A stale .mo (the .po edited, compile forgotten) shows old text: say so."""
    shipped = po_path("zh_CN").with_suffix(".mo")
    assert shipped.exists(), "run scripts/translations compile (scripts/setup does it)"
    copy = tmp_path / "zh_CN" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    (copy / "gisttracker.po").write_bytes(po_path("zh_CN").read_bytes())
    [fresh] = compile_catalogues(tmp_path, ["zh_CN"])
    assert fresh.read_bytes() == shipped.read_bytes(), "run scripts/translations compile"


@pytest.mark.parametrize(("source", "translation", "ok"), [
    ("{n} visits", "{n} 次访视", True),
    ("{patient} is {status}", "{patient} 为{status}", True),
    ("Overdue by {n} days", "逾期 {days} 天", False),        # a renamed field
    ("{start} – {end}", "{start}", False),                  # a field dropped
    ("Page {n} of {m}", "第 {n} 页，共 {m} 页，{x}", False),  # a field added
    ("{name!r} is missing", "缺少 {name}", True),           # conversions do not matter
    ("{{n}} is a placeholder", "{{n}} 是占位符", True),     # literal braces are not fields
    ("{n} done", "{n 已完成", False),                        # broken braces
])
def test_a_translation_must_keep_the_fields_of_its_source(
        source: str, translation: str, ok: bool) -> None:
    assert (field_problems(source, translation) == []) is ok


def test_a_plural_translation_keeps_the_fields_of_the_plural_source() -> None:
    assert field_problems(("{n} patient", "{n} patients"), ("{n} 例患者",)) == []
    assert field_problems(("one visit", "{n} visits"), ("访视",)) != []


def test_the_check_names_the_fix_for_a_catalogue_behind_the_code(tmp_path: Path) -> None:
    root = tmp_path / "project"
    for folder in ("gisttracker", "ui"):
        (root / folder).mkdir(parents=True)
    (root / "gisttracker" / "a.py").write_text(
        'from gisttracker.i18n import _\nprint(_("Visit done"))\n'
        'print(f"{_(\'Hidden\')}")\n', encoding="utf-8")
    translations = root / "resources" / "translations"
    problems = [str(p) for p in check(translations, root)]
    assert any("gisttracker.pot" in p and FIX_COMMAND in p for p in problems), problems
    assert any("zh_CN" in p and "missing" in p for p in problems), problems
    assert any("'Hidden'" in p and "f-string" in p for p in problems), problems


def test_the_extractor_sees_every_marked_literal_in_the_code() -> None:
    assert hidden_from_extractor(extract()) == []
    assert isinstance(Problem("x", "y"), Problem)


# ----------------------------------------------------------------------------------------
# Choosing the language


@pytest.mark.parametrize(("code", "expected"), [
    ("zh_CN.UTF-8", "zh_CN"), ("zh-Hans-CN", "zh_CN"), ("zh_SG", "zh_CN"), ("zh", "zh_CN"),
    ("zh_TW", None), ("zh-Hant-HK", None), ("en_GB.UTF-8", "en"), ("C", "en"),
    ("POSIX", "en"), ("fr_FR", None), ("", None), ("en_XA", "en_XA"),
])
def test_locale_names_are_read_as_our_languages(code: str, expected: str | None) -> None:
    assert i18n.normalize(code) == expected


def test_the_system_language_follows_the_desktop_then_the_gettext_environment() -> None:
    assert i18n.system_language({"LANG": "zh_CN.UTF-8"}) == "zh_CN"
    assert i18n.system_language({"LANGUAGE": "fr:zh_CN", "LANG": "en_US.UTF-8"}) == "zh_CN"
    assert i18n.system_language({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}) == "en"
    assert i18n.system_language({}, ui_languages=["zh-Hans-CN", "en-US"]) == "zh_CN"
    assert i18n.system_language({"LANG": "de_DE"}) == "en"


def test_a_persons_choice_beats_the_site_which_beats_the_system() -> None:
    assert i18n.choose_language("en", "zh_CN", "zh_CN") == "en"
    assert i18n.choose_language(None, "zh_CN", "en") == "zh_CN"
    assert i18n.choose_language("system", "system", "zh_CN") == "zh_CN"
    assert i18n.choose_language("", None, "en") == "en"


def test_the_site_language_is_read_without_opening_the_database(session: Session) -> None:
    assert read_site_language(session.path) is None  # never set: follow the system
    SettingsService(session.tracker).set("language", "zh_CN")
    assert read_site_language(session.path) == "zh_CN"
    assert read_site_language(session.path.parent / "absent.db") is None
    assert not (session.path.parent / "absent.db").exists()
    not_a_db = session.path.parent / "notes.db"
    not_a_db.write_text("hello")
    assert read_site_language(not_a_db) is None


@pytest.mark.expect_log(r"no compiled catalogue for zh_CN")
def test_a_missing_catalogue_falls_back_to_english(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n.install("zh_CN") == "en"
    assert i18n._("Overdue") == "Overdue"


# ----------------------------------------------------------------------------------------
# Chinese


def test_chinese_sentences_plurals_lists_and_periods() -> None:
    assert i18n.install("zh_CN") == "zh_CN"
    assert i18n._("Overdue") == "逾期"
    assert i18n.ngettext("{n} patient", "{n} patients", 1).format(n=1) == "1 例患者"
    assert i18n.ngettext("{n} patient", "{n} patients", 7).format(n=7) == "7 例患者"
    assert join_list(["随机化", "入组", "访视"]) == "随机化、入组、访视"
    assert join_sentences(["甲", "乙"]) == "甲；乙"
    assert Period(months=1, weeks=2).describe() == "1个月2周"
    assert Period(months=3).describe("en") == "3 months"
    i18n.install(None)
    assert join_list(["a", "b", "c"]) == "a, b, c"
    assert Period(months=3).describe("zh_CN") == "3个月"


def test_the_catalogue_uses_the_clinical_words_of_the_glossary() -> None:
    """A few terms a Chinese clinical research reader looks for, where the code uses them."""
    i18n.install("zh_CN")
    _ = i18n._
    assert _("Randomize") == "随机化"
    assert _("Screen failure") == "筛选失败"
    assert _("Adverse events") == "不良事件"
    assert _("Audit trail") == "稽查轨迹"
    assert _("Inclusion criteria") == "纳入标准" and _("Exclusion criteria") == "排除标准"
    assert _("Informed consent") == "知情同意"
    assert _("Window") == "访视窗"
    assert _("Enrolled on") == "入组日期"


# ----------------------------------------------------------------------------------------
# Protocol text


TEXT = """
schema = 1
key = "T"
title = "A study"
title_zh_CN = "一项研究"
short_title = "Study"
sponsor = "S"
design = "D"
study_type = "interventional"
condition = "GIST"
summary = "S"
source = "x"
assumptions = ["One", "Two"]
assumptions_zh_CN = ["一", "二"]
[allocation]
method = "single_arm"
[[arms]]
code = "A"
name = "Arm"
name_zh_CN = "组"
[[anchors]]
key = "start"
label = "Start"
label_zh_CN = "开始"
source = "enrollment"
[[criteria]]
id = "I1"
kind = "inclusion"
text = "Adult"
text_zh_CN = "成人"
[[visits]]
key = "fu"
name = "Month {months} ({offset})"
name_zh_CN = "第 {months} 个月（{offset}）"
anchor = "start"
offset = { months = 3 }
repeat = { every = { months = 3 }, count = 2 }
window_before = { days = 7 }
window_after = { days = 7 }
assessments = ["labs"]
[[endpoints]]
key = "os"
name = "Overall survival"
name_zh_CN = "总生存期"
kind = "primary"
horizon = { months = 12 }
definition = "Death"
"""


def test_protocol_text_carries_its_chinese_beside_the_english() -> None:
    study = parse_study(TEXT, "t.toml")
    assert isinstance(study.title, LocalText)
    assert study.title == "A study" and study.title.text("zh_CN") == "一项研究"
    assert study.short_title.text("zh_CN") == "Study"  # untranslated: the English shows
    assert [v.name for v in study.visits] == ["Month 3 (3 months)", "Month 6 (6 months)"]
    assert [v.name.text("zh_CN") for v in study.visits] == ["第 3 个月（3个月）",  # type: ignore[attr-defined]
                                                          "第 6 个月（6个月）"]
    assert [a.text("zh_CN") for a in study.assumptions] == ["一", "二"]  # type: ignore[attr-defined]
    i18n.install("zh_CN")
    assert local(study.endpoints[0].name) == "总生存期"
    assert local(study.anchors[0].label) == "开始"
    assert local(study.visit_name("fu_2", "stored")) == "第 6 个月（6个月）"
    assert study.visit_name(None, "Extra visit") == "Extra visit"  # unscheduled: as stored


@pytest.mark.parametrize(("change", "key", "message"), [
    (('title_zh_CN = "一项研究"', 'title_fr = "Une étude"'), "title_fr",
     "fr is not a language this program has"),
    (('title_zh_CN = "一项研究"', 'title_zh_CN = ""'), "title_zh_CN", "non-empty text"),
    (('assumptions_zh_CN = ["一", "二"]', 'assumptions_zh_CN = ["一"]'), "assumptions_zh_CN",
     "list of 2 texts"),
    (('name_zh_CN = "第 {months} 个月（{offset}）"', 'name_zh_CN = "第 {m} 个月"'),
     "visits[0].name_zh_CN", "not a valid visit name"),
    (('source = "x"', 'source = "x"\nsource_zh_CN = "甲"'), "source_zh_CN",
     "not a language this program has"),
])
def test_a_wrong_translation_in_a_protocol_file_is_refused_where_it_is(
        change: tuple[str, str], key: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_study(TEXT.replace(*change), "t.toml")
    assert caught.value.key == key and message in caught.value.message


def test_every_shipped_protocol_is_translated_into_chinese() -> None:
    """Every text a person reads in the five studies has its Chinese beside it."""
    result = load_studies()
    assert not result.errors and len(result.studies) == 5
    missing = []
    for study in result.studies:
        texts = [("title", study.title), ("short_title", study.short_title),
                 ("sponsor", study.sponsor), ("design", study.design),
                 ("condition", study.condition), ("summary", study.summary)]
        texts += [(f"assumptions[{i}]", a) for i, a in enumerate(study.assumptions)]
        texts += [(f"arm {a.code}", t) for a in study.arms for t in (a.name, a.description)]
        texts += [(f"arm {a.code} option", o.label) for a in study.arms for o in a.options]
        texts += [(f"arm {a.code} intervention", t) for a in study.arms for i in a.interventions
                  for t in (i.name, i.dose, i.schedule, i.assumption) if t]
        texts += [(f"anchor {a.key}", t) for a in study.anchors
                  for t in (a.label, a.description) if t]
        texts += [(f"criterion {c.id}", t) for c in study.criteria
                  for t in (c.text, c.short, c.note, c.assumption) if t]
        texts += [(f"visit {v.key}", t) for v in study.visits for t in (v.name, v.assumption)
                  if t]
        texts += [(f"endpoint {e.key}", t) for e in study.endpoints
                  for t in (e.name, e.definition)]
        texts += [(f"timing rule {r.key}", r.description) for r in study.timing_rules]
        texts += [(f"treatment rule {r.key}", r.description) for r in study.treatment_rules]
        texts += [(f"lab {lab.key}", lab.label) for lab in study.labs]
        if study.allocation.assumption:
            texts.append(("allocation", study.allocation.assumption))
        for where, text in texts:
            if not (isinstance(text, LocalText) and text.translations.get("zh_CN")):
                missing.append(f"{study.key}: {where}: {str(text)[:60]!r}")
    assert not missing, "protocol text without Chinese:\n" + "\n".join(missing)


def test_gettext_reads_our_compiled_chinese() -> None:
    translation = gettext.translation("gisttracker", str(i18n.LOCALE_DIR), ["zh_CN"])
    assert translation.gettext("Site calendar") == "中心访视日历"


# ----- argparse's own messages ---------------------------------------------------------------
@pytest.fixture
def english_after() -> Iterator[None]:
    """The command installs its language process-wide; the next test starts in English."""
    yield
    i18n.install(None)


def _command(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = cli_main(list(argv))
    except SystemExit as exc:  # argparse's own exits (--help, a bad argument)
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.usefixtures("english_after")
def test_argparse_errors_are_chinese_under_language_zh_cn(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "site.db")
    code, err = _command(capsys, "--db", db, "--language", "zh_CN", "patients",
                         "--no-such-option")
    assert (code, err) == (2, "gisttracker: 无法识别的参数：--no-such-option\n")
    code, err = _command(capsys, "--db", db, "--language", "zh_CN", "report")
    assert (code, err) == (2, "gisttracker report: 缺少以下必需参数：KIND\n")
    code, err = _command(capsys, "--db", db, "--language", "zh_CN", "nosuchcommand")
    assert code == 2
    assert err.startswith("gisttracker: 参数 COMMAND：无效的选择：'nosuchcommand'（可选：")
    code, err = _command(capsys, "--db", db, "--language", "zh_CN", "demo", "--patients",
                         "many")
    assert (code, err) == (2, "gisttracker demo: 参数 --patients：无效的 int 值：'many'\n")
    assert not tmp_path.joinpath("site.db").exists()  # nothing was opened, let alone written


@pytest.mark.usefixtures("english_after")
def test_argparse_follows_the_system_language_and_english_comes_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    db = str(tmp_path / "site.db")
    assert _command(capsys, "--db", db, "patients", "--bogus") == (
        2, "gisttracker: 无法识别的参数：--bogus\n")
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert _command(capsys, "--db", db, "patients", "--bogus") == (
        2, "gisttracker: unrecognized arguments: --bogus\n")


def test_every_argparse_message_of_this_python_is_translated() -> None:
    wanted = {m.id for m in extract_argparse() if m.id}
    assert "the following arguments are required: %s" in wanted
    catalog = read(po_path("zh_CN", domain=ARGPARSE_DOMAIN), "zh_CN", ARGPARSE_DOMAIN)
    translated = {m.id for m in catalog if m.id and m.string and all(m.string)}
    assert wanted <= translated, sorted(map(str, wanted - translated))


def test_the_check_refuses_an_argparse_translation_that_loses_a_placeholder(
        tmp_path: Path) -> None:
    """argparse fills its messages with ``%``: a translation without the ``%s`` would raise
    inside argparse ("not all arguments converted") instead of printing the error."""
    source = po_path("zh_CN", domain=ARGPARSE_DOMAIN)
    copy = tmp_path / "zh_CN" / "LC_MESSAGES" / source.name
    copy.parent.mkdir(parents=True)
    text = source.read_text(encoding="utf-8")
    broken = text.replace('msgstr "无法识别的参数：%s"', 'msgstr "无法识别的参数"')
    assert broken != text
    copy.write_text(broken, encoding="utf-8")
    problems = [str(p) for p in check_argparse(tmp_path)]
    assert any("unrecognized arguments: %s" in p and "placeholder" in p for p in problems), (
        problems)
    copy.write_text(text.replace('msgstr "无法识别的参数：%s"', 'msgstr ""'), encoding="utf-8")
    assert any("'unrecognized arguments: %s' is not translated" in str(p)
               for p in check_argparse(tmp_path))


def test_the_pseudo_locale_brackets_argparse_too(capsys: pytest.CaptureFixture[str],
                                                 english_after: None) -> None:
    i18n.install(i18n.PSEUDO, translations=pseudo_translations())
    parser = argparse.ArgumentParser(prog="x", exit_on_error=False)
    parser.add_argument("--n", type=int)
    with pytest.raises(argparse.ArgumentError) as raised:
        parser.parse_args(["--n", "many"])
    assert str(raised.value) == "⟦argument --n: ⟦invalid int value: 'many'⟧⟧"

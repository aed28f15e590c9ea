"""CSV export: files per table and form, wide files, dictionary, scripts; whole or nothing."""

from __future__ import annotations

import csv
import re
import sqlite3
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.exchange import csv_export
from gisttracker.exchange.csv_export import export_csv
from gisttracker.services.base import ServiceError
from tests.core.exchange_helpers import make_site, open_site
from tests.helpers import on_engine

# Exported from the engine under test (on the server run, a server copy of the demo file;
# the rows are compared with the file, which holds the same data).
pytestmark = pytest.mark.engines

NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("csv") / "site.db", "ZJU", patients=50, seed=3)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _export(site: Path, target: Path, **kwargs: object) -> csv_export.CsvResult:
    session = open_site(on_engine(site), "ZJU")
    try:
        return export_csv(session, target, **kwargs)  # type: ignore[arg-type]
    finally:
        session.close()


def test_every_table_and_form_has_its_file_with_every_row(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = _export(site, out)
    conn = sqlite3.connect(site)
    for table in ("patient", "screening", "visit", "form", "form_value", "lab_result",
                  "anchor_date", "randomization", "surgery", "course_event"):
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert len(_read(out / f"{table}.csv")) == count, table
    assert not (out / "patient_identity.csv").exists()
    for kind, count in conn.execute("SELECT kind, count(*) FROM form GROUP BY kind"):
        rows = _read(out / f"form_{kind}.csv")
        assert len(rows) == count, kind
    # A questionnaire's answers land in its columns, visit by visit.
    form_id, study_id, visit_key, study = conn.execute(
        "SELECT f.id, p.study_id, v.visit_key, p.study_key FROM form f JOIN visit v "
        "ON v.id = f.visit_id "
        "JOIN patient p ON p.id = v.patient_id WHERE f.kind = 'qlq_c30' AND "
        "f.state = 'complete' LIMIT 1").fetchone()
    answers = dict(conn.execute("SELECT item, value FROM form_value WHERE form_id = ?",
                                (form_id,)).fetchall())
    (row,) = [r for r in _read(out / "form_qlq_c30.csv")
              if r["study_id"] == study_id and r["visit"] == visit_key]
    assert {k: row[f"qlq_c30_{k}"] for k in answers} == {
        k: (v or "") for k, v in answers.items()}
    # One wide row per patient of each study, with the visit's answers in its columns.
    for key, count in conn.execute("SELECT study_key, count(*) FROM patient GROUP BY 1"):
        wide = _read(out / f"wide_{key.lower().replace('-', '_')}.csv")
        assert len(wide) == count
    wide = {r["study_id"]: r for r in _read(
        out / f"wide_{study.lower().replace('-', '_')}.csv")}
    assert wide[study_id][f"{visit_key}_c30_1"] == (answers.get("1") or "")
    assert wide[study_id][f"{visit_key}_state"] == "done"
    assert result.rows > 0
    conn.close()


def test_the_dictionary_describes_every_column_of_every_file(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    _export(site, out)
    dictionary = _read(out / "dictionary.csv")
    described: dict[str, list[str]] = {}
    for entry in dictionary:
        described.setdefault(entry["file"], []).append(entry["variable"])
        assert NAME.match(entry["variable"]), entry
        assert entry["label"] and entry["type"] in (
            "text", "integer", "float", "date", "datetime", "boolean")
    for path in out.glob("*.csv"):
        if path.name == "dictionary.csv":
            continue
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle))
        assert header == described[path.name], path.name
        assert len(set(header)) == len(header)
    by_name = {(e["file"], e["variable"]): e for e in dictionary}
    status = by_name[("patient.csv", "status")]
    assert "screen_failed=screen failed" in status["codes"]
    size = by_name[("screening.csv", "tumour_size_cm")]
    assert (size["type"], size["unit"]) == ("float", "cm")
    answer = by_name[("form_qlq_c30.csv", "qlq_c30_1")]
    assert answer["type"] == "integer" and "1=Not at all" in answer["codes"]


def test_import_scripts_read_every_file_with_labels(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    _export(site, out)
    r = (out / "import.R").read_text(encoding="utf-8")
    sps = (out / "import.sps").read_text(encoding="utf-8")
    do = (out / "import.do").read_text(encoding="utf-8")
    for path in out.glob("*.csv"):
        if path.name == "dictionary.csv":
            continue
        assert f'.gist_read("{path.name}"' in r
        assert f"/FILE='{path.name}'" in sps
        assert f'import delimited using "{path.name}"' in do
    assert 'fileEncoding = "UTF-8-BOM"' in r
    assert 'd[["enrolled_on"]] <- as.Date(d[["enrolled_on"]], format = "%Y-%m-%d")' in r
    assert 'attr(d[["tumour_size_cm"]], "label") <- "Maximum tumour diameter (cm)"' in r
    assert "  enrolled_on SDATE10" in sps and "FIRSTCASE=2" in sps
    assert "generate double _d = date(enrolled_on, \"YMD\")" in do
    assert "label define qlq_c30_1 1 `\"Not at all\"'" in do
    assert "rowrange(2)" in do  # the header line (with Excel's mark) is never read


def test_pseudonymous_unless_identifiers_are_asked_for(site: Path, tmp_path: Path) -> None:
    name = sqlite3.connect(site).execute(
        "SELECT i.name FROM patient_identity i JOIN patient p ON p.id = i.patient_id "
        "WHERE p.study_key = 'RECTAL-LE'").fetchone()[0]
    plain = tmp_path / "plain"
    _export(site, plain)
    assert all(name not in p.read_text(encoding="utf-8-sig") for p in plain.iterdir())
    named = tmp_path / "named"
    _export(site, named, identifiers=True, study="RECTAL-LE", bom=False)
    assert name in (named / "patient_identity.csv").read_text(encoding="utf-8")
    assert name in {r["name"] for r in _read(named / "wide_rectal_le.csv")}
    assert not (named / "patient.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (plain / "patient.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert {r["study_key"] for r in _read(named / "patient.csv")} == {"RECTAL-LE"}
    assert not (named / "wide_nct04933669.csv").exists()


def test_an_export_that_fails_half_way_leaves_nothing(site: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv_export, "_wide_file", broken)
    with pytest.raises(OSError, match="No space left"):
        _export(site, tmp_path / "export")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.csv").write_text("mine")
    monkeypatch.undo()
    with pytest.raises(ServiceError, match="not an empty folder"):
        _export(site, tmp_path / "taken")
    assert (tmp_path / "taken" / "x.csv").read_text() == "mine"


def test_export_csv_command(site: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["--db", str(on_engine(site)), "export", "csv", "-o", str(out)]) == 0
    assert "import scripts for R, SPSS and Stata" in capsys.readouterr().out
    assert (out / "import.R").is_file() and (out / "README.txt").is_file()
    assert (out / "patient.csv").stat().st_mode & 0o077 == 0
    assert main(["--db", str(on_engine(site)), "export", "csv", "-o", str(out)]) == 2
    assert main(["--db", str(on_engine(site)), "export", "csv", "--study", "NOPE", "-o",
                 str(tmp_path / "x")]) == 1
    assert "unknown study" in capsys.readouterr().err

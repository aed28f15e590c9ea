"""The ``gisttracker`` command: studies listing, --db handling, clear one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.store.db import open_database
from gisttracker.store.migrations import LATEST

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.sqlite_only("that --db names a file the command creates")
def test_studies_json_lists_the_five_studies(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    assert main(["--db", str(tmp_path / "site.db"), "studies", "--json"]) == 0
    studies = {s["key"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(studies) == {"RECTAL-LE", "NCT03862768", "NCT04933669", "PREOP-DURATION",
                            "NCT06038552"}
    trial = studies["NCT03862768"]
    assert trial["registration"] == "NCT03862768"
    assert trial["target_enrollment"] == 92
    assert [a["code"] for a in trial["arms"]] == ["A", "B"]
    assert trial["anchors"] == ["randomization"]
    assert studies["RECTAL-LE"]["registration"] is None
    assert "surgery" in studies["RECTAL-LE"]["anchors"]
    for study in studies.values():
        assert {"key", "registration", "title", "design", "target_enrollment", "arms",
                "anchors"} <= set(study)
    assert (tmp_path / "site.db").exists()


@pytest.mark.sqlite_only("that GISTTRACKER_DB names a file the command creates")
def test_db_from_environment_when_no_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GISTTRACKER_DB", str(tmp_path / "env.db"))
    assert main(["studies"]) == 0
    assert (tmp_path / "env.db").exists()
    assert "NCT04933669" in capsys.readouterr().out


def test_bad_arguments_give_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["studies", "--colour"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unrecognized arguments: --colour" in err


@pytest.mark.sqlite_only("a file from a newer release (PRAGMA user_version)")
def test_newer_database_is_refused_in_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "future.db"
    db = open_database(path)
    db.execute_sql(f"PRAGMA user_version = {LATEST + 3}")
    db.close()
    assert main(["--db", str(path), "studies"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "newer version" in err and "Traceback" not in err


@pytest.mark.expect_log(r"database problem")
@pytest.mark.sqlite_only("a file that cannot be read")
def test_unreadable_database_is_refused_in_one_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"\x00garbage" * 500)
    assert main(["--db", str(path), "studies"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gisttracker: ") and err.count("\n") == 0


def _run(*args: str, env_db: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("GISTTRACKER_DB", None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["XDG_CONFIG_HOME"] = str((env_db or Path("/tmp")).parent / "config")
    return subprocess.run([sys.executable, "-m", "gisttracker", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_startup_check_opens_window_prints_seconds_and_exits_0(tmp_path: Path) -> None:
    result = _run("--db", str(tmp_path / "site.db"), "--startup-check", env_db=tmp_path / "x")
    assert result.returncode == 0, result.stderr
    assert 0 < float(result.stdout.strip()) < 60


def test_startup_check_fails_cleanly_on_a_bad_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not sqlite at all" * 100)
    result = _run("--db", str(bad), "--startup-check", env_db=tmp_path / "x")
    assert result.returncode == 1
    assert "not a readable database" in result.stderr
    assert "Traceback" not in result.stderr

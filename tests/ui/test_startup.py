"""Starting the window: a damaged installation that knows no study says so and exits 1; the
windowed entry point survives having no console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from ui import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_shipped_studies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "seeds"
    empty.mkdir()
    monkeypatch.setattr("gisttracker.protocols.files.SEEDS_DIR", empty)
    return empty


def test_startup_check_fails_when_no_study_loads(qapp: QApplication, no_shipped_studies: Path,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "site.db"
    assert app.run(db=str(db), startup_check=True) == 1
    assert "no study protocol could be loaded" in capsys.readouterr().err
    assert not db.exists()


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()
def test_the_window_says_why_it_cannot_start_and_exits_1(qapp: QApplication,
                                                         no_shipped_studies: Path,
                                                         tmp_path: Path) -> None:
    seen: dict[str, str] = {}

    def answer_the_box() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, answer_the_box)
            return
        seen["title"], seen["text"] = box.windowTitle(), box.text()
        QTest.keyClick(box, Qt.Key.Key_Return)  # the user reads it and presses Enter

    QTimer.singleShot(0, answer_the_box)
    db = tmp_path / "site.db"
    assert app.run(db=str(db)) == 1
    assert seen["title"] == "GIST Study Tracker cannot start"
    assert "no study protocol could be loaded" in seen["text"]
    assert "reinstall" in seen["text"]
    assert not db.exists()


def test_the_windowed_entry_point_runs_without_standard_streams(tmp_path: Path) -> None:
    # A windowed program on Windows starts with sys.stdout/sys.stderr = None; a subcommand
    # that writes JSON to sys.stdout itself must not crash it.
    script = ("import sys; sys.stdout = None; sys.stderr = None\n"
              "from ui.launcher import main\n"
              f"code = main(['--db', {str(tmp_path / 'site.db')!r}, 'studies', '--json'])\n"
              "sys.__stdout__.write(f'exit {code}')\n")
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout == "exit 0", result.stderr

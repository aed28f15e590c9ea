"""File menu data work in the window: export, import, back up, restore, schedule, conflicts,
read-only copies and damaged files — typed and clicked like a person, checked in the files
and the database."""

from __future__ import annotations

import csv
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMenu, QPushButton
from pytestqt.qtbot import QtBot

from gisttracker.errors import UserError
from gisttracker.exchange.keys import public_key_path
from gisttracker.exchange.odm.export import export_odm
from gisttracker.services.exchange.centre import import_package, trust_site
from gisttracker.services.exchange.packages import make_package
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from tests.core.exchange_helpers import make_site, open_site
from tests.helpers import SERVER, on_engine, raw_rows
from tests.ui.conftest import on_worker
from ui.exchange import TaskDialog, dialog_caption
from ui.main_window import MainWindow
from ui.tasks import TaskManager

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@contextmanager
def _window(qtbot: QtBot, tmp_path: Path, db: Path) -> Iterator[MainWindow]:
    tasks = TaskManager()
    win = MainWindow(QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat), tasks)
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.ready, timeout=20_000):
        win.open_database(db)
    yield win
    tasks.shutdown()
    if win.session is not None:
        win.session.close()


def _count(db: Path, sql: str) -> int:
    """The count ``sql`` gives in the site database ``db`` (a file or a server database)."""
    return int(raw_rows(db, sql)[0][0])  # type: ignore[call-overload]


def _menu_action(window: MainWindow, *path: str):  # type: ignore[no-untyped-def]
    """The File menu's action at ``path`` (menu texts without the & marks)."""
    menu = window.menuBar().actions()[0].menu()
    assert isinstance(menu, QMenu)
    for name in path:
        found = next(a for a in menu.actions() if a.text().replace("&", "").startswith(name))
        if found.menu() is not None:
            menu = found.menu()
        else:
            return found
    raise AssertionError(path)


def _open(window: MainWindow, qtbot: QtBot, *path: str) -> TaskDialog:
    action = _menu_action(window, *path)
    assert action.isEnabled()
    action.trigger()  # as chosen in the menu
    name = {"Export": "ExportDialog", "Import": "ImportOdmDialog", "Back up": "BackupDialog",
            "Restore from a backup": "RestoreDialog", "Backup schedule": "ScheduleDialog",
            "Coordinating centre": {"Conflicts": "ConflictsDialog"}.get(path[-1], "")}[path[0]]
    dialog = window.exchange.dialogs[name]
    qtbot.waitExposed(dialog)
    return dialog


def _type(qtbot: QtBot, edit, text: str) -> None:  # type: ignore[no-untyped-def]
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def _run(qtbot: QtBot, dialog: TaskDialog, button=None) -> object:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(dialog.finished_job, timeout=60_000) as blocker:
        qtbot.mouseClick(button or dialog.run_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("ui-site") / "site.db", "ZJU", patients=25,
                     seed=8)


@pytest.fixture
def site(demo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "site" / "site.db"
    copy.parent.mkdir()
    source = sqlite3.connect(demo)
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return copy


@pytest.mark.engines
def test_export_csv_typed_into_the_dialog(qtbot: QtBot, tmp_path: Path, site: Path) -> None:
    with _window(qtbot, tmp_path, on_engine(site)) as window:
        dialog = _open(window, qtbot, "Export", "CSV")
        out = tmp_path / "for the statistician"
        _type(qtbot, dialog.path, str(out))  # type: ignore[attr-defined]
        _run(qtbot, dialog)
        assert "import scripts written to" in dialog.status.text()
        with open(out / "patient.csv", encoding="utf-8-sig", newline="") as handle:
            assert len(list(csv.DictReader(handle))) == _count(site, "SELECT count(*) FROM "
                                                                    "patient")
        # Pressing Export again refuses to replace what is there.
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        assert "already exists" in dialog.status.text()


@pytest.mark.sqlite_only(
    "restoring over a site file (a server restores only into an empty database)")
def test_back_up_then_restore_in_the_window(qtbot: QtBot, tmp_path: Path, site: Path) -> None:
    with _window(qtbot, tmp_path, site) as window:
        dialog = _open(window, qtbot, "Back up")
        target = tmp_path / "monday.db"
        _type(qtbot, dialog.path, str(target))  # type: ignore[attr-defined]
        result = _run(qtbot, dialog)
        assert result.path == target  # type: ignore[attr-defined]
        assert "verified" in dialog.status.text()
        before = _count(site, "SELECT count(*) FROM patient")
        assert _count(target, "SELECT count(*) FROM patient") == before
        # Somebody deletes a visit after the backup…
        session = window.session
        assert session is not None
        visit = Visit.select().first()

        def delete() -> None:  # the window writes on its worker, never on the GUI thread
            with session.tracker.transaction("entered by mistake") as w:
                w.delete(visit, patient_uid=visit.patient.uid)

        on_worker(qtbot, window, delete)
        visits = _count(site, "SELECT count(*) FROM visit")
        # …and the site restores Monday's backup.
        restore = _open(window, qtbot, "Restore from a backup")
        _type(qtbot, restore.path, str(target))  # type: ignore[attr-defined]
        qtbot.mouseClick(restore.run_button, Qt.MouseButton.LeftButton)
        assert "Tick the box" in restore.status.text()
        qtbot.mouseClick(restore.confirm, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
        with qtbot.waitSignal(window.ready, timeout=30_000):
            _run(qtbot, restore)
        assert _count(site, "SELECT count(*) FROM visit") == visits + 1
        kept = list(site.parent.glob("site.before-restore-*.db"))
        assert len(kept) == 1 and _count(kept[0], "SELECT count(*) FROM visit") == visits


# The offscreen platform cannot raise a file dialog or grab the keyboard for it; harmless.
@pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise",
                          "does not support grabbing the keyboard")
@pytest.mark.engines
def test_browse_opens_a_file_dialog_titled_by_its_field(qtbot: QtBot, tmp_path: Path,
                                                        site: Path) -> None:
    """Browse… beside "Back up &to:" opened a file dialog titled "Back up &to:" (in Chinese
    "备份到(&T)："): the field's label, access key and colon included. The site is on the
    engine under test (a server site's backup is a file too)."""
    with _window(qtbot, tmp_path, on_engine(site)) as window:
        dialog = _open(window, qtbot, "Back up")
        browse = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Browse…")
        chosen = tmp_path / "chosen.db"
        seen: list[str] = []

        def in_the_file_dialog() -> None:
            files = next(w for w in QApplication.topLevelWidgets()
                         if isinstance(w, QFileDialog) and w.isVisible())
            seen.append(files.windowTitle())
            name = files.findChild(QLineEdit, "fileNameEdit")
            _type(qtbot, name, str(chosen))
            QTest.keyClick(name, Qt.Key.Key_Return)

        QTimer.singleShot(300, in_the_file_dialog)
        qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)
        assert seen == ["Back up to"]
        assert dialog.path.text() == str(chosen)  # type: ignore[attr-defined]
        _run(qtbot, dialog)
        assert _count(chosen, "SELECT count(*) FROM patient") == _count(
            site, "SELECT count(*) FROM patient")


@pytest.mark.parametrize(("label", "caption"), [
    ("Back up &to:", "Back up to"),
    ("备份到(&T)：", "备份到"),
    ("ODM &file:", "ODM file"),
    ("R&&D &folder:", "R&D folder"),
])
def test_a_fields_label_as_a_dialog_title(label: str, caption: str) -> None:
    assert dialog_caption(label) == caption


@pytest.mark.engines
def test_back_up_a_site_on_the_engine_under_test_and_open_the_backup(
        qtbot: QtBot, tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the server run the window has a server site open: File > Back up writes a SQLite
    file of it (proposed in the home folder), File > Export works, the centre's import is
    on too, and a restore over the site's data is refused (only into an empty database)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    db = on_engine(site)
    with _window(qtbot, tmp_path, db) as window:
        dialog = _open(window, qtbot, "Back up")
        proposed = Path(dialog.path.text())  # type: ignore[attr-defined]
        assert proposed.name.endswith(".backup.db")
        if SERVER is not None:
            assert proposed.parent == tmp_path / "home"
            assert _menu_action(window, "Coordinating centre", "Import").isEnabled()
        target = tmp_path / "backups" / "tuesday.db"
        target.parent.mkdir()
        _type(qtbot, dialog.path, str(target))  # type: ignore[attr-defined]
        result = _run(qtbot, dialog)
        assert result.path == target  # type: ignore[attr-defined]
        assert "verified" in dialog.status.text()
        assert dialog.progress.value() == 100
        assert _count(target, "SELECT count(*) FROM patient") == _count(
            site, "SELECT count(*) FROM patient") == 25
        if SERVER is not None:
            restore = _open(window, qtbot, "Restore from a backup")
            _type(qtbot, restore.path, str(target))  # type: ignore[attr-defined]
            qtbot.mouseClick(restore.confirm,  # type: ignore[attr-defined]
                             Qt.MouseButton.LeftButton)
            with qtbot.waitSignal(restore.failed_job, timeout=30_000):
                qtbot.mouseClick(restore.run_button, Qt.MouseButton.LeftButton)
            assert "is not empty" in restore.status.text()
    # The backup opens as a site of its own, with the same patients.
    with _window(qtbot, tmp_path, target) as window:
        assert window.session is not None
        assert Patient.select().count() == 25


def test_import_odm_is_checked_before_anything_is_written(qtbot: QtBot, tmp_path: Path,
                                                          site: Path, db_path: Path) -> None:
    session = open_site(site, "ZJU")
    try:
        xml = export_odm(session, tmp_path / "from another system.xml").path
    finally:
        session.close()
    empty = db_path  # a new site: a file, or a new server database on the server run
    with _window(qtbot, tmp_path, empty) as window:
        dialog = _open(window, qtbot, "Import", "CDISC ODM")
        _type(qtbot, dialog.path, str(xml))  # type: ignore[attr-defined]
        report = _run(qtbot, dialog)  # "Check": nothing written yet
        assert report.dry_run and not report.refused  # type: ignore[attr-defined]
        assert _count(empty, "SELECT count(*) FROM patient") == 0
        assert dialog.refusals.count() == 0  # type: ignore[attr-defined]
        button = dialog.import_button  # type: ignore[attr-defined]
        assert button.isEnabled()
        report = _run(qtbot, dialog, button)
        assert report.written  # type: ignore[attr-defined]
        assert "25 subjects imported" in dialog.status.text()
        assert _count(empty, "SELECT count(*) FROM patient") == 25
        assert _count(empty, "SELECT count(*) FROM form_value") == _count(
            site, "SELECT count(*) FROM form_value")


@pytest.mark.sqlite_only("a centre file (a centre on a server: test_centre_engines)")
def test_a_conflict_is_resolved_with_a_reason(qtbot: QtBot, tmp_path: Path, site: Path) -> None:
    first = open_site(site, "ZJU")
    try:
        package = make_package(first, tmp_path / "1.zip").path
    finally:
        first.close()
    centre_db = tmp_path / "centre" / "centre.db"
    centre = open_site(centre_db, "CENTRE", user="coordinator")
    try:
        trust_site(centre, "ZJU", public_key_path(site, "ZJU").read_text())
        import_package(centre, package)
        visit = Visit.select().where(Visit.state == "done").order_by(Visit.id).first()
        uid = visit.uid
        with centre.tracker.transaction("query answered") as w:
            w.update(visit, {"done_on": date(2025, 1, 3)})
    finally:
        centre.close()
    second = open_site(site, "ZJU")
    try:
        with second.tracker.transaction("from the clinic notes") as w:
            w.update(Visit.get(Visit.uid == uid), {"done_on": date(2025, 1, 2)})
        package = make_package(second, tmp_path / "2.zip").path
    finally:
        second.close()
    centre = open_site(centre_db, "CENTRE", user="coordinator")
    try:
        assert import_package(centre, package).conflicts == 1
    finally:
        centre.close()
    with _window(qtbot, tmp_path, centre_db) as window:
        dialog = _open(window, qtbot, "Coordinating centre", "Conflicts")
        table = dialog.table  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=20_000)
        assert table.item(0, 4).text() == "2025-01-02"
        assert table.item(0, 5).text() == "2025-01-03"
        rect = table.visualRect(table.model().index(0, 1))
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseClick(dialog.keep_site, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
        assert "Type the reason first" in dialog.status.text()
        qtbot.keyClicks(dialog.reason, "the clinic notes are the source")  # type: ignore[attr-defined]
        _run(qtbot, dialog, dialog.keep_site)  # type: ignore[attr-defined]
        assert "No open conflicts." in dialog.status.text()
        conn = sqlite3.connect(centre_db)
        assert conn.execute("SELECT done_on FROM visit WHERE uid = ?", (uid,)).fetchone() == (
            "2025-01-02",)
        assert conn.execute("SELECT state, kept FROM exchange_conflict").fetchall() == [
            ("resolved", "site")]
        assert conn.execute(
            "SELECT reason FROM audit_log WHERE record_uid = ? AND field = 'done_on' "
            "ORDER BY id DESC LIMIT 1", (uid,)).fetchone() == ("the clinic notes are the source",)
        conn.close()


@pytest.mark.sqlite_only(
    "the window's scheduled backups, which a server site does not make (cron does)")
def test_scheduled_backups_are_made_while_the_window_is_open(qtbot: QtBot, tmp_path: Path,
                                                            site: Path) -> None:
    folder = tmp_path / "nightly backups"
    with _window(qtbot, tmp_path, site) as window:
        dialog = _open(window, qtbot, "Backup schedule")
        # What is stored is read on the worker; the fields open for typing once it is shown.
        qtbot.waitUntil(dialog.run_button.isEnabled, timeout=10_000)
        assert dialog.hours.value() == 24 and dialog.folder.text() == ""  # type: ignore[attr-defined]
        _type(qtbot, dialog.folder, str(folder))  # type: ignore[attr-defined]
        _type(qtbot, dialog.hours.lineEdit(), "12")  # type: ignore[attr-defined]
        _type(qtbot, dialog.keep.lineEdit(), "3")  # type: ignore[attr-defined]
        _run(qtbot, dialog)
        assert "every 12 hours" in dialog.status.text()
        conn = sqlite3.connect(site)
        assert dict(conn.execute("SELECT key, value FROM setting WHERE key LIKE 'backup%'")
                    .fetchall()) == {"backup_folder": str(folder), "backup_every_hours": "12",
                                     "backup_keep": "3"}
        conn.close()
        window.exchange.check_schedule()  # what the window's timer does
        qtbot.waitUntil(lambda: folder.is_dir() and [p.name for p in folder.iterdir()] == [
            p.name for p in folder.glob("site-*.backup.db")] != [], timeout=30_000)
        (made,) = folder.iterdir()
        assert made.name.startswith("site-") and made.name.endswith(".backup.db")
        assert _count(made, "SELECT count(*) FROM patient") == 25


@pytest.mark.sqlite_only("a read-only copy of a site file")
def test_a_read_only_copy_says_so_and_offers_no_writing(qtbot: QtBot, tmp_path: Path,
                                                        site: Path) -> None:
    os.chmod(site, 0o444)
    with _window(qtbot, tmp_path, site) as window:
        assert not window.banner.isHidden()
        assert "read-only copy" in window.banner.text()
        assert "(read-only)" in window.windowTitle()
        assert not _menu_action(window, "Import", "CDISC ODM").isEnabled()
        assert not _menu_action(window, "Restore from a backup").isEnabled()
        assert _menu_action(window, "Export", "CSV").isEnabled()
        assert _menu_action(window, "Back up").isEnabled()


@pytest.mark.sqlite_only("damaged pages of a file")
def test_damage_beyond_the_quick_look_at_open_is_found_in_the_background(
        qtbot: QtBot, tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = sqlite3.connect(site)
    # A leaf page of the audit trail's table (schema 9: audit_entry; audit_log is a view),
    # found through SQLite's page statistics.
    page = conn.execute("SELECT pageno FROM dbstat WHERE name IN ('audit_log', 'audit_entry') "
                        "AND pagetype = 'leaf' ORDER BY pageno DESC LIMIT 1").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(site.read_bytes())
    # Damage a page of the audit trail, which the first screen never reads.
    at = (page - 1) * page_size
    data[at:at + page_size] = bytes(range(256)) * (page_size // 256)
    site.write_bytes(bytes(data))
    # The window does not look for damage before its first screen (every start would wait
    # for it): the whole-file check in the background finds it.
    with _window(qtbot, tmp_path, site) as window:
        banner = window.banner
        qtbot.waitUntil(lambda: "Damaged pages" in banner.text(), timeout=30_000)
        assert not banner.isHidden() and "restore the latest backup" in banner.text()
        assert Patient.select().count() == 25  # what can still be read stays readable
        # From then on nothing more is written to the damaged file (tried off the GUI
        # thread, where the window's writes run: the GUI thread may not write at all).
        assert window.session is not None
        tracker = window.session.tracker
        refused: list[BaseException] = []

        def write() -> None:
            try:
                with tracker.transaction("after the damage was found"):
                    pass
            except BaseException as exc:  # handed to the assertion below
                refused.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(30)
        assert len(refused) == 1 and isinstance(refused[0], UserError)
        assert "Damaged pages" in str(refused[0])


@pytest.mark.sqlite_only("the whole-file page check of a SQLite file")
def test_the_whole_file_is_checked_after_the_first_screen_shows_its_data(
        qtbot: QtBot, tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Reading the whole file beside the first screen's queries would delay them (for
    # minutes on a large site): the check starts once the patient list shows its rows.
    from ui.exchange_menu import ExchangeMenu

    seen: list[tuple[bool, str]] = []
    original = ExchangeMenu._check_pages

    def check_pages(menu: ExchangeMenu, session: object) -> None:
        page = menu.window_.current_page()
        seen.append((page.loading(), page.count_label.text()))  # type: ignore[attr-defined]
        original(menu, session)  # type: ignore[arg-type]

    monkeypatch.setattr(ExchangeMenu, "_check_pages", check_pages)
    with _window(qtbot, tmp_path, site):
        qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    [(loading, label)] = seen  # once per database opened
    assert not loading and label.endswith(" patients") and label[0].isdigit()

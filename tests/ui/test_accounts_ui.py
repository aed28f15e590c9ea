"""The window and accounts, driven like a person: the first administrator, signing in, the
idle lock keeping what was typed, what each role sees, queries, signatures and the
reload prompt. Every check ends in what the database holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from gisttracker.services.base import StaleRecordError
from gisttracker.services.forms import FormService
from gisttracker.services.queries import QueryService
from gisttracker.session import Session, open_session
from gisttracker.store.models_accounts import Account, DataQuery, Signature
from tests.core.accounts_helpers import PASSWORD, TODAY, make_people, open_site, sign_in
from tests.core.forms_fixtures import make_patient, make_visit
from ui.accounts import FirstAdministratorDialog, SignInDialog
from ui.conflicts import handle_save_error
from ui.lock import IdleLock
from ui.main_window import MainWindow
from ui.queries import QueriesPage, RaiseQueryDialog, TextDialog
from ui.signing import ReviewPanel, SignatureDialog, UnlockDialog
from ui.tasks import TaskManager

# The offscreen platform says so whenever a top-level window is shown.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)


def _window(qtbot: QtBot, settings: QSettings, tasks: TaskManager) -> MainWindow:
    win = MainWindow(settings, tasks, opener=lambda p: open_site(p))
    qtbot.addWidget(win)
    return win


def _click(qtbot: QtBot, button: QPushButton | None) -> None:
    assert button is not None and button.isVisible() and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _later(action: Callable[[], None], ms: int = 0) -> None:
    """Act on a modal dialog once its exec() loop runs."""
    QTimer.singleShot(ms, action)


def _modal(cls: type) -> Any:
    widget = QApplication.activeModalWidget()
    assert isinstance(widget, cls), widget
    return widget


def test_a_new_site_creates_its_administrator_by_typing(qtbot: QtBot, settings: QSettings,
                                                        tasks: TaskManager,
                                                        db_path: Path) -> None:
    win = _window(qtbot, settings, tasks)
    win.open_database(db_path)
    qtbot.waitUntil(lambda: win.sign_in_dialog is not None, timeout=10_000)
    dialog = win.sign_in_dialog
    assert isinstance(dialog, FirstAdministratorDialog)
    qtbot.keyClicks(dialog.name, "wang.li")
    qtbot.keyClicks(dialog.full_name, "Wang Li")
    qtbot.keyClicks(dialog.password.first, "short")
    qtbot.keyClicks(dialog.password.again, "short")
    _click(qtbot, dialog.ok_button())
    assert "at least 10 characters" in dialog.message.text()
    for edit in (dialog.password.first, dialog.password.again):
        edit.clear()
        qtbot.keyClicks(edit, PASSWORD)
    with qtbot.waitSignal(win.ready, timeout=10_000):
        _click(qtbot, dialog.ok_button())
    assert win.session is not None
    assert [(a.name, a.role) for a in Account.select()] == [("wang.li", "administrator")]
    assert "wang.li (Administrator)" in win.statusBar().currentMessage()
    assert win.users_action.isVisible() and win.lock_action.isEnabled()
    win.session.close()


@pytest.fixture
def people_site(db_path: Path) -> Path:
    """A site (on the engine under test) with its people, one patient and a completed form."""
    path = db_path
    s = open_site(path)
    make_people(s)
    sign_in(s, "nora")
    patient = make_patient(s)
    visit = make_visit(s, patient, "baseline")
    forms = FormService(s)
    forms.save_answers(visit.uid, "physical_exam", {"weight_kg": "71.5", "ecog": 1})
    forms.complete(visit.uid, "physical_exam", today=TODAY)
    s.close()
    return path


def _signed_in(qtbot: QtBot, settings: QSettings, tasks: TaskManager, path: Path,
               name: str) -> MainWindow:
    win = _window(qtbot, settings, tasks)
    win.open_database(path)
    qtbot.waitUntil(lambda: win.sign_in_dialog is not None, timeout=10_000)
    dialog = win.sign_in_dialog
    assert isinstance(dialog, SignInDialog)
    qtbot.keyClicks(dialog.name, name)
    qtbot.keyClicks(dialog.password, "not the password")
    qtbot.mouseClick(dialog.ok_button(), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "wrong" in dialog.message.text(), timeout=10_000)
    assert dialog.password.text() == ""  # cleared for the next try
    qtbot.keyClicks(dialog.password, PASSWORD)
    with qtbot.waitSignal(win.ready, timeout=10_000):
        qtbot.mouseClick(dialog.ok_button(), Qt.MouseButton.LeftButton)
    return win


def test_each_role_sees_what_it_may_do(qtbot: QtBot, settings: QSettings, tasks: TaskManager,
                                       people_site: Path) -> None:
    seen: dict[str, tuple[bool, bool, bool, bool]] = {}
    for name in ("ada", "nora", "mona", "rita"):
        win = _signed_in(qtbot, settings, tasks, people_site, name)
        page = win.pages["queries"]
        assert isinstance(page, QueriesPage)
        win.nav.setCurrentRow(4)
        qtbot.waitUntil(lambda p=page: p.counts.text() != "", timeout=5000)
        seen[name] = (win.users_action.isVisible(), page.raise_button.isVisibleTo(page),
                      page.answer_button.isVisibleTo(page), page.close_button.isVisibleTo(page))
        assert win.session is not None
        win.session.close()
        win.close()
    assert seen == {"ada": (True, False, False, False), "nora": (False, False, True, False),
                    "mona": (False, True, False, True), "rita": (False, False, False, False)}


def test_the_idle_lock_keeps_what_was_typed_and_wants_the_same_password(
        qtbot: QtBot, settings: QSettings, tasks: TaskManager, people_site: Path) -> None:
    win = _signed_in(qtbot, settings, tasks, people_site, "nora")
    assert win.session is not None and win.session.tracker.actor is not None
    win.nav.setCurrentRow(1)
    search = win.pages["patients"].search  # type: ignore[attr-defined]
    qtbot.keyClicks(search, "ZJU-00")  # unsaved input somewhere in the window
    lock = IdleLock(win, win.idle_lock.service if win.idle_lock else None,  # type: ignore[arg-type]
                    tasks, win.session.tracker.actor, 10, interval_ms=150)
    qtbot.waitUntil(lambda: lock.is_locked, timeout=5000)
    screen = lock.screen
    assert screen is not None and screen.isVisible()
    qtbot.keyClicks(screen.password, "somebody else's guess")
    qtbot.mouseClick(screen.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "wrong" in screen.message.text(), timeout=5000)
    assert lock.is_locked
    assert Account.get(Account.name == "nora").failed_sign_ins == 1
    with qtbot.waitSignal(lock.unlocked, timeout=5000):
        qtbot.keyClicks(screen.password, PASSWORD)
        qtbot.mouseClick(screen.unlock_button, Qt.MouseButton.LeftButton)
    assert not lock.is_locked and search.text() == "ZJU-00"
    lock.stop()
    win.session.close()


def test_a_monitor_raises_and_the_nurse_answers_a_query(qtbot: QtBot, tasks: TaskManager,
                                                        people_site: Path) -> None:
    s = open_site(people_site)
    try:
        sign_in(s, "mona")
        dialog = RaiseQueryDialog(QueryService(s), tasks)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.keyClicks(dialog.patient, "zju-0001")
        qtbot.mouseClick(dialog.find_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.value.count() > 0, timeout=5000)
        wanted = next(i for i in range(dialog.value.count())
                      if "weight_kg" in dialog.value.itemText(i))
        dialog.value.setFocus()
        for _step in range(wanted):
            qtbot.keyClick(dialog.value, Qt.Key.Key_Down)
        qtbot.keyClicks(dialog.question, "71.5 kg or 75.1 kg?")
        with qtbot.waitSignal(dialog.accepted, timeout=5000):
            _click(qtbot, dialog.raise_button)
        query = DataQuery.get()
        assert (query.state, query.field, query.value_seen, query.raised_by) == (
            "open", "value", '"71.5"', "mona")

        sign_in(s, "nora")
        page = QueriesPage()
        qtbot.addWidget(page)
        page.set_session(s, tasks)
        page.show()
        qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=5000)
        page.table.selectRow(0)
        assert page.answer_button.isEnabled() and not page.close_button.isVisibleTo(page)

        def answer() -> None:
            text = _modal(TextDialog)
            qtbot.keyClicks(text.text, "71.5 kg, clinic notes of 10 March")
            qtbot.keyClick(text.text, Qt.Key.Key_Tab)
            text._ok()

        _later(answer)
        _click(qtbot, page.answer_button)
        qtbot.waitUntil(lambda: DataQuery.get().state == "answered", timeout=5000)
        assert DataQuery.get().answered_by == "nora"
        # The page refreshes itself from the change.
        qtbot.waitUntil(lambda: page.table.rowCount() == 1
                        and page.table.item(0, 1).text() == "answered", timeout=5000)
        qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)
    finally:
        s.close()


def test_sign_and_unlock_a_form_from_its_panel(qtbot: QtBot, tasks: TaskManager,
                                               people_site: Path) -> None:
    s = open_site(people_site)
    try:
        sign_in(s, "ines")
        visit = next(iter(FormService(s).visits("ZJU-0001")))
        form_uid = FormService(s).load(visit.visit_uid, "physical_exam").form_uid
        panel = ReviewPanel()
        qtbot.addWidget(panel)
        panel.show()
        panel.show_target(s, tasks, "form", form_uid, "the physical examination")
        qtbot.waitUntil(lambda: panel.signature_label.text() == "Not signed.", timeout=5000)
        assert not panel.verify_button.isVisible()  # an investigator does not verify

        def sign() -> None:
            dialog = _modal(SignatureDialog)
            qtbot.keyClicks(dialog.password, PASSWORD)
            dialog.submit()

        _later(sign)
        with qtbot.waitSignal(panel.changed, timeout=5000):
            _click(qtbot, panel.sign_button)
        qtbot.waitUntil(lambda: "Signed by Ines Test" in panel.signature_label.text(),
                        timeout=5000)
        assert Signature.get().signer == "ines"
        assert panel.unlock_button.isVisible() and not panel.sign_button.isEnabled()

        def unlock() -> None:
            dialog = _modal(UnlockDialog)
            qtbot.keyClicks(dialog.reason, "weight mistyped")
            dialog.submit()

        _later(unlock)
        with qtbot.waitSignal(panel.changed, timeout=5000):
            _click(qtbot, panel.unlock_button)
        assert not Signature.select().exists()
    finally:
        s.close()


def test_a_stale_save_offers_to_reload(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    reloaded: list[bool] = []
    exc = StaleRecordError("Screening: this record was changed by someone else after you "
                           "opened it; nothing was saved.\n"
                           "nora changed ECOG performance status from 1 to 2",
                           table="screening", record_uid="u", expected_version=1,
                           current_version=2)

    def press_reload() -> None:
        box = _modal(QMessageBox)
        assert "nora changed ECOG performance status from 1 to 2" in box.text()
        reload = next(b for b in box.buttons() if "Reload" in b.text())
        qtbot.mouseClick(reload, Qt.MouseButton.LeftButton)

    _later(press_reload)
    handle_save_error(parent, exc, reload=lambda: reloaded.append(True))
    assert reloaded == [True]


def test_opening_a_tampered_file_shows_the_banner(qtbot: QtBot, settings: QSettings,
                                                  tasks: TaskManager, db_path: Path,
                                                  engine: str) -> None:
    path = db_path
    s = open_session(path, user="nurse")
    make_patient(s)
    # Somebody with the file (or a superuser on the server) rewrites history.
    s.db.execute_sql("DROP TRIGGER audit_entry_no_update"
                     + (" ON audit_entry" if engine == "postgresql" else ""))
    s.db.execute_sql("UPDATE audit_entry SET new_value = replace(new_value, 'ZJU', 'XXX')")
    s.close()
    win = MainWindow(settings, tasks, opener=lambda p: open_session(p, user="nurse"))
    qtbot.addWidget(win)
    win.setProperty("headless", True)
    with qtbot.waitSignal(win.ready, timeout=10_000):
        win.open_database(path)
    assert win.banner.isVisibleTo(win)
    assert "Audit trail: the audit trail does not match" in win.banner.text()
    assert isinstance(win.session, Session)
    win.session.close()


def test_a_screening_saved_meanwhile_by_someone_else_is_not_overwritten(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    from gisttracker.services.patients import PatientService
    from gisttracker.services.policy import trusted_actor
    from tests.core.patients_helpers import eligible_patient, good_data, set_site
    from ui.screening import ScreeningTab

    set_site(session)
    service = PatientService(session)
    patient = eligible_patient(service, "NCT04933669")
    tab = ScreeningTab()
    tab.today = lambda: TODAY
    qtbot.addWidget(tab)
    tab.show()
    tab.set_patient(session, tasks, patient.uid)
    qtbot.waitUntil(lambda: tab.criteria.rowCount() > 0, timeout=5000)
    ecog = tab.numbers["ecog"][0]
    ecog.clear()
    qtbot.keyClicks(ecog, "0")  # nora types, and has not saved yet
    # Meanwhile li.wei, at another workstation, corrects the tumour size.
    session.tracker.sign_in(trusted_actor("li.wei"))
    data = good_data(session.studies["NCT04933669"])
    data.values["tumour_size_cm"] = 13.5
    service.save_screening(patient.uid, data, today=TODAY)
    session.tracker.sign_in(trusted_actor("nora"))
    seen: list[str] = []

    def reload(box: Any) -> None:
        assert isinstance(box, QMessageBox), box
        seen.append(box.text())
        qtbot.mouseClick(next(b for b in box.buttons() if "Reload" in b.text()),
                         Qt.MouseButton.LeftButton)

    # The save runs on the worker: the prompt comes when its refusal arrives.
    from tests.ui.helpers import when_dialog

    when_dialog(reload)
    _click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "changed by someone else" in seen[0]
    assert "li.wei changed Maximum tumour diameter from 12.0 cm to 13.5 cm" in seen[0]
    latest = service.latest_screening(patient.uid)
    # Nora's stale save wrote nothing: li's correction stands, and so does the ECOG.
    assert latest is not None and (latest.ecog, latest.tumour_size_cm) == (1, 13.5)
    # The form was reloaded: it shows what is stored now.
    size = tab.numbers["tumour_size_cm"][0]
    qtbot.waitUntil(lambda: size.text() == "13.5" and ecog.text() == "1", timeout=5000)


def test_a_monitor_sees_a_form_read_only_with_its_review_and_a_query_button(
        qtbot: QtBot, tasks: TaskManager, people_site: Path) -> None:
    from ui.visit_forms import FormEditorDialog

    s = open_site(people_site)
    try:
        sign_in(s, "mona")
        visit = next(iter(FormService(s).visits("ZJU-0001")))
        data = FormService(s).load(visit.visit_uid, "physical_exam")
        dialog = FormEditorDialog(s, tasks, data, TODAY)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: dialog.review.verify_button.isVisible(), timeout=5000)
        assert dialog.save_button.isHidden() and dialog.complete_button.isHidden()
        assert dialog.query_button.isVisible()
        assert not any(row.editor.isEnabled() for row in dialog.rows.values())
        assert dialog.review.signature_label.text() == "Not signed."
        _click(qtbot, dialog.review.verify_button)
        qtbot.waitUntil(lambda: "Source-verified by mona" in
                        dialog.review.verified_label.text(), timeout=5000)
        qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)
    finally:
        s.close()


@pytest.mark.parametrize(("name", "expected"), [
    # save the form, sign it, verify it, raise a query about it
    ("ada", (True, False, False, False)),
    ("ines", (True, True, False, False)),
    ("nora", (True, False, False, False)),
    ("mona", (False, False, True, True)),
    ("rita", (False, False, False, False)),
])
def test_each_role_sees_the_form_actions_it_may_use(
        qtbot: QtBot, tasks: TaskManager, people_site: Path, name: str,
        expected: tuple[bool, bool, bool, bool]) -> None:
    from ui.visit_forms import FormEditorDialog

    s = open_site(people_site)
    try:
        sign_in(s, name)
        visit = next(iter(FormService(s).visits("ZJU-0001")))
        dialog = FormEditorDialog(s, tasks, FormService(s).load(visit.visit_uid,
                                                                 "physical_exam"), TODAY)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: dialog.review.isVisible(), timeout=5000)
        qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)
        seen = (dialog.save_button.isVisible(), dialog.review.sign_button.isVisible(),
                dialog.review.verify_button.isVisible(), dialog.query_button.isVisible())
        assert seen == expected
        # What is hidden is refused by the services too (test_policy.py); what is shown
        # works: the editors follow the same permission.
        assert any(r.editor.isEnabled() for r in dialog.rows.values()) == expected[0]
    finally:
        s.close()

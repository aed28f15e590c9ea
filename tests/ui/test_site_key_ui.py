"""The site's signing key carried to another workstation, and replaced when lost, in the
window (File > Export and File > Import) — typed and clicked like a person, checked in the
key files and the database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gisttracker.exchange.keys import key_folder, private_key_path, public_key_path, site_key
from gisttracker.exchange.keys import public_of as public_key_of
from gisttracker.services.exchange.packages import make_package
from gisttracker.services.exchange.site_keys import expected_signer
from gisttracker.store.models import AuditLog
from tests.core.exchange_helpers import open_site
from tests.ui.test_exchange_ui import _menu_action, _run, _type, _window
from ui.exchange import TaskDialog
from ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_ignore("propagateSizeHints"), pytest.mark.engines]
PASSPHRASE = "seven hills of Hangzhou"


@pytest.fixture
def site(db_path: Path, tmp_path: Path) -> Path:
    """Site ZJU (on the engine under test) that has sent its first package."""
    session = open_site(db_path, "ZJU")
    try:
        make_package(session, tmp_path / "zju-1.zip")
    finally:
        session.close()
    return db_path


def _dialog(window: MainWindow, qtbot: QtBot, name: str, *path: str) -> TaskDialog:
    action = _menu_action(window, *path)
    assert action.isEnabled()
    action.trigger()
    dialog = window.exchange.dialogs[name]
    qtbot.waitExposed(dialog)
    return dialog


def _fails(qtbot: QtBot, dialog: TaskDialog) -> str:
    with qtbot.waitSignal(dialog.failed_job, timeout=60_000):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    return dialog.status.text()


def test_the_key_goes_to_another_workstation_through_the_window(
        qtbot: QtBot, tmp_path: Path, site: Path) -> None:
    signer = public_key_of("ZJU", site_key(site, "ZJU", create=False))
    carried = tmp_path / "zju.key"
    with _window(qtbot, tmp_path, site) as window:
        dialog = _dialog(window, qtbot, "ExportDialog", "Export",
                         "This site's private signing key")
        _type(qtbot, dialog.path, str(carried))  # type: ignore[attr-defined]
        _type(qtbot, dialog.passphrase, PASSPHRASE)  # type: ignore[attr-defined]
        _type(qtbot, dialog.again, PASSPHRASE + "!")  # type: ignore[attr-defined]
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        assert "passphrases differ" in dialog.status.text()
        assert not carried.exists()
        _type(qtbot, dialog.again, PASSPHRASE)  # type: ignore[attr-defined]
        _run(qtbot, dialog)
        assert signer.fingerprint in dialog.status.text()
        assert b"ENCRYPTED PRIVATE KEY" in carried.read_bytes()
        assert dialog.passphrase.text() == dialog.again.text() == ""  # type: ignore[attr-defined]
        dialog.close()

        # Now this is a workstation without the key: the package is refused, and says why.
        shutil.move(key_folder(site), tmp_path / "gone")
        dialog = _dialog(window, qtbot, "ExportDialog", "Export", "Site package: changes")
        _type(qtbot, dialog.path, str(tmp_path / "zju-2.zip"))  # type: ignore[attr-defined]
        assert "not on this workstation" in _fails(qtbot, dialog)
        assert not (tmp_path / "zju-2.zip").exists()
        dialog.close()

        dialog = _dialog(window, qtbot, "ImportKeyDialog", "Import",
                         "This site's private signing key")
        _type(qtbot, dialog.path, str(carried))  # type: ignore[attr-defined]
        _type(qtbot, dialog.passphrase, "not the passphrase")  # type: ignore[attr-defined]
        assert "passphrase is wrong" in _fails(qtbot, dialog)
        assert not private_key_path(site, "ZJU").exists()
        _type(qtbot, dialog.passphrase, PASSPHRASE)  # type: ignore[attr-defined]
        _run(qtbot, dialog)
        assert "is installed" in dialog.status.text()
        assert dialog.passphrase.text() == ""  # type: ignore[attr-defined]
        dialog.close()

        dialog = _dialog(window, qtbot, "ExportDialog", "Export", "Site package: changes")
        _type(qtbot, dialog.path, str(tmp_path / "zju-2.zip"))  # type: ignore[attr-defined]
        _run(qtbot, dialog)
        assert "#2" in dialog.status.text()
    assert public_key_of("ZJU", site_key(site, "ZJU", create=False)) == signer


def test_a_lost_key_is_replaced_in_the_window_with_a_reason(
        qtbot: QtBot, tmp_path: Path, site: Path) -> None:
    shutil.move(key_folder(site), tmp_path / "gone")
    new_public = tmp_path / "zju-new.pub"
    reason = "the workstation with the key was replaced"
    with _window(qtbot, tmp_path, site) as window:
        dialog = _dialog(window, qtbot, "ExportDialog", "Export", "A new signing key")
        assert dialog.reason.isVisible()  # type: ignore[attr-defined]
        assert not dialog.passphrase.isVisible()  # type: ignore[attr-defined]
        _type(qtbot, dialog.path, str(new_public))  # type: ignore[attr-defined]
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        assert "why the site needs a new key" in dialog.status.text()
        assert not new_public.exists()
        _type(qtbot, dialog.reason, reason)  # type: ignore[attr-defined]
        _run(qtbot, dialog)
        assert "must register it again" in dialog.status.text()
        assert window.session is not None
        assert expected_signer("ZJU") is not None
        assert expected_signer("ZJU").text() == new_public.read_text(  # type: ignore[union-attr]
            encoding="utf-8")
        assert AuditLog.select().where(AuditLog.reason == reason).exists()
    assert public_key_path(site, "ZJU").read_text(encoding="utf-8") == new_public.read_text(
        encoding="utf-8")

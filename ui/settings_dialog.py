"""File > Settings…: the site settings (site code, site name, paper size, language), saved
through the audited service on the worker.

Changing the site code once patients exist asks first, and says what it means: existing
patients keep their identifiers (nobody is renumbered), new patients are numbered under the
new code, and in a study whose randomization is stratified by site the new code is a new
stratum. Such a change needs a reason (kept in the audit trail).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QLineEdit, QMessageBox, QWidget

from gisttracker import i18n
from gisttracker.i18n import _
from gisttracker.services.settings import SPECS, SettingsService
from ui.errors import error_message, show_error
from ui.widgets.record_dialog import FieldError, RecordDialog

if TYPE_CHECKING:
    from ui.context import WindowContext

PAPERS = {"a4": "A4", "letter": "Letter"}


class SettingsDialog(RecordDialog):
    """The site settings; ``values`` are the current ones (read on the worker)."""

    def __init__(self, context: WindowContext, values: dict[str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(_("Site settings"), parent, reason="optional", prompt=_(
            "These settings belong to the site database and are the same for everyone who "
            "opens it. Each change is kept in the audit trail."))
        self.context = context
        self.values = dict(values)
        self.site_code = QLineEdit(values["site_code"], self)
        self.site_code.setMaxLength(8)
        self.site_code.setToolTip(_(SPECS["site_code"].hint))
        self.add("site_code", _("Site &code"), self.site_code)
        self.site_name = QLineEdit(values["site_name"], self)
        self.add("site_name", _("Site &name"), self.site_name)
        self.paper = QComboBox(self)
        for key, label in PAPERS.items():
            self.paper.addItem(_(label), key)
        self.paper.setCurrentIndex(max(0, self.paper.findData(values["paper"])))
        self.add("paper", _("&Paper size"), self.paper)
        self.language = QComboBox(self)
        # The site's default, used where a person has not chosen one (File > Language);
        # each language named in itself. It applies the next time the program starts.
        self.language.addItem(_("Each workstation's system language"), "system")
        for key, label in i18n.LANGUAGES.items():
            if key in SPECS["language"].allowed:
                self.language.addItem(label, key)
        self.language.setToolTip(_("The default language of the site; a person's own choice "
                                   "(File > Language) comes first. It applies the next time "
                                   "the program starts."))
        self.language.setCurrentIndex(max(0, self.language.findData(values["language"])))
        self.add("language", _("&Language"), self.language)
        self.read = SettingsDialog._read
        self.submit = self._submit

    @staticmethod
    def _read(dialog: RecordDialog) -> dict[str, str]:
        """The settings that changed (key → new value), checked where they were typed."""
        assert isinstance(dialog, SettingsDialog)
        typed = {"site_code": dialog.site_code.text().strip().upper(),
                 "site_name": dialog.site_name.text().strip(),
                 "paper": dialog.paper.currentData(), "language": dialog.language.currentData()}
        service = SettingsService(dialog.context.session.tracker)
        for key, value in typed.items():
            problem = service.validate(key, value)
            if problem:
                raise FieldError(key, problem)
        return {k: v for k, v in typed.items() if v != dialog.values.get(k)}

    def confirm(self, note: str) -> bool:
        """Ask before a change that concerns data already recorded (tests answer it)."""
        answer = QMessageBox.question(
            self, _("Change the site code?"), note,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def _submit(self, changes: object) -> None:
        assert isinstance(changes, dict)
        if not changes:
            self.done_ok()
            return
        session, tasks = self.context.session, self.context.tasks

        def notes() -> list[str]:
            service = SettingsService(session.tracker, session.studies.values())
            return [n for k, v in changes.items() if (n := service.change_note(k, v))]

        reason = self.reason_text() or None  # read here: the worker never touches widgets

        def save() -> None:
            service = SettingsService(session.tracker, session.studies.values())
            with session.tracker.transaction(reason or _("site settings changed")):
                for key, value in changes.items():
                    service.set(key, value, reason=reason, confirmed=True)

        def noted(found: list[str]) -> None:
            if found:
                if not self.confirm("\n\n".join(found)):
                    self.show_errors({})
                    return
                if not self.reason_text():
                    self.show_errors({"reason": _("give the reason for changing the site "
                                                  "code")})
                    return
            tasks.run(save, lambda _r: self.done_ok(), self._failed)

        tasks.run(notes, noted, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.show_errors({"": error_message(exc, context="site settings")})


def open_settings(parent: QWidget, context: WindowContext) -> None:
    """Read the settings on the worker, then open the dialog."""

    def opened(values: dict[str, str]) -> None:
        dialog = SettingsDialog(context, values, parent)
        parent.settings_dialog = dialog  # type: ignore[attr-defined]  # tests find it here
        dialog.open()

    def failed(exc: BaseException) -> None:
        show_error(parent, exc, context="site settings")

    session = context.session
    context.tasks.run(lambda: SettingsService(session.tracker).all(), opened, failed)

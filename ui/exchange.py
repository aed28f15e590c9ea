"""File menu dialogs: export, import, back up, restore, the coordinating centre's work.

Every job runs on the window's background worker (:mod:`ui.tasks`) with a progress bar in
its dialog; paths can be typed or chosen with "Browse…". The menu that opens these dialogs,
and the watch over each database the window opens (read-only banner, the whole-file check
for damaged pages, scheduled backups), are :mod:`ui.exchange_menu`: built at every start,
it imports this module when the first dialog is opened.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _, ngettext
from gisttracker.session import Session
from gisttracker.store.urls import is_server
from ui.errors import error_message, is_expected, show_error
from ui.exchange_menu import EXPORT_KINDS

if TYPE_CHECKING:
    from ui.main_window import MainWindow

Job = Callable[[Callable[[str, float | None], None]], Any]

PHASES = {
    "check": N_("Checking…"), "read": N_("Reading the data…"), "copy": N_("Copying…"),
    "keep": N_("Keeping a copy of the current database…"), "restore": N_("Restoring…"),
    "verify": N_("Verifying…"), "validate": N_("Validating against the ODM schema…"),
    "write": N_("Writing…"), "tables": N_("Writing the tables…"),
    "wide": N_("Writing the wide files…"), "sign": N_("Signing…"), "pack": N_("Packing…"),
    "merge": N_("Merging…"), "done": N_("Done"),
}


class _Relay(QObject):
    """Carries progress from the worker thread to the dialog (queued signal)."""

    changed = Signal(str, float)

    def callback(self) -> Callable[[str, float | None], None]:
        def report(phase: str, fraction: float | None) -> None:
            self.changed.emit(phase, -1.0 if fraction is None else float(fraction))
        return report



def dialog_caption(label: str) -> str:
    """A form label as a window title: without its access key ("&t", or "(&T)" after
    Chinese text, as Qt writes mnemonics for CJK) and without its closing colon."""
    text = re.sub(r"\(&[^&]\)", "", label)
    text = re.sub(r"&(.)", r"\1", text)  # "&&" stays one literal "&"
    return text.rstrip().rstrip(":：").rstrip()


class TaskDialog(QDialog):
    """A form, a button that runs the job on the worker, a progress bar and a status line."""

    finished_job = Signal(object)  # the job's result (for tests and callers)
    failed_job = Signal(str)

    def __init__(self, window: MainWindow, title: str, button: str) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle(title)
        self.setMinimumWidth(560)
        self.form = QFormLayout()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Room for a three-line message (a path and a count wrap) without resizing the dialog.
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing() + 4)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.run_button = QPushButton(button, self)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        close = QPushButton(_("Close"), self)
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        self.extra = QVBoxLayout()
        layout.addLayout(self.extra)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.relay = _Relay(self)
        self.relay.changed.connect(self._progress)
        self.first: QWidget | None = None  # where the cursor starts

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.first is not None:
            self.first.setFocus()

    def field(self, widget: QWidget) -> QWidget:
        """Note ``widget`` as the place to start typing if it is the first field."""
        if self.first is None:
            self.first = widget
        return widget

    @property
    def session(self) -> Session | None:
        return self.window_.session

    def path_row(self, label: str, *, save: bool, folder: bool = False,
                 filters: str = "") -> QLineEdit:
        """A path field with a Browse… button beside it."""
        edit = QLineEdit(self)
        self.field(edit)
        edit.setMinimumWidth(360)
        browse = QPushButton(_("Browse…"), self)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        holder = QWidget(self)
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        caption = QLabel(label, self)
        caption.setBuddy(edit)  # the mnemonic goes to the field, not to its row
        self.form.addRow(caption, holder)

        # The file dialog's title is the field's label without its access key and colon:
        # "Back up &to:" -> "Back up to", "备份到(&T)：" -> "备份到".
        caption = dialog_caption(label)

        def choose() -> None:
            if folder:
                name = QFileDialog.getExistingDirectory(self, caption)
            elif save:
                name, _f = QFileDialog.getSaveFileName(self, caption, edit.text(), filters)
            else:
                name, _f = QFileDialog.getOpenFileName(self, caption, edit.text(), filters)
            if name:
                edit.setText(name)

        browse.clicked.connect(choose)
        return edit

    def run(self) -> None:
        """Override: check the form, then :meth:`start` the job."""

    def say(self, text: str) -> None:
        self.status.setText(text)
        # A long message (a refusal that says how to put things right) grows the dialog
        # instead of being cut off and squeezing the form above it.
        needed = self.heightForWidth(self.width())
        if needed > self.height():
            self.resize(self.width(), needed)

    def start(self, job: Job, done: Callable[[Any], None]) -> None:
        self.run_button.setEnabled(False)
        self.progress.setValue(0)
        report = self.relay.callback()

        def finished(result: Any) -> None:
            self.run_button.setEnabled(True)
            self.progress.setValue(100)
            done(result)
            self.finished_job.emit(result)

        def failed(exc: BaseException) -> None:
            self.run_button.setEnabled(True)
            self.progress.setValue(0)
            if is_expected(exc):
                self.say(str(exc))
            else:
                self.say(_("Something went wrong inside the program; a report was saved."))
                show_error(self, exc, context=self.windowTitle())
            self.failed_job.emit(str(exc))

        self.window_.tasks.run(lambda: job(report), finished, failed)

    def _progress(self, phase: str, fraction: float) -> None:
        label = PHASES.get(phase)
        if label:
            self.say(_(label))
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(fraction * 100))


def _study_box(parent: QWidget, session: Session | None) -> QComboBox:
    box = QComboBox(parent)
    box.addItem(_("All studies"), None)
    if session is not None:
        for study in sorted(session.studies.values(), key=lambda s: s.key):
            box.addItem(f"{study.short_title} ({study.registration or study.key})", study.key)
    return box


# ----- export --------------------------------------------------------------------------------

class ExportDialog(TaskDialog):
    def __init__(self, window: MainWindow, kind: str = "csv") -> None:
        super().__init__(window, _("Export"), _("&Export"))
        self.kind = QComboBox(self)
        self.field(self.kind)
        for key, label in EXPORT_KINDS:
            self.kind.addItem(_(label), key)
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        self.form.addRow(_("&What:"), self.kind)
        self.study = _study_box(self, self.session)
        self.form.addRow(_("&Study:"), self.study)
        self.identifiers = QCheckBox(_("Include names, record numbers and dates of &birth"),
                                     self)
        self.form.addRow("", self.identifiers)
        self.path = self.path_row(_("Save &to:"), save=True)
        # The private key's passphrase (typed twice), and the reason for a new key.
        self.passphrase = self._secret()
        self.form.addRow(_("&Passphrase:"), self.passphrase)
        self.again = self._secret()
        self.form.addRow(_("Passphrase &again:"), self.again)
        self.reason = QLineEdit(self)
        self.reason.setPlaceholderText(_("e.g. the workstation that held the key was "
                                         "replaced"))
        self.form.addRow(_("&Reason:"), self.reason)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def _key_written(self, message: object) -> None:
        self.passphrase.clear()  # not kept in the dialog once the file is written
        self.again.clear()
        self.say(str(message))

    def _secret(self) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        return edit

    def _kind_changed(self) -> None:
        key = self.kind.currentData()
        self.study.setEnabled(key.startswith(("csv", "odm")))
        self.identifiers.setEnabled(not key.startswith("key") and key != "odm-metadata")
        self.status.clear()  # what was said of another kind of export
        for widget, shown in ((self.passphrase, key == "key-private"),
                              (self.again, key == "key-private"),
                              (self.reason, key == "key-new")):
            self.form.setRowVisible(widget, shown)

    def run(self) -> None:
        session = self.session
        text = self.path.text().strip()
        if session is None:
            return
        if not text:
            self.say(_("Type where to save the export, or choose it with Browse…"))
            self.path.setFocus()
            return
        target = Path(text).expanduser()
        key = str(self.kind.currentData())
        if target.exists() and not (key == "csv" and target.is_dir()
                                    and not any(target.iterdir())):
            self.say(_("{path} already exists; choose a new name (an export never replaces "
                       "another file)").format(path=target))
            return
        study = self.study.currentData() if self.study.isEnabled() else None
        identifiers = self.identifiers.isChecked() and self.identifiers.isEnabled()
        if key == "key-private":
            secret = self.passphrase.text()
            if secret != self.again.text():
                self.say(_("The two passphrases differ; type the same one twice"))
                self.again.clear()
                self.again.setFocus()
                return
            self.start(lambda report: _private_key(session, target, secret), self._key_written)
            return
        if key == "key-new" and not self.reason.text().strip():
            self.say(_("Type why the site needs a new key"))
            self.reason.setFocus()
            return
        reason = self.reason.text().strip()
        self.start(lambda report: _export(session, key, target, study, identifiers, report,
                                          reason=reason),
                   lambda message: self.say(str(message)))


def _private_key(session: Session, target: Path, secret: str) -> str:
    """Runs on the worker: the site's signing key, encrypted, for another workstation."""
    from gisttracker.services.exchange.site_keys import export_private_key

    public = export_private_key(session, target, secret)
    return _("The signing key of site {site} (fingerprint {fp}) written to {path}, encrypted. "
             "Carry it to the other workstation, install it there with File > Import > This "
             "site's private signing key, then delete the file.").format(
                 site=public.site_code, fp=public.fingerprint, path=target)


def _export(session: Session, key: str, target: Path, study: str | None, identifiers: bool,
            report: Callable[[str, float | None], None], *, reason: str = "") -> str:
    """Runs on the worker: the export ``key`` of the open site to ``target``."""
    if key == "csv":
        from gisttracker.exchange.csv_export import export_csv

        result = export_csv(session, target, study=study, identifiers=identifiers,
                            progress=report)
        return _("{files} CSV files ({rows} rows), a data dictionary and import scripts "
                 "written to {path}").format(files=result.files, rows=result.rows, path=target)
    if key.startswith("odm"):
        from gisttracker.exchange.odm.export import export_odm

        kind = {"odm": "snapshot", "odm-transactional": "transactional",
                "odm-metadata": "metadata"}[key]
        odm = export_odm(session, target, kind=kind, study=study,  # type: ignore[arg-type]
                         identifiers=identifiers, progress=report)
        return _("CDISC ODM 1.3.2 file written to {path} ({subjects} subjects), validated "
                 "against the ODM schema").format(path=target, subjects=odm.subjects)
    if key.startswith("package"):
        from gisttracker.services.exchange.packages import make_package

        made = make_package(session, target, full=key == "package-full",
                            identifiers=identifiers, progress=report)
        m = made.manifest
        return _("Package {site} #{seq} written to {path}: {records} records, {audit} audit "
                 "rows, signed").format(site=m.site_code, seq=m.seq, path=target,
                                        records=sum(m.tables.values()), audit=m.audit_rows)
    from gisttracker.atomic import atomic_open
    from gisttracker.exchange.keys import public_of
    from gisttracker.services.exchange.packages import site_identity
    from gisttracker.services.exchange.site_keys import new_site_key, signing_key

    if key == "key-new":
        public = new_site_key(session, reason)
    else:
        code, _name = site_identity(session)
        public = public_of(code, signing_key(session, code))
    with atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write(public.text())
    if key == "key-new":
        return _("A new signing key for site {site} (fingerprint {fp}); its public key is in "
                 "{path}. The coordinating centre must register it again before it accepts "
                 "this site's next package.").format(site=public.site_code,
                                                     fp=public.fingerprint, path=target)
    return _("Public key of site {site} written to {path}. Send it to the coordinating centre "
             "and read them its fingerprint by telephone: {fp}").format(
                 site=public.site_code, path=target, fp=public.fingerprint)


# ----- import --------------------------------------------------------------------------------

class ImportOdmDialog(TaskDialog):
    """Check an ODM file first (nothing written), then import it."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Import CDISC ODM"), _("&Check"))
        self.path = self.path_row(_("ODM &file:"), save=False,
                                  filters=_("ODM files (*.xml);;All files (*)"))
        self.refusals = QListWidget(self)
        self.refusals.setAccessibleName(_("What was refused"))
        self.refusals.setWordWrap(True)
        self.extra.addWidget(QLabel(_("What does not match this site's protocols:"), self))
        self.extra.addWidget(self.refusals, 1)
        self.import_button = QPushButton(_("&Import"), self)
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.write)
        self.extra.addWidget(self.import_button)
        self.checked: Path | None = None
        self.path.textChanged.connect(lambda _t: self.import_button.setEnabled(False))

    def run(self) -> None:
        self._go(dry_run=True)

    def write(self) -> None:
        self._go(dry_run=False)

    def _go(self, *, dry_run: bool) -> None:
        from gisttracker.services.exchange.odm_import import import_odm, summary

        session = self.session
        text = self.path.text().strip()
        if session is None or not text:
            self.say(_("Type the ODM file to import, or choose it with Browse…"))
            return
        path = Path(text).expanduser()
        skip = not dry_run and self.refusals.count() > 0

        def done(report: Any) -> None:
            self.refusals.clear()
            for refusal in report.refused:
                self.refusals.addItem(str(refusal))
            self.say(summary(report))
            ready = dry_run and bool(report.imported)
            self.import_button.setEnabled(ready)
            self.import_button.setText(
                _("&Import") if not report.refused else ngettext(
                    "&Import the {n} subject that passes", "&Import the {n} subjects that pass",
                    len(report.imported)).format(n=len(report.imported)))

        self.start(lambda report: import_odm(session, path, dry_run=dry_run,
                                             skip_refused=skip, progress=report), done)


class ImportKeyDialog(TaskDialog):
    """Install the site's signing key exported on another workstation of the site."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Install this site's signing key"), _("&Install"))
        self.path = self.path_row(_("Key &file:"), save=False,
                                  filters=_("Site private keys (*.key);;All files (*)"))
        self.passphrase = QLineEdit(self)
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow(_("&Passphrase:"), self.passphrase)

    def run(self) -> None:
        from gisttracker.services.exchange.site_keys import install_private_key

        session = self.session
        text = self.path.text().strip()
        if session is None or not text:
            self.say(_("Type the key file, or choose it with Browse…"))
            return
        path, secret = Path(text).expanduser(), self.passphrase.text()

        def done(result: Any) -> None:
            public, changed = result
            self.passphrase.clear()
            self.say((_("The signing key of site {site} (fingerprint {fp}) is installed: this "
                        "workstation can now make the site's packages. Delete the key file.")
                      if changed else
                      _("This workstation already has the signing key of site {site} "
                        "(fingerprint {fp}); nothing changed.")).format(
                site=public.site_code, fp=public.fingerprint))

        self.start(lambda report: install_private_key(session, path, secret), done)


class ImportPackagesDialog(TaskDialog):
    """The coordinating centre imports site packages (one path per line)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Import site packages"), _("&Import"))
        self.path = self.path_row(_("&Package:"), save=False,
                                  filters=_("Site packages (*.zip);;All files (*)"))
        self.results = QListWidget(self)
        self.extra.addWidget(self.results, 1)

    def run(self) -> None:
        from gisttracker.services.exchange.centre import import_package

        session = self.session
        text = self.path.text().strip()
        if session is None or not text:
            self.say(_("Type the package to import, or choose it with Browse…"))
            return
        path = Path(text).expanduser()

        def done(result: Any) -> None:
            if result.superseded_by is not None:
                line = _("{file}: older than package #{later}, imported already; nothing "
                         "changed").format(file=path.name, later=result.superseded_by)
            elif result.already:
                line = _("{file}: imported before; nothing changed").format(file=path.name)
            else:
                line = _("{file}: package {site} #{seq}: {added} records added, {updated} "
                         "updated, {deleted} deleted, {conflicts} conflicts").format(
                    file=path.name, site=result.site_code, seq=result.seq,
                    added=sum(result.added.values()), updated=sum(result.updated.values()),
                    deleted=result.deleted, conflicts=result.conflicts)
            self.results.addItem(line)
            self.say(line)

        self.start(lambda report: import_package(session, path, progress=report), done)


class RegisterSiteDialog(TaskDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Register a site"), _("&Register"))
        self.code = QLineEdit(self)
        self.field(self.code)
        self.code.setPlaceholderText(_("e.g. ZJU"))
        self.form.addRow(_("Site &code:"), self.code)
        self.path = self.path_row(_("Public &key file:"), save=False,
                                  filters=_("Site keys (*.pub);;All files (*)"))

    def run(self) -> None:
        from gisttracker.services.exchange.centre import trust_site

        session = self.session
        code = self.code.text().strip()
        text = self.path.text().strip()
        if session is None or not code or not text:
            self.say(_("Type the site's code and its public key file"))
            return

        def job(_report: Any) -> Any:
            try:
                key_text = Path(text).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                from gisttracker.services.base import ServiceError

                raise ServiceError(_("cannot read {path}: {error}").format(
                    path=text, error=exc)) from exc
            return trust_site(session, code, key_text)

        self.start(job, lambda result: self.say(_(
            "Site {site} registered; its key's fingerprint is {fp}: check it with the site by "
            "telephone").format(site=result[0].site_code, fp=result[0].fingerprint)))


class ConflictsDialog(TaskDialog):
    """Fields changed both at a site and at the centre: keep one, with a reason."""

    COLUMNS = (N_("Site"), N_("Patient"), N_("Table"), N_("Field"), N_("Site's value"),
               N_("Centre's value"))

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Conflicts between sites and the centre"), _("Re&fresh"))
        self.table = QTableWidget(0, len(self.COLUMNS), self)
        self.table.setHorizontalHeaderLabels([_(c) for c in self.COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.field(self.table)
        self.extra.addWidget(self.table, 1)
        self.reason = QLineEdit(self)
        self.reason.setPlaceholderText(_("Why (kept in the audit trail)"))
        row = QFormLayout()
        row.addRow(_("&Reason:"), self.reason)
        self.extra.addLayout(row)
        self.keep_site = QPushButton(_("Keep the &site's value"), self)
        self.keep_centre = QPushButton(_("Keep the c&entre's value"), self)
        self.keep_site.clicked.connect(lambda: self.resolve("site"))
        self.keep_centre.clicked.connect(lambda: self.resolve("centre"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_site)
        buttons.addWidget(self.keep_centre)
        buttons.addStretch(1)
        self.extra.addLayout(buttons)
        self.setMinimumSize(820, 460)
        self.ids: list[int] = []
        self.run()

    def run(self) -> None:
        from gisttracker.services.exchange.centre import list_conflicts

        if self.session is None:
            return
        self.start(lambda _report: list_conflicts(), self._show)

    def _show(self, rows: Any, done: str = "") -> None:
        from gisttracker.exchange.catalogue import LABELS

        self.table.setRowCount(len(rows))
        self.ids = []
        for n, row in enumerate(rows):
            self.ids.append(row.id)
            field = LABELS.get(row.field)
            values = (f"{row.site_code} #{row.package_seq}", row.patient or "",
                      row.table_name.replace("_", " ").capitalize(),
                      _(field) if field else row.field.replace("_", " "),
                      _shown(row.site_value), _shown(row.centre_value))
            for column, value in enumerate(values):
                self.table.setItem(n, column, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        count = (ngettext("{n} open conflict", "{n} open conflicts", len(rows)).format(
            n=len(rows)) if rows else _("No open conflicts."))
        self.say(f"{done} {count}".strip())

    def resolve(self, keep: str) -> None:
        from gisttracker.services.exchange.centre import resolve_conflict

        session = self.session
        row = self.table.currentRow()
        if session is None or row < 0 or row >= len(self.ids):
            self.say(_("Choose a conflict in the list first"))
            return
        reason = self.reason.text().strip()
        if not reason:
            self.say(_("Type the reason first: it is kept in the audit trail"))
            self.reason.setFocus()
            return
        conflict = self.ids[row]

        def job(_report: Any) -> Any:
            from gisttracker.services.exchange.centre import list_conflicts

            resolve_conflict(session, conflict, keep, reason)
            return list_conflicts()

        def done(rows: Any) -> None:
            self.reason.clear()
            self._show(rows, _("Resolved: the site's value is kept.") if keep == "site"
                       else _("Resolved: the centre's value is kept."))

        self.start(job, done)


def _shown(value: object) -> str:
    return "—" if value is None else str(value)


# ----- backup, restore, verify, schedule -----------------------------------------------------

class BackupDialog(TaskDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Back up"), _("&Back up"))
        self.path = self.path_row(_("Back up &to:"), save=True,
                                  filters=_("Backups (*.db);;All files (*)"))
        if self.session is not None:
            from gisttracker.backup import backup_stem

            stamp = datetime.now().strftime("%Y%m%d-%H%M")
            name = f"{backup_stem(self.session.path)}-{stamp}.backup.db"
            # A server site's backup goes to the user's home folder (beside a file: the file).
            self.path.setText(str(Path.home() / name if is_server(self.session.path)
                                  else self.session.path.with_name(name)))

    def run(self) -> None:
        from gisttracker.backup import backup

        session = self.session
        text = self.path.text().strip()
        if session is None or not text:
            self.say(_("Type where to write the backup"))
            return
        target = Path(text).expanduser()
        if target.exists():
            self.say(_("{path} already exists; choose a new file name").format(path=target))
            return
        self.start(lambda report: backup(session.path, target, progress=report),
                   lambda result: self.say(_(
                       "Backup written to {path}: {rows} rows, verified (integrity check and "
                       "row counts)").format(path=result.path, rows=result.rows)))


class RestoreDialog(TaskDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Restore from a backup"), _("&Restore"))
        self.path = self.path_row(_("&Backup file:"), save=False,
                                  filters=_("Backups (*.db);;All files (*)"))
        self.confirm = QCheckBox(_(
            "Replace the data in this database with the backup's (a copy of the database as "
            "it is now is kept beside it)"), self)
        self.form.addRow("", self.confirm)

    def run(self) -> None:
        from gisttracker.backup import restore

        session = self.session
        text = self.path.text().strip()
        if session is None or not text:
            self.say(_("Type the backup file to restore"))
            return
        if not self.confirm.isChecked():
            self.say(_("Tick the box to confirm that the data are to be replaced"))
            return
        database = session.path
        backup_file = Path(text).expanduser()

        def done(result: Any) -> None:
            kept = result.kept
            if kept is None:  # a server database: restored only into an empty one
                self.say(_("Restored from {backup}").format(backup=backup_file))
            else:
                self.say(_("Restored from {backup}; the database as it was is kept in {kept}")
                         .format(backup=backup_file, kept=kept))
            # Everything shown came from the old data: open the file afresh.
            self.window_.open_database(database)

        self.start(lambda report: restore(backup_file, database, progress=report), done)


class ScheduleDialog(TaskDialog):
    """Where, how often and how many scheduled backups (site settings, audited)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, _("Scheduled backups"), _("&Save"))
        self.folder = self.path_row(_("Backup &folder:"), save=False, folder=True)
        self.hours = QSpinBox(self)
        self.hours.setRange(1, 9999)
        self.hours.setSuffix(_(" hours"))
        self.form.addRow(_("&Every:"), self.hours)
        self.keep = QSpinBox(self)
        self.keep.setRange(1, 999)
        self.form.addRow(_("&Keep the newest:"), self.keep)
        session = self.session
        if session is not None:
            from gisttracker.backup import backup_plan

            # Read on the worker (the window reads nothing on its GUI thread); the fields
            # wait for what is stored, so nothing typed meanwhile is overwritten.
            self._editable(False)
            tracker = session.tracker
            window.tasks.run(lambda: backup_plan(tracker), self._plan_loaded,
                             self._plan_failed)

    def _editable(self, on: bool) -> None:
        for widget in (self.folder, self.hours, self.keep, self.run_button):
            widget.setEnabled(on)

    def _plan_loaded(self, plan: Any) -> None:
        self.folder.setText(str(plan.folder or ""))
        self.hours.setValue(plan.every_hours)
        self.keep.setValue(plan.keep)
        self._editable(True)

    def _plan_failed(self, exc: BaseException) -> None:
        self.say(error_message(exc, context="reading the backup schedule"))

    def run(self) -> None:
        from gisttracker.services.settings import SettingsService

        session = self.session
        if session is None:
            return
        folder, hours, keep = self.folder.text().strip(), self.hours.value(), self.keep.value()

        def job(_report: Any) -> None:
            settings = SettingsService(session.tracker)
            with session.tracker.transaction(_("backup schedule changed")):
                settings.set("backup_folder", folder)
                settings.set("backup_every_hours", str(hours))
                settings.set("backup_keep", str(keep))

        self.start(job, lambda _r: self.say(
            _("Saved: a backup every {hours} hours into {folder}, keeping {keep}").format(
                hours=hours, folder=folder, keep=keep) if folder else
            _("Saved: no scheduled backups")))



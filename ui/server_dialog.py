"""File > Open server…: a site database on a PostgreSQL server (issue 16).

The person types the server, port, database and user name, chooses whether the connection
must be encrypted (``sslmode``), and types the password. The password is used for this
session only, in memory: it is never written to the settings, the recent-files list or a
log (the URL shown and remembered has none). Without a typed password, libpq's own
sources apply (``PGPASSWORD``, ``~/.pgpass``), so a workstation set up by IT can connect
without typing one.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlencode, urlsplit

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _

# libpq's sslmode values a person chooses from (https://www.postgresql.org/docs/current/
# libpq-ssl.html): encrypted and checked is the default.
SSL_MODES = (("verify-full", N_("Encrypted, server certificate checked (verify-full)")),
             ("require", N_("Encrypted, certificate not checked (require)")),
             ("prefer", N_("Encrypted if the server offers it (prefer)")),
             ("disable", N_("Not encrypted (disable): only on this computer or a trusted "
                            "network")))


class OpenServerDialog(QDialog):
    """Asks where the server database is and who connects; :meth:`url` is the result."""

    def __init__(self, parent: QWidget | None = None, *, previous: str | None = None,
                 problem: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Open server database"))
        self.host = QLineEdit(self)
        self.host.setAccessibleName(_("Server"))
        self.port = QSpinBox(self)
        self.port.setRange(1, 65535)
        self.port.setValue(5432)
        self.port.setAccessibleName(_("Port"))
        self.database = QLineEdit(self)
        self.database.setAccessibleName(_("Database"))
        self.user = QLineEdit(self)
        self.user.setAccessibleName(_("User name"))
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName(_("Password"))
        self.ssl = QComboBox(self)
        for value, label in SSL_MODES:
            self.ssl.addItem(_(label), value)
        self.ssl.setAccessibleName(_("Encryption"))
        self.problem = QLabel(self)
        self.problem.setStyleSheet("color: #a00;")
        self.problem.hide()

        form = QFormLayout()
        form.addRow(_("&Server:"), self.host)
        form.addRow(_("P&ort:"), self.port)
        form.addRow(_("&Database:"), self.database)
        form.addRow(_("&User name:"), self.user)
        form.addRow(_("Pass&word:"), self.password)
        form.addRow(_("&Encryption:"), self.ssl)
        note = QLabel(_("The password is used for this session only and never saved. "
                        "Leave it empty to use the password file (~/.pgpass) set up on "
                        "this computer."), self)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        if previous:
            self._fill(previous)
        if problem:
            # Why it is asked again (the server refused the login): said above the buttons.
            self.problem.setText(problem)
            self.problem.show()

    def _fill(self, url: str) -> None:
        parts = urlsplit(url)
        self.host.setText(parts.hostname or "")
        if parts.port:
            self.port.setValue(parts.port)
        self.database.setText(parts.path.strip("/"))
        self.user.setText(parts.username or "")
        # A URL without sslmode meant libpq's default, "prefer": keep that rather than
        # switching the connection to another encryption setting behind the user's back.
        self.ssl.setCurrentIndex(self.ssl.findData("prefer"))
        for pair in parts.query.split("&"):
            key, _sep, value = pair.partition("=")
            if key == "sslmode":
                index = self.ssl.findData(value)
                if index >= 0:
                    self.ssl.setCurrentIndex(index)
        self.password.setFocus()

    def _accept(self) -> None:
        missing = [label for label, field in ((_("server"), self.host),
                                              (_("database"), self.database),
                                              (_("user name"), self.user))
                   if not field.text().strip()]
        if missing:
            self.problem.setText(_("Fill in: {fields}").format(fields=", ".join(missing)))
            self.problem.show()
            return
        self.accept()

    def url(self) -> str:
        """``postgresql://user[:password]@host:port/database?sslmode=…`` (the password
        only in this in-memory value; :func:`gisttracker.store.server.display_url` drops
        it wherever the URL is shown or kept)."""
        user = quote(self.user.text().strip(), safe="")
        password = self.password.text()
        secret = f":{quote(password, safe='')}" if password else ""
        host = self.host.text().strip()
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address
        query = urlencode({"sslmode": self.ssl.currentData()})
        return (f"postgresql://{user}{secret}@{host}:{self.port.value()}/"
                f"{quote(self.database.text().strip(), safe='')}?{query}")


def login_problem(location: object) -> str:
    """What to say when the server refused to log in to ``location`` (a
    :class:`~gisttracker.store.urls.ServerLocation`) for want of the right password: a
    wrong password typed, or none given. Never the password itself."""
    connect_url = str(getattr(location, "connect_url", ""))
    parts = urlsplit(connect_url)
    user = unquote(parts.username or "")
    if parts.password:
        return _("The server refused the password for {user}. Type it again.").format(
            user=user)
    return _("The server needs a password for {user}.").format(user=user)

"""Site settings (site code, paper size, language), stored in the database and audited."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gisttracker.i18n import LANGUAGES, N_, _, join_list
from gisttracker.services.base import ServiceError, Tracker, service
from gisttracker.store.models import Setting

# Read before the database is opened (the language must be chosen before the first text),
# without the ORM: it lives with the store's other read-only looks.
from gisttracker.store.paths import read_site_language as read_site_language


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str
    default: str
    allowed: tuple[str, ...] = ()
    pattern: str | None = None
    hint: str = ""


SPECS: dict[str, SettingSpec] = {
    s.key: s
    for s in (
        SettingSpec("site_code", N_("Site code"), "SITE", pattern=r"[A-Z][A-Z0-9]{1,7}",
                    hint=N_("2–8 capital letters or digits, starting with a letter, e.g. ZJU")),
        SettingSpec("site_name", N_("Site name"), ""),
        SettingSpec("paper", N_("Paper size"), "a4", allowed=("a4", "letter")),
        # "system": each workstation follows its person's choice, else its system's language.
        SettingSpec("language", N_("Language"), "system", allowed=("system", *LANGUAGES)),
        # Accounts (schema 9): how many wrong passwords in a row lock an account, for how
        # long, and after how many idle minutes the window asks for the password again.
        SettingSpec("sign_in_attempts", N_("Wrong passwords before an account locks"), "5",
                    pattern=r"[1-9][0-9]?", hint=N_("a whole number from 1 to 99")),
        SettingSpec("lockout_minutes", N_("Minutes an account stays locked"), "15",
                    pattern=r"[1-9][0-9]{0,3}", hint=N_("a whole number from 1 to 9999")),
        SettingSpec("idle_lock_minutes", N_("Idle minutes before the window locks"), "10",
                    pattern=r"[1-9][0-9]{0,2}", hint=N_("a whole number from 1 to 999")),
        # Scheduled backups (gisttracker.backup): made while the window is open.
        SettingSpec("backup_folder", N_("Backup folder"), "",
                    hint=N_("a folder, best on another disk; empty: no scheduled backups")),
        SettingSpec("backup_keep", N_("Backups kept"), "7", pattern=r"[1-9][0-9]{0,2}",
                    hint=N_("how many scheduled backups to keep, 1 to 999")),
        SettingSpec("backup_every_hours", N_("Hours between backups"), "24",
                    pattern=r"[1-9][0-9]{0,3}", hint=N_("1 to 9999 hours, e.g. 24")),
    )
}


@service
class SettingsService:
    """Read and change site settings through the audited service layer."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def get(self, key: str) -> str:
        spec = self._spec(key)
        row = Setting.get_or_none(Setting.key == key)
        return row.value if row is not None else spec.default

    def all(self) -> dict[str, str]:
        return {key: self.get(key) for key in SPECS}

    def validate(self, key: str, value: str) -> str | None:
        """None when ``value`` is acceptable for ``key``, else a message for the user."""
        spec = self._spec(key)
        if spec.allowed and value not in spec.allowed:
            return _("{label} must be one of: {allowed}").format(
                label=_(spec.label), allowed=join_list(spec.allowed))
        if spec.pattern and not re.fullmatch(spec.pattern, value):
            return _("{label}: {hint}").format(label=_(spec.label), hint=_(spec.hint))
        return None

    def set(self, key: str, value: str, *, reason: str | None = None) -> None:
        problem = self.validate(key, value)
        if problem:
            raise ServiceError(problem)
        with self.tracker.transaction(reason) as w:
            row = Setting.get_or_none(Setting.key == key)
            if row is None:
                w.insert(Setting, key=key, value=value)
            else:
                w.update(row, {"value": value})

    @staticmethod
    def _spec(key: str) -> SettingSpec:
        try:
            return SPECS[key]
        except KeyError:
            raise ServiceError(_("unknown setting {key!r}").format(key=key)) from None

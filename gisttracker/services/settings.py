"""Site settings (site code, paper size, language), stored in the database and audited."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gisttracker.i18n import LANGUAGES, N_, _, join_list, ngettext
from gisttracker.protocols import Study
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

    def __init__(self, tracker: Tracker, studies: Iterable[Study] = ()) -> None:
        """``studies``: the site's protocols, so a change can say what it means for them
        (the site code is a randomization stratum in studies stratified by site)."""
        self.tracker = tracker
        self.studies = tuple(studies)

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

    def change_note(self, key: str, value: str) -> str | None:
        """What changing ``key`` to ``value`` means for data already recorded, in words for
        the user to confirm first; None when nothing recorded is concerned.

        Changing the site code once patients exist: they keep their identifiers (never
        renumbered); new patients are numbered under the new code; and since the site is a
        randomization stratum (NCT03862768 stratifies by site), patients randomized from now
        on are allocated in a new stratum with its own blocks.
        """
        if key != "site_code" or value == self.get("site_code"):
            return None
        from gisttracker.store.models_patients import Patient, Randomization

        count = Patient.select().count()
        if count == 0:
            return None
        old = self.get("site_code")
        note = ngettext(
            "{n} patient is already registered. Existing patients keep their study "
            "identifiers ({old}-0001…): nobody is renumbered. New patients will be numbered "
            "from {new}-0001 on.",
            "{n} patients are already registered. Existing patients keep their study "
            "identifiers ({old}-0001…): nobody is renumbered. New patients will be numbered "
            "from {new}-0001 on.", count).format(n=count, old=old, new=value)
        stratified = sorted(s.key for s in self.studies if "site" in s.allocation.strata)
        if stratified:
            made = Randomization.select().count()
            note += " " + ngettext(
                "The site code is also a stratification factor of the randomization in "
                "{studies}: patients randomized from now on are allocated in the stratum "
                "site={new}, which starts its own permuted blocks; the {made} randomization "
                "already made does not change.",
                "The site code is also a stratification factor of the randomization in "
                "{studies}: patients randomized from now on are allocated in the stratum "
                "site={new}, which starts its own permuted blocks; the {made} randomizations "
                "already made do not change.", made).format(
                studies=", ".join(stratified), new=value, made=made)
        return note

    def set(self, key: str, value: str, *, reason: str | None = None,
            confirmed: bool = True) -> None:
        """Change a setting (audited with ``reason``). A change :meth:`change_note` warns
        about needs ``confirmed`` (the window and the command line ask first) and a
        reason."""
        problem = self.validate(key, value)
        if problem:
            raise ServiceError(problem)
        note = self.change_note(key, value)
        if note is not None:
            if not confirmed:
                raise ServiceError(note)
            if not (reason and reason.strip()):
                raise ServiceError(_("{label}: a reason is required, since patients are "
                                     "already registered").format(label=_(SPECS[key].label)))
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

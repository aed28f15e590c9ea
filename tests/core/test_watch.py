"""Other workstations' changes reach this one's screens: the change watch finds what
another connection committed (on a file or a server) and announces it once, as a local
commit is announced; its own commits are not announced twice."""

from __future__ import annotations

from pathlib import Path

from gisttracker.services.base import Changes
from gisttracker.services.patients import PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.services.watch import ChangeWatch
from gisttracker.session import open_session
from tests.core.patients_helpers import new_patient, set_site


def test_another_workstations_commit_is_announced_once(db_path: Path) -> None:
    here = open_session(db_path, user="nora")
    there = open_session(db_path, user="li.wei")  # a second workstation on the same site
    try:
        heard: list[Changes] = []
        here.tracker.subscribe(heard.append)
        watch = ChangeWatch(here.tracker)
        assert watch.poll() is None  # nothing yet
        set_site(there)
        patient = new_patient(PatientService(there), "RECTAL-LE")
        found = watch.poll()
        assert found is not None and found.elsewhere
        assert {"patient", "setting"} <= found.tables and patient.uid in found.records
        assert heard == [found]
        assert watch.poll() is None  # announced once
        # This workstation's own save is announced by its commit, not again by the watch.
        SettingsService(here.tracker).set("site_name", "Hangzhou")
        assert len(heard) == 2 and not heard[1].elsewhere
        assert watch.poll() is None
        SettingsService(there.tracker).set("site_name", "Zhejiang")
        again = watch.poll()
        assert again is not None and again.tables == {"setting"}
    finally:
        there.close()
        here.close()

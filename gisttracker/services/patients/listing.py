"""The patient list: filtered, sorted pages in SQL, never all rows; the window title."""

from __future__ import annotations

from gisttracker.i18n import _
from gisttracker.services.patient_list import PatientList
from gisttracker.services.patients.base import PatientServiceBase
from gisttracker.services.patients.values import STATUS_LABELS, PatientFilter, PatientRow


class ListingMixin(PatientServiceBase):
    """The patient list and the patient window's title."""

    def count(self, flt: PatientFilter) -> int:
        """How many patients match ``flt`` (see :mod:`gisttracker.services.patient_list`)."""
        return PatientList(self.session).count(flt)

    def page(self, flt: PatientFilter, sort: str = "patient", *, descending: bool = False,
             offset: int = 0, limit: int = 200, after: str | None = None) -> list[PatientRow]:
        """A window of the list (see :meth:`PatientList.page`)."""
        return PatientList(self.session).page(flt, sort, descending=descending, offset=offset,
                                              limit=limit, after=after)

    def header(self, ref: str) -> str:
        """The patient window's title: study id, study, arm, status."""
        p = self.get(ref)
        arm = p.arm_code or "—"
        if p.arm_option:
            arm += f" ({p.arm_option})"
        return _("{patient} · {study} · arm {arm} · {status}").format(
            patient=p.study_id, study=p.study_key, arm=arm,
            status=_(STATUS_LABELS.get(p.status, p.status)))


"""The "Visits & forms" tab of a patient: each visit with its forms, and the form editors.

- :class:`VisitFormsTab` lists the patient's visits; choosing one lists the forms its
  protocol plans, each with its state. Enter (or a double click) opens the form.
- :class:`FormEditorDialog` edits an item form built from its :class:`FormSpec`.
  Questionnaires are typed as digits: one key per item, focus moves on by itself, ``-``
  marks an item left blank, so a 30-item QLQ-C30 is entered without the mouse. Scores
  update as the answers are typed.
- :class:`LabsDialog` enters the visit's laboratory values with unit, reference range,
  the value in the protocol's unit and the CTCAE grade; a grade ≥ 3 offers to record an
  adverse event (never records one by itself).
- :class:`AdverseEventsDialog` and :class:`AdverseEventDialog` list and edit adverse events.

Every database call runs on the task thread (``self.tasks``). Closing an editor with unsaved
changes asks first (:meth:`FormDialogBase.ask_unsaved`); changing a form already complete asks
for a reason (:meth:`FormDialogBase.ask_reason`). Both are methods so tests can answer them.
"""

from ui.visit_forms.adverse_events import AdverseEventDialog, AdverseEventsDialog
from ui.visit_forms.common import FormDialogBase
from ui.visit_forms.item_form import DigitEdit, FormEditorDialog
from ui.visit_forms.labs import LabsDialog
from ui.visit_forms.tab import VisitFormsTab

__all__ = [
    "AdverseEventDialog",
    "AdverseEventsDialog",
    "DigitEdit",
    "FormDialogBase",
    "FormEditorDialog",
    "LabsDialog",
    "VisitFormsTab",
]

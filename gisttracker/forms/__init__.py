"""Visit forms: the registry of form kinds and the built-in forms.

Each assessment a protocol plans for a visit (the keys of
:data:`gisttracker.protocols.catalogue.ASSESSMENTS`) is a *form kind*, described by a
:class:`FormSpec` in the registry. The service (:mod:`gisttracker.services.forms`) stores
the answers and the window (``ui/visit_forms.py``) builds its editors from the specs.

Built in: ``qlq_c30``, ``qlq_cr29``, ``lars`` (:mod:`.questionnaires`), ``physical_exam``,
``consent``, ``eligibility``, ``medical_history``, ``endoscopy``, ``mutation``, ``labs``,
``adverse_events`` (:mod:`.clinical`), and the visit's record of ``imaging``,
``treatment``, ``surgery``, ``pathology`` and ``survival`` (what was done at the visit; the
measurements, doses, operations and events themselves are entered in the patient's tumour
and course tabs, which the responses and endpoints are computed from).

How to add or replace a form kind (e.g. the tumour-measurement form for ``imaging``):

1. Write a module in this package, say ``gisttracker/forms/imaging.py``, that builds a
   :class:`FormSpec` (items with key, ``N_``-marked label, type ``int``/``float``/
   ``choice``/``date``/``text``/``bool``, ``minimum``/``maximum``, ``choices``, ``required``,
   ``applies``) and calls :func:`register` on it; replacing a built-in spec needs
   ``replace=True``.
2. Append the module's name to :data:`_BUILTIN_MODULES` below (one-line edit).
3. For a form whose data live in their own tables (like ``labs``), set ``editor`` and
   keep ``items`` for the questions stored as form values; the state (not started, in
   progress, complete, not done) is still kept by :class:`gisttracker.services.forms.FormService`.

A form kind whose spec has ``scorer`` gets its scores shown live in the editor and returned
by ``FormService.scores``.
"""

from __future__ import annotations

import importlib

from gisttracker.forms.registry import (
    Choice,
    FormContext,
    FormSpec,
    Item,
    Missing,
    Score,
    check_value,
    describe_item,
    register,
    registered,
    spec_for,
)

__all__ = [
    "Choice",
    "FormContext",
    "FormSpec",
    "Item",
    "Missing",
    "Score",
    "check_value",
    "describe_item",
    "register",
    "registered",
    "spec_for",
]

# Modules that register form kinds, imported once when the package is first used.
_BUILTIN_MODULES = [
    "gisttracker.forms.questionnaires",
    "gisttracker.forms.clinical",
]

for _name in _BUILTIN_MODULES:
    importlib.import_module(_name)

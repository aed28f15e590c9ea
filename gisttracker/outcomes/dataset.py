"""The analysis data set: one row per patient, from which every figure can be reproduced.

``write_dataset(outcomes, path)`` writes four files beside each other (``path`` is the first):

* ``NAME.csv`` — one row per patient enrolled by the cut-off: the study identifier (never
  a name or record number), the group, each covariate, and for each endpoint its origin,
  the end of follow-up, the time in days and in months (days / 30.4375), the event flag
  (1 event, 0 censored), for an endpoint with competing events the status (0 censored,
  1 event, 2 competing event), a proportion's outcome (1, 0, empty when not evaluable),
  descriptive values, what decided each value (in words and as the record's uid) and why a
  patient is left out of an endpoint;
* ``NAME.scores.csv`` — the questionnaire scores of the repeated-measure endpoints, one row
  per patient, scale and visit (long format);
* ``NAME.dictionary.csv`` — the data dictionary: every column of both files with its type,
  unit or codes and how it was derived, after a block describing the data set (study, data
  cut-off, conventions);
* ``NAME.R`` — an R script that reads the data set and runs, for every time-to-event
  endpoint, ``survfit`` (medians, landmark survival, log transform as the application),
  ``survdiff`` and ``coxph`` (Efron), so that R gives the application's figures.

A dictionary file beside the data (rather than a header block inside the CSV) keeps the
data file readable by every statistics package as it is (R ``read.csv``, SAS ``PROC IMPORT``,
Stata ``import delimited``). Files are UTF-8 with a byte-order mark (so that Excel shows
Chinese text); ``bom=False`` writes plain UTF-8. Empty cells are missing values. Each file is
written whole through a temporary file and readable by its owner only
(:mod:`gisttracker.atomic`), and nothing is written when any of them exists.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gisttracker.atomic import atomic_open
from gisttracker.i18n import N_, _, local
from gisttracker.outcomes import OutcomeError, StudyOutcomes
from gisttracker.outcomes.analyse import scale_labels
from gisttracker.outcomes.derive import (
    Binary,
    CovariateValue,
    Descriptive,
    PatientOutcome,
    Repeated,
    TimeToEvent,
)
from gisttracker.outcomes.text import (
    binary_text,
    covariate_text,
    describe_fact,
    endpoint_sentences,
    exclusion_text,
    group_label,
    measure_label,
)
from gisttracker.protocols.model import Endpoint

__all__ = ["DatasetFiles", "columns", "write_dataset"]

_MEASURES = {"tumour_diameter": ("before_cm", "after_cm", "shrinkage_pct"),
             "pathological_response_grade": ("grade",),
             "treatment_duration": ("months", "ongoing")}
_TYPES = {"text": N_("text"), "date": N_("date (YYYY-MM-DD)"), "integer": N_("whole number"),
          "number": N_("number"), "code": N_("code")}


@dataclass(frozen=True)
class DatasetFiles:
    """The files written and how many rows each has."""

    data: Path
    scores: Path
    dictionary: Path
    script: Path
    patients: int
    score_rows: int


@dataclass(frozen=True)
class Column:
    """One variable: its name, label, type (a key of ``_TYPES``), codes or unit, and how
    it is derived."""

    name: str
    label: str
    type: str
    values: str
    derivation: str


def _yes_no(value: object) -> str:
    if value is None:
        return ""
    return "1" if value else "0"


def _num(value: float | int | None) -> str:
    """A number as written: integers as they are, others to 12 significant digits (enough
    for every figure to come out the same to far more than the 4 decimals compared)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.12g}"


def _covariate_cell(value: CovariateValue | None) -> str:
    if value is None or value.value is None:
        return ""
    if isinstance(value.value, bool):
        return _yes_no(value.value)
    if isinstance(value.value, float):
        return _num(value.value)
    return str(value.value)


def columns(outcomes: StudyOutcomes) -> list[Column]:
    """The columns of the patient file, in order, with their dictionary entries."""
    study = outcomes.study
    groups = "; ".join(f"{a.code} = {local(a.name)}" for a in study.arms)
    out = [
        Column("study_id", _("Study identifier"), "text", "",
               _("The patient's study identifier (site code and number); no personal "
                 "identifier is exported.")),
        Column("group", _("Group of analysis"), "code", groups,
               _("The arm (randomized studies) or the group the data place the patient in "
                 "(derived groups); empty when not known yet.")),
        Column("group_name", _("Group name"), "text", "", _("The group's name.")),
    ]
    for cov in study.covariates:
        kind = {"binary": "code", "number": "number", "factor": "text"}[cov.kind]
        out.append(Column(cov.key, local(cov.name), kind,
                          _("1 = yes, 0 = no") if cov.binary else "",
                          covariate_text(study, cov)))
    for endpoint in study.endpoints:
        out.extend(_endpoint_columns(outcomes, endpoint))
    return out


def _endpoint_columns(outcomes: StudyOutcomes, endpoint: Endpoint) -> list[Column]:
    k, name = endpoint.key, local(endpoint.name)
    how = " ".join(endpoint_sentences(outcomes.study, endpoint))
    excluded = Column(f"{k}_excluded", _("{endpoint}: left out because").format(endpoint=name),
                      "text", "", _("Why the patient is not in this endpoint's analysis "
                                    "(empty: included)."))
    decided = [
        Column(f"{k}_decided_by", _("{endpoint}: decided by").format(endpoint=name), "text", "",
               _("The recorded fact (or rule) that decided the value, in words.")),
        Column(f"{k}_record", _("{endpoint}: record").format(endpoint=name), "text", "",
               _("The uid of the record that decided the value (empty for a rule: the data "
                 "cut-off or the end of the time frame)."))]
    if endpoint.type == "time_to_event":
        cols = [
            Column(f"{k}_origin", _("{endpoint}: origin").format(endpoint=name), "date", "",
                   how),
            Column(f"{k}_end", _("{endpoint}: end of follow-up").format(endpoint=name),
                   "date", "", _("The date of the event, of the competing event, or of "
                                 "censoring.")),
            Column(f"{k}_days", _("{endpoint}: time (days)").format(endpoint=name), "integer",
                   _("days"), _("End minus origin, in days.")),
            Column(f"{k}_months", _("{endpoint}: time (months)").format(endpoint=name),
                   "number", _("months"), _("Days / 30.4375 (the time unit of the "
                                            "analyses).")),
            Column(f"{k}_event", _("{endpoint}: event").format(endpoint=name), "code",
                   _("1 = event, 0 = censored or competing event"), how)]
        if endpoint.competing:
            cols.append(Column(f"{k}_status", _("{endpoint}: status").format(endpoint=name),
                               "code", _("0 = censored, 1 = event, 2 = competing event"),
                               _("For the cumulative incidence (cmprsk::cuminc, or survfit "
                                 "with a factor status).")))
        return [*cols, *decided, excluded]
    if endpoint.type == "proportion":
        return [
            Column(f"{k}_origin", _("{endpoint}: origin").format(endpoint=name), "date", "",
                   how),
            Column(f"{k}_outcome", _("{endpoint}: outcome").format(endpoint=name), "code",
                   _("1 = yes, 0 = no, empty = not evaluable"), how),
            Column(f"{k}_value", _("{endpoint}: what was found").format(endpoint=name),
                   "text", "", _("The best overall response, the margin, the grade or the "
                                 "composite's result.")),
            Column(f"{k}_status", _("{endpoint}: status").format(endpoint=name), "text", "",
                   _("Yes, no, or why not evaluable, in words.")),
            *decided, excluded]
    if endpoint.type == "descriptive":
        return [Column(f"{k}_{m}", _("{endpoint}: {measure}").format(
            endpoint=name, measure=measure_label(m)),
            "code" if m == "ongoing" else "text" if m == "grade" else "number",
            _("1 = yes, 0 = no") if m == "ongoing" else "", how)
            for m in _MEASURES.get(endpoint.measure or "", ())]
    return []


def _row(outcomes: StudyOutcomes, p: PatientOutcome) -> list[str]:
    study = outcomes.study
    row = [p.study_id, p.group or "", group_label(study, p.group) if p.group else ""]
    row += [_covariate_cell(p.covariates.get(c.key)) for c in study.covariates]
    for endpoint in study.endpoints:
        value = p.endpoints.get(endpoint.key)
        code = getattr(value, "excluded", None)
        reason = exclusion_text(code) if isinstance(code, str) else ""
        if endpoint.type == "time_to_event":
            if not isinstance(value, TimeToEvent) or value.excluded:
                row += ["", "", "", "", ""] + ([""] if endpoint.competing else [])
                row += ["", "", reason]
                continue
            row += [value.origin.isoformat() if value.origin else "",
                    value.end.isoformat() if value.end else "", _num(value.days),
                    _num(value.months), _yes_no(value.status == 1)]
            if endpoint.competing:
                row.append(str(value.status))
            row += [describe_fact(study, value.decided_by),
                    value.decided_by.uid or "" if value.decided_by else "", ""]
        elif endpoint.type == "proportion":
            if not isinstance(value, Binary) or value.excluded:
                row += ["", "", "", "", "", "", reason]
                continue
            row += [value.origin.isoformat() if value.origin else "", _yes_no(value.outcome),
                    value.value or "", binary_text(value),
                    describe_fact(study, value.decided_by),
                    value.decided_by.uid or "" if value.decided_by else "", ""]
        elif endpoint.type == "descriptive":
            for m in _MEASURES.get(endpoint.measure or "", ()):
                cell = value.values.get(m) if isinstance(value, Descriptive) else None
                if isinstance(cell, bool):
                    row.append(_yes_no(cell))
                elif isinstance(cell, float):
                    row.append(_num(cell))
                else:
                    row.append("" if cell is None else str(cell))
    return row


_SCORE_COLUMNS = ("study_id", "group", "endpoint", "instrument", "scale", "visit",
                  "visit_date", "value", "form_record")


def _score_rows(outcomes: StudyOutcomes) -> list[list[str]]:
    rows = []
    for endpoint in outcomes.study.endpoints:
        if endpoint.type != "repeated_measure":
            continue
        numeric = {kind: [key for key, _label in scale_labels(kind)]
                   for kind in endpoint.instruments}
        for p in outcomes.patients:
            value = p.endpoints.get(endpoint.key)
            if not isinstance(value, Repeated):
                continue
            for visit in endpoint.visits:
                for s in value.by_visit.get(visit, []):
                    for scale in numeric.get(s.kind, []):
                        score = s.scores.get(scale)
                        if isinstance(score, int | float) and not isinstance(score, bool):
                            rows.append([p.study_id, p.group or "", endpoint.key, s.kind,
                                         scale, visit, s.on.isoformat() if s.on else "",
                                         _num(float(score)), s.form_uid])
    return rows


def _score_columns() -> list[Column]:
    return [
        Column("study_id", _("Study identifier"), "text", "", ""),
        Column("group", _("Group of analysis"), "code", "", ""),
        Column("endpoint", _("Endpoint"), "code", "", _("The repeated-measure endpoint's key.")),
        Column("instrument", _("Questionnaire"), "code", "qlq_c30, qlq_cr29, lars", ""),
        Column("scale", _("Scale"), "code", "", _("The scale's abbreviation (EORTC scoring "
                                                   "manual), or total for LARS.")),
        Column("visit", _("Visit"), "code", "", _("The protocol visit's key.")),
        Column("visit_date", _("Visit date"), "date", "", _("The day the visit took place.")),
        Column("value", _("Score"), "number", "", _("Scored as the manual says (EORTC: 0–100; "
                                                    "LARS: 0–42) from the complete "
                                                    "questionnaire.")),
        Column("form_record", _("Form record"), "text", "", _("The uid of the form.")),
    ]


def _csv(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def _dictionary(outcomes: StudyOutcomes, data: Path, scores: Path,
                patient_columns: list[Column]) -> list[list[str]]:
    o = outcomes
    rows = [["file", "variable", "label", "type", "values_or_unit", "derivation"],
            ["", "", _("Study"), "", o.study.key, local(o.study.title)],
            ["", "", _("Data cut-off"), "", o.as_of.isoformat(),
             _("Nothing dated after the cut-off counts; a patient is censored at the cut-off "
               "when later data show the patient alive and event-free on it.")],
            ["", "", _("Patients"), "", str(len(o.patients)),
             _("Every patient enrolled by the cut-off.")],
            ["", "", _("Time unit"), "", _("months"),
             _("Days / 30.4375 (365.25 / 12); horizons are calendar months from the origin.")],
            ["", "", _("Confidence intervals"), "", "95%",
             _("Kaplan–Meier with Greenwood's variance, log transform (R's default); exact "
               "(Clopper–Pearson) for proportions; Cox models with Efron's ties.")]]
    for c in patient_columns:
        rows.append([data.name, c.name, c.label, _(_TYPES[c.type]), c.values, c.derivation])
    for c in _score_columns():
        rows.append([scores.name, c.name, c.label, _(_TYPES[c.type]), c.values, c.derivation])
    return rows


def _r_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _r_script(outcomes: StudyOutcomes, data: Path) -> str:
    """An R script reproducing the time-to-event figures (needs the survival package)."""
    study = outcomes.study
    lines = [
        f"# {study.key}: analysis data set as of {outcomes.as_of.isoformat()}",
        "# Reproduces the application's survival figures with R's survival package.",
        "library(survival)",
        f"d <- read.csv({_r_string(data.name)}, fileEncoding = \"UTF-8-BOM\", "
        "stringsAsFactors = FALSE, na.strings = \"\")",
    ]
    groups = [a.code for a in study.arms if a.code in outcomes.groups]
    reference = study.analysis.reference_group if study.analysis.reference_group in groups \
        else (groups[0] if groups else None)
    if groups:
        levels = ", ".join(_r_string(g) for g in groups)
        lines.append(f"d$group <- factor(d$group, levels = c({levels}))")
        if reference is not None:
            lines.append(f"d$group <- relevel(d$group, ref = {_r_string(reference)})")
    for endpoint in study.endpoints:
        if endpoint.type != "time_to_event":
            continue
        k = endpoint.key
        result = outcomes.results.get(k)
        times = ", ".join(f"{m:.12g}" for m in getattr(result, "landmarks", (12, 36, 60)))
        lines += [
            "",
            f"# {local(endpoint.name)}",
            f"e <- d[is.na(d${k}_excluded), ]",
            f"fit <- survfit(Surv({k}_months, {k}_event) ~ 1, data = e, conf.type = "
            f"{_r_string(outcomes.conf_type)})",
            "print(fit)",
            f"print(summary(fit, times = c({times})))",
        ]
        if len(groups) > 1:
            lines += [
                f"fit_g <- survfit(Surv({k}_months, {k}_event) ~ group, data = e, conf.type = "
                f"{_r_string(outcomes.conf_type)})",
                "print(fit_g)",
                f"print(summary(fit_g, times = c({times})))",
                f"print(survdiff(Surv({k}_months, {k}_event) ~ group, data = e))",
                f"cx <- coxph(Surv({k}_months, {k}_event) ~ group, data = e, ties = \"efron\")",
                "print(summary(cx))",
                "print(cox.zph(cx))",
            ]
        if endpoint.competing:
            lines += [
                f"ci <- survfit(Surv({k}_months, factor({k}_status, 0:2)) ~ 1, data = e)",
                f"print(summary(ci, times = c({times})))",
            ]
    return "\n".join(lines) + "\n"


def write_dataset(outcomes: StudyOutcomes, path: Path, *, bom: bool = True) -> DatasetFiles:
    """Write the data set to ``path`` and its companions (see the module docstring).

    Raises :class:`OutcomeError` when a file already exists or the folder is missing.
    """
    stem = path.name[:-4] if path.name.lower().endswith(".csv") else path.name
    data = path.with_name(f"{stem}.csv")
    scores = path.with_name(f"{stem}.scores.csv")
    dictionary = path.with_name(f"{stem}.dictionary.csv")
    script = path.with_name(f"{stem}.R")
    files = (data, scores, dictionary, script)
    if not path.parent.is_dir():
        raise OutcomeError(_("the folder {folder} does not exist").format(folder=path.parent))
    for file in files:
        if file.exists():
            raise OutcomeError(_("{path} already exists; choose a new name (an export never "
                                 "replaces another file)").format(path=file))
    patient_columns = columns(outcomes)
    body = [[c.name for c in patient_columns]]
    body += [_row(outcomes, p) for p in outcomes.patients]
    score_rows = _score_rows(outcomes)
    texts = {
        data: _csv(body),
        scores: _csv([list(_SCORE_COLUMNS), *score_rows]),
        dictionary: _csv(_dictionary(outcomes, data, scores, patient_columns)),
        script: _r_script(outcomes, data),
    }
    written: list[Path] = []
    try:
        for file, text in texts.items():
            encoding = "utf-8-sig" if bom and file.suffix == ".csv" else "utf-8"
            with atomic_open(file, "w", encoding=encoding, newline="") as handle:
                handle.write(text)
            written.append(file)
    except OSError:
        # All four or none: the data set without its dictionary would be misread.
        for file in written:
            file.unlink(missing_ok=True)
        raise
    return DatasetFiles(data, scores, dictionary, script, len(outcomes.patients),
                        len(score_rows))

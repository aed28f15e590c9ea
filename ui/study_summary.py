"""The study summary page: everything a coordinator needs to know about a protocol."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from gisttracker.domain.eligibility import value_label, with_unit
from gisttracker.i18n import N_, _, join_list, local
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import ASSESSMENTS, SCREENING_FIELDS, STRATUM_LABELS
from gisttracker.protocols.model import Criterion, Intervention, Rule
from ui.areas import AreaPage

_OPS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}
_KINDS = {"primary": N_("primary"), "secondary": N_("secondary")}
_STUDY_TYPES = {"interventional": N_("interventional"), "observational": N_("observational"),
                "retrospective": N_("retrospective")}


def _label(field: str | None) -> str:
    spec = SCREENING_FIELDS.get(field or "")
    return _(spec.label) if spec else str(field)


def describe_rule(rule: Rule) -> str:
    """A compact reading of a machine rule, e.g. ``age ≥ 18 and age ≤ 75``."""
    if rule.op in ("all", "any"):
        parts = [_("({rule})").format(rule=describe_rule(r)) if r.op in ("all", "any")
                 else describe_rule(r) for r in rule.rules]
        text = parts[0]
        for part in parts[1:]:
            text = (_("{rules} and {rule}") if rule.op == "all"
                    else _("{rules} or {rule}")).format(rules=text, rule=part)
        return text
    if rule.op == "not":
        return _("not ({rule})").format(rule=describe_rule(rule.rules[0]))
    if rule.op == "in":
        return _("{field} is one of {values}").format(
            field=_label(rule.field), values=join_list(value_label(v) for v in rule.values))
    if rule.limit:
        return f"{_label(rule.field)} {_OPS[rule.op]} {rule.factor:g} × {rule.limit.upper()}"
    value = rule.value
    spec = SCREENING_FIELDS.get(rule.field or "")
    if isinstance(value, bool):
        shown = _("yes") if value else _("no")
    elif isinstance(value, str):
        shown = value_label(value)
    else:
        assert value is not None
        shown = with_unit(value, rule.unit or (spec.unit if spec and spec.unit else None))
    return f"{_label(rule.field)} {_OPS[rule.op]} {shown}"


def _intervention(i: Intervention) -> str:
    """``imatinib — 400 mg/d (once daily)`` as the installed language writes it."""
    text = local(i.name)
    if i.dose:
        text = _("{name} — {dose}").format(name=text, dose=local(i.dose))
    if i.schedule:
        text = _("{intervention} ({schedule})").format(intervention=text,
                                                       schedule=local(i.schedule))
    return text


def _criterion_row(c: Criterion) -> str:
    check = (escape(describe_rule(c.rule)) if c.rule
             else "<i>" + escape(_("judgement by the investigator")) + "</i>")
    extra = ""
    if c.note:
        extra += ("<br><span style='color:#7a4b00'>"
                  + escape(_("Reading: {note}").format(note=local(c.note))) + "</span>")
    if c.assumption:
        extra += ("<br><span style='color:#005a8c'>" + escape(_("Site assumption: {text}").format(
            text=local(c.assumption))) + "</span>")
    return (f"<tr><td><b>{escape(c.id)}</b></td><td>{escape(local(c.text))}{extra}</td>"
            f"<td style='color:#444'>{check}</td></tr>")


def study_html(study: Study) -> str:
    """The whole summary as simple HTML (Qt's rich-text subset)."""
    e = escape
    rows = [
        (_("Registration"), study.registration or _("not registered")),
        (_("Sponsor"), local(study.sponsor)),
        (_("Design"), local(study.design)),
        (_("Study type"), _(_STUDY_TYPES[study.study_type])),
        (_("Condition"), local(study.condition)),
        (_("Target enrollment"), str(study.target_enrollment) if study.target_enrollment
         else _("not stated")),
        (_("Primary response criterion"), {"recist": "RECIST 1.1", "choi": "Choi"}.get(
            study.primary_response_criterion or "", _("not applicable"))),
        (_("Source document"), study.source),
    ]
    parts = [
        f"<h2>{e(local(study.title))}</h2>",
        "<table cellspacing='0' cellpadding='3'>",
        *(f"<tr><td style='color:#555'>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in rows),
        "</table>",
        f"<p>{e(local(study.summary))}</p>",
        "<h3>" + e(_("Arms and groups")) + "</h3><ul>",
    ]
    for arm in study.arms:
        doses = "".join(f"<li>{e(_intervention(i))}</li>" for i in arm.interventions)
        options = "".join("<li>" + e(_("option: {label}").format(label=local(o.label)))
                          + "</li>" for o in arm.options)
        parts.append(f"<li><b>{e(arm.code)}</b> — {e(local(arm.name))}<br>"
                     f"{e(local(arm.description))}"
                     f"<ul>{doses}{options}</ul></li>")
    parts.append("</ul>")
    method = {
        "randomized": _("randomized, {ratio}, permuted blocks of {blocks}, stratified by {strata}"
                        ).format(ratio=":".join(map(str, study.allocation.ratio)),
                                 blocks=join_list(map(str, study.allocation.block_sizes)),
                                 strata=join_list(_(STRATUM_LABELS.get(s, s))
                                                  for s in study.allocation.strata)),
        "single_arm": _("single arm"),
        "treatment_received": _("group from the treatment received"),
        "derived_duration": _("group derived from the duration of preoperative imatinib"),
    }[study.allocation.method]
    parts.append("<p>" + _("<b>Allocation:</b> {method}").format(method=e(method)) + "</p>")
    for kind, title in (("inclusion", _("Inclusion criteria")),
                        ("exclusion", _("Exclusion criteria"))):
        parts.append(f"<h3>{e(title)}</h3><table border='0' cellspacing='0' cellpadding='3'>")
        parts.extend(_criterion_row(c) for c in study.criteria if c.kind == kind)
        parts.append("</table>")
    parts.append("<h3>" + e(_("Schedule of assessments")) + "</h3>")
    parts.append("<table border='1' cellspacing='0' cellpadding='3'><tr>" + "".join(
        f"<th>{e(h)}</th>" for h in (_("Visit"), _("From"), _("Offset"), _("Window"),
                                      _("Assessments"))) + "</tr>")
    for visit in study.visits:
        anchor = local(study.anchor(visit.anchor).label)
        window = _("−{before} / +{after}").format(before=visit.window_before.describe(),
                                                  after=visit.window_after.describe())
        assessed = join_list(_(ASSESSMENTS[a]) for a in visit.assessments)
        parts.append(f"<tr><td>{e(local(visit.name))}</td><td>{e(anchor)}</td>"
                     f"<td>{e(visit.offset.describe())}</td><td>{e(window)}</td>"
                     f"<td>{e(assessed)}</td></tr>")
    parts.append("</table>")
    parts.append("<h3>" + e(_("Endpoints")) + "</h3><ul>")
    for ep in study.endpoints:
        parts.append(f"<li><b>{e(local(ep.name))}</b> "
                     + e(_("({kind}, {horizon})").format(kind=_(_KINDS[ep.kind]),
                                                        horizon=ep.horizon.describe()))
                     + f" — {e(local(ep.definition))}</li>")
    parts.append("</ul>")
    if study.assumptions:
        parts.append("<h3>" + e(_("Site assumptions")) + "</h3><ul>")
        parts.extend(f"<li>{e(local(a))}</li>" for a in study.assumptions)
        parts.append("</ul>")
    return "".join(parts)


class StudySummaryPage(AreaPage):
    """Read-only protocol summary of the selected study."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser)

    def set_study(self, study: Study | None) -> None:
        super().set_study(study)
        self.browser.setHtml(study_html(study) if study else
                             "<p>" + escape(_("No study is loaded.")) + "</p>")

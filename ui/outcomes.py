"""The Outcomes area: a study's endpoints derived from the data and analysed, as of a cut-off.

At the top the data cut-off (nothing dated after it counts), the endpoint, the survival
curves' interval (log, log-log, plain), confidence bands on request and extra landmarks.
Below, the endpoint's definition in words; a chart (Kaplan–Meier or cumulative incidence
curves by group with the numbers at risk, a rate per group, or a questionnaire scale over
time); and tables: medians and landmark survival, tests, Cox models, subgroups, rates,
scores, and the patients left out. **Every number that counts patients opens them**:
double-click it (or press Enter) for the patients behind it, with their times and the fact
that decided each; double-click a patient to open their window at that fact.

The computation runs on the background worker in two steps — everything but the Cox models,
then the models (slow on a large study: statsmodels' fit) — with progress; switching the
endpoint only redraws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _, local, ngettext
from gisttracker.outcomes import CONF_TYPES, StudyOutcomes, add_models, compute
from gisttracker.outcomes.facts import Fact
from gisttracker.outcomes.text import (
    endpoint_sentences,
    exclusion_text,
    found_label,
    group_label,
    hr_ci,
    landmark_name,
    level_text,
    measure_label,
    months_ci,
    number,
    p_value,
    percent_ci,
    term_label,
    type_label,
)
from gisttracker.protocols import Study
from gisttracker.session import Session
from ui.areas import AreaPage
from ui.outcomes_chart import (
    PALETTE,
    CurveChart,
    Rate,
    RateChart,
    ScoreChart,
    ScorePoint,
    Series,
)
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField

if TYPE_CHECKING:
    # The analysis modules load numpy, scipy and statsmodels: only when outcomes are first
    # computed, not when the window opens.
    from gisttracker.outcomes.analyse import (
        CoxFit,
        DescriptiveResult,
        ProportionResult,
        RepeatedResult,
        SurvivalSummary,
        TimeToEventResult,
    )
    from gisttracker.outcomes.listing import PatientList

PATIENTS_ROLE = Qt.ItemDataRole.UserRole + 1
ModelIndex = QModelIndex | QPersistentModelIndex
_CONF_LABELS = {"log": N_("log (as R)"), "log-log": N_("log-log"), "plain": N_("plain")}
#: Which tab of the patient window shows a kind of fact.
FACT_TABS = {"course_event": "course", "surgery": "course", "pathology": "course",
             "treatment": "course", "tumour_assessment": "tumour", "visit": "visit_forms",
             "form": "visit_forms", "anchor": "schedule", "enrollment": "screening",
             "screening": "screening", "patient": "screening"}


# --- tables whose numbers open their patients ----------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A table cell: its text and, for a number that counts patients, who they are."""

    text: str
    patients: Sequence[str] | None = None
    title: str = ""
    scale: str | None = None
    visit: str | None = None


def plain(text: str) -> Cell:
    return Cell(text)


class CellTable(QAbstractTableModel):
    """A read-only table of :class:`Cell`; cells with patients look like links."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[Cell]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.headers = list(headers)
        #: Rows shorter than the header whose last cell is a note: it spans the rest.
        self.spans = [(i, len(r) - 1) for i, r in enumerate(rows)
                      if 0 < len(r) < len(self.headers) and r[-1].patients is None]
        self.rows = [list(r) + [plain("")] * (len(self.headers) - len(r)) for r in rows]

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def cell(self, index: ModelIndex) -> Cell:
        return self.rows[index.row()][index.column()]

    def data(self, index: ModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        cell = self.cell(index)
        if role == Qt.ItemDataRole.DisplayRole:
            return cell.text
        if role == PATIENTS_ROLE:
            return cell.patients
        if role == Qt.ItemDataRole.ToolTipRole:
            if cell.patients is None:
                return cell.text or None  # the whole text where the column cuts it short
            return ngettext("Double-click to see this patient",
                            "Double-click to see these {n} patients",
                            len(cell.patients)).format(n=len(cell.patients))
        if role == Qt.ItemDataRole.ForegroundRole and cell.patients:
            return QBrush(QColor("#0b5394"))
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None


class CellView(QTableView):
    """A table whose cells with patients open them on double-click or Enter."""

    open_cell = Signal(object)  # the Cell

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.doubleClicked.connect(self._open)

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        if isinstance(model, CellTable):
            for row, column in model.spans:
                self.setSpan(row, column, 1, len(model.headers) - column)

    def _open(self, index: QModelIndex) -> None:
        model = self.model()
        if isinstance(model, CellTable) and index.isValid():
            cell = model.cell(index)
            if cell.patients is not None:
                self.open_cell.emit(cell)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Enter does what a double-click does (open the patients, or the patient).
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.doubleClicked.emit(self.currentIndex())
            return
        super().keyPressEvent(event)


class PatientListDialog(QDialog):
    """The patients behind a number; double-click (or Enter, or Open) opens a patient."""

    open_patient = Signal(str, object)  # uid, the deciding Fact (or None)

    def __init__(self, title: str, listing: PatientList, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.listing = listing
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        heading = QLabel(ngettext("{title}: {n} patient", "{title}: {n} patients",
                                  len(listing.lines)).format(title=title, n=len(listing.lines)),
                         self)
        heading.setWordWrap(True)
        self.table = CellView(self)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setModel(CellTable(listing.headers,
                                      [[Cell(c) for c in line.cells] for line in listing.lines],
                                      self))
        self.table.doubleClicked.connect(self._row_chosen)
        self.table.setAccessibleName(_("Patients"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.open_button = buttons.addButton(_("&Open patient"),
                                             QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(lambda: self._row_chosen(self.table.currentIndex()))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        # As wide as the window allows, so that what decided each time is read whole.
        wide = int(parent.window().width() * 0.9) if parent is not None else 0
        self.resize(max(980, min(wide, 1500)), 460)
        if listing.lines:
            self.table.selectRow(0)
            self.table.setFocus()

    def _row_chosen(self, index: QModelIndex) -> None:
        if index.isValid():
            line = self.listing.lines[index.row()]
            self.open_patient.emit(line.uid, line.fact)


# --- the page -------------------------------------------------------------------------------


class _Progress(QObject):
    """Progress reports from the worker thread, delivered on the GUI thread (queued)."""

    step = Signal(int, int)


class OutcomesPage(AreaPage):
    """The Outcomes area of the main window (see the module docstring)."""

    computed = Signal()  # the tables are shown (without the Cox models yet)
    modelled = Signal()  # the Cox models are in
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__(parent)
        self.today_fn = today
        self.outcomes: StudyOutcomes | None = None
        self.generation = 0
        self.stale = True
        self.dialogs: list[PatientListDialog] = []
        self.windows: list[QWidget] = []
        self.progress_events = _Progress(self)
        self.progress_events.step.connect(self._progress_step)

        # The window's one date field: exactly the date typed, refused beside the field when
        # it cannot be a cut-off (in the future, before 1900), a calendar on Alt+Down.
        self.as_of = DateField(self, kind="past", today=lambda: self.today_fn(),
                               label=_("Data cut-off"))
        self._set_as_of(self.today_fn())
        self.as_of.edited.connect(self._schedule)
        self.endpoint_box = QComboBox(self)
        self.endpoint_box.setAccessibleName(_("Endpoint"))
        self.endpoint_box.setMinimumContentsLength(28)
        self.endpoint_box.currentIndexChanged.connect(lambda _i: self._show_endpoint())
        self.conf_box = QComboBox(self)
        for kind in CONF_TYPES:
            self.conf_box.addItem(_(_CONF_LABELS[kind]), kind)
        self.conf_box.setAccessibleName(_("Confidence intervals"))
        self.conf_box.currentIndexChanged.connect(lambda _i: self._schedule())
        self.bands = QCheckBox(_("Confidence &bands"), self)
        self.bands.toggled.connect(lambda _on: self._show_chart())
        self.landmarks = QLineEdit(self)
        self.landmarks.setPlaceholderText(_("e.g. 6, 18"))
        self.landmarks.setAccessibleName(_("More landmarks, in months"))
        self.landmarks.setMaximumWidth(120)
        self.landmarks.editingFinished.connect(self._schedule)
        self.compute_button = QPushButton(_("&Compute"), self)
        self.compute_button.setShortcut("F5")
        self.compute_button.clicked.connect(self.recompute)
        self.print_button = QPushButton(_("&PDF…"), self)
        self.print_button.setToolTip(_("Make the outcomes report as of this cut-off"))
        self.print_button.clicked.connect(self.make_pdf)

        # Two rows: what is analysed (cut-off, endpoint) and how (intervals, landmarks).
        bar = QHBoxLayout()
        options = QHBoxLayout()
        for row, label, widget in ((bar, _("Data cut-&off:"), self.as_of),
                                   (bar, _("&Endpoint:"), self.endpoint_box),
                                   (options, _("&Intervals:"), self.conf_box)):
            caption = QLabel(label, self)
            caption.setBuddy(widget)
            row.addWidget(caption)
            row.addWidget(widget, 1 if widget is self.endpoint_box else 0)
        bar.addWidget(self.compute_button)
        bar.addWidget(self.print_button)
        options.addWidget(self.bands)
        caption = QLabel(_("Also at (&months):"), self)
        caption.setBuddy(self.landmarks)
        options.addWidget(caption)
        options.addWidget(self.landmarks)
        options.addStretch(1)

        self.progress = QProgressBar(self)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.definition = QLabel(self)
        self.definition.setWordWrap(True)
        self.definition.setTextFormat(Qt.TextFormat.RichText)
        self.definition.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.curve_chart = CurveChart(self)
        self.score_chart = ScoreChart(self)
        self.rate_chart = RateChart(self)
        self.no_chart = QLabel(_("No chart for this endpoint: see the tables below."), self)
        self.no_chart.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.charts = QStackedWidget(self)
        for chart in (self.curve_chart, self.score_chart, self.rate_chart, self.no_chart):
            self.charts.addWidget(chart)
        self.scale_box = QComboBox(self)
        self.scale_box.setAccessibleName(_("Scale"))
        self.scale_box.currentIndexChanged.connect(lambda _i: self._show_chart())
        self.scale_row = QWidget(self)
        scale_layout = QHBoxLayout(self.scale_row)
        scale_layout.setContentsMargins(0, 0, 0, 0)
        scale_caption = QLabel(_("&Scale:"), self.scale_row)
        scale_caption.setBuddy(self.scale_box)
        scale_layout.addWidget(scale_caption)
        scale_layout.addWidget(self.scale_box, 1)
        self.scale_row.hide()
        chart_box = QWidget(self)
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addWidget(self.scale_row)
        chart_layout.addWidget(self.charts, 1)

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(chart_box)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([420, 280])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(options)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.definition)
        layout.addWidget(splitter, 1)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(400)
        self.debounce.timeout.connect(self.recompute)

    # ----- session, study, visibility --------------------------------------------------
    def set_session(self, session: Session | None, tasks: TaskManager) -> None:
        super().set_session(session, tasks)
        self.outcomes = None
        self._mark_stale()

    def set_study(self, study: Study | None) -> None:
        super().set_study(study)
        self.outcomes = None
        self.endpoint_box.blockSignals(True)
        self.endpoint_box.clear()
        for endpoint in (study.endpoints if study else ()):
            if endpoint.type is not None:
                self.endpoint_box.addItem(_("{name} ({type})").format(
                    name=local(endpoint.name), type=type_label(endpoint)), endpoint.key)
        self.endpoint_box.blockSignals(False)
        self._clear()
        self._mark_stale()

    def on_changes(self, changes: object) -> None:
        """Data were committed: the outcomes are recomputed when next looked at."""
        self._mark_stale()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.stale:
            QTimer.singleShot(0, self.recompute)

    def _mark_stale(self) -> None:
        self.stale = True
        if self.isVisible():
            self._schedule()

    def _set_as_of(self, day: date) -> None:
        self.as_of.set_value(day)

    def cut_off(self) -> date:
        """The cut-off typed; today while the field holds no usable date (the field says
        why beside it, and nothing is computed from it: see :meth:`recompute`)."""
        day = self.as_of.date_or_none()
        return day if day is not None and not self.as_of.problem() else self.today_fn()

    def _schedule(self) -> None:
        self.debounce.start()

    def _clear(self) -> None:
        self.definition.clear()
        self.tabs.clear()
        self.curve_chart.set_series([], incidence=False, bands=False)
        self.charts.setCurrentWidget(self.no_chart)

    # ----- computing --------------------------------------------------------------------
    def _landmarks(self) -> tuple[float, ...] | None:
        """The extra landmarks typed (months), or None after saying what is wrong."""
        text = self.landmarks.text().replace("，", ",").replace(";", ",")
        values = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            try:
                value = float(part)
            except ValueError:
                value = -1.0
            if not 0 < value <= 600:
                self._say(_("{value} is not a landmark: give months from 1 to 600, separated "
                            "by commas.").format(value=part), error=True)
                self.landmarks.setFocus()
                return None
            values.append(value)
        return tuple(values)

    def recompute(self) -> None:
        """Compute the study's outcomes as of the cut-off, in the background."""
        self.debounce.stop()
        if self.session is None or self.tasks is None or self.study is None:
            return
        if self.tasks.closed:  # the window is closing: a timer that fired late
            return
        if self.as_of.date_or_none() is None or self.as_of.problem():
            return  # an incomplete or refused cut-off: its reason is beside the field
        landmarks = self._landmarks()
        if landmarks is None:
            return
        self.stale = False
        self.generation += 1
        generation = self.generation
        session, key, as_of = self.session, self.study.key, self.cut_off()
        conf = str(self.conf_box.currentData())
        emit = self.progress_events.step.emit
        self.progress.setRange(0, 0)
        self.progress.show()
        self._say(_("Computing the outcomes as of {date}…").format(date=as_of.isoformat()))

        def work() -> StudyOutcomes:
            return compute(session, key, as_of=as_of, conf_type=conf, landmarks=landmarks,
                           progress=emit)

        self.tasks.run(work, lambda o: self._computed(generation, o),
                       lambda exc: self._failed(generation, exc))

    def _progress_step(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _computed(self, generation: int, outcomes: StudyOutcomes) -> None:
        if generation != self.generation:
            return
        self.outcomes = outcomes
        self._say(ngettext("{n} patient enrolled by {date}; fitting the Cox models…",
                           "{n} patients enrolled by {date}; fitting the Cox models…",
                           len(outcomes.patients)).format(n=len(outcomes.patients),
                                                          date=outcomes.as_of.isoformat()))
        self._show_endpoint()
        self.computed.emit()
        assert self.tasks is not None
        emit = self.progress_events.step.emit
        self.tasks.run(lambda: add_models(outcomes, emit),
                       lambda o: self._modelled(generation, o),
                       lambda exc: self._failed(generation, exc))

    def _modelled(self, generation: int, outcomes: StudyOutcomes) -> None:
        if generation != self.generation:
            return
        self.outcomes = outcomes
        self.progress.hide()
        self._say(ngettext("{n} patient enrolled by {date}.",
                           "{n} patients enrolled by {date}.", len(outcomes.patients)).format(
            n=len(outcomes.patients), date=outcomes.as_of.isoformat()))
        self._show_endpoint()
        self.modelled.emit()

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self.generation:
            return
        from ui.errors import is_expected

        self.progress.hide()
        if is_expected(exc):
            # An expected refusal (a cut-off before the first enrollment…): said here.
            self.outcomes = None
            self._clear()
            self._say(str(exc), error=True)
            self.failed.emit(str(exc))
            return
        from ui.errors import show_error

        self._say(_("The outcomes could not be computed."), error=True)
        self.failed.emit(str(exc))
        show_error(self, exc, context="outcomes")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("QLabel { color: #a61b1b; }" if error else "")

    # ----- showing ----------------------------------------------------------------------
    def current_key(self) -> str | None:
        key = self.endpoint_box.currentData()
        return str(key) if key is not None else None

    def _show_endpoint(self) -> None:
        o = self.outcomes
        key = self.current_key()
        if o is None or key is None or key not in o.results:
            self._clear()
            return
        result = o.results[key]
        endpoint = result.endpoint
        role = _("primary") if endpoint.kind == "primary" else _("secondary")
        html = (f"<b>{escape(local(endpoint.name))}</b> — {escape(role)}<br>"
                f"<span style='color:#444'>{escape(local(endpoint.definition))}</span><br>"
                + escape(" ".join(endpoint_sentences(o.study, endpoint))))
        self.definition.setText(html)
        current = self.tabs.currentIndex()
        self.tabs.clear()
        for title, model in self._tables(o, result):
            view = CellView(self.tabs)
            view.setModel(model)
            model.setParent(view)
            view.open_cell.connect(self.show_patients)
            self.tabs.addTab(view, title)
        if 0 <= current < self.tabs.count():
            self.tabs.setCurrentIndex(current)
        self._fill_scales(result)
        self._show_chart()

    def _fill_scales(self, result: Any) -> None:
        self.scale_box.blockSignals(True)
        previous = self.scale_box.currentData()
        self.scale_box.clear()
        if getattr(result, "kind", "") == "repeated_measure":
            seen = []
            for row in result.scales:
                if (row.instrument, row.scale) not in seen:
                    seen.append((row.instrument, row.scale))
                    self.scale_box.addItem(_(row.label), (row.instrument, row.scale))
            index = self.scale_box.findData(previous)
            self.scale_box.setCurrentIndex(max(0, index))
        self.scale_box.blockSignals(False)
        self.scale_row.setVisible(getattr(result, "kind", "") == "repeated_measure")

    def _show_chart(self) -> None:
        o = self.outcomes
        key = self.current_key()
        if o is None or key is None or key not in o.results:
            return
        result = o.results[key]
        if getattr(result, "kind", "") == "time_to_event":
            summaries = list(result.groups) if len(result.groups) > 1 else [result.overall]
            self._curves(o, summaries, incidence=result.competing)
        elif getattr(result, "kind", "") == "proportion":
            rows = [result.overall, *result.groups] if len(result.groups) > 1 else [
                result.overall]
            self.rate_chart.set_rates([Rate(
                group_label(o.study, r.group), self._colour(o.study, r.group), r.estimate,
                r.lower, r.upper, percent_ci(r.estimate, r.lower, r.upper)) for r in rows])
            self.charts.setCurrentWidget(self.rate_chart)
        elif getattr(result, "kind", "") == "repeated_measure":
            chosen = self.scale_box.currentData()
            rows = [r for r in result.scales if chosen and (r.instrument, r.scale) == tuple(chosen)]
            points = [ScorePoint(o.study.visit_name(r.visit, r.visit), r.n, r.mean,
                                 r.mean_lower, r.mean_upper) for r in rows]
            top = 42.0 if rows and rows[0].instrument == "lars" else 100.0
            self.score_chart.set_points(points, top)
            self.charts.setCurrentWidget(self.score_chart)
        else:
            self.charts.setCurrentWidget(self.no_chart)

    @staticmethod
    def _colour(study: Study, group: str | None) -> str:
        codes = [a.code for a in study.arms]
        if group in codes:
            return PALETTE[codes.index(group) % len(PALETTE)]
        return "#444444" if len(codes) > 1 else PALETTE[0]

    def _curves(self, o: StudyOutcomes, summaries: list[SurvivalSummary], *,
                incidence: bool) -> None:
        end = max((float(s.km.time[-1]) for s in summaries
                   if s.km is not None and s.km.time.size), default=1.0)
        from gisttracker.outcomes.curves import curve_of, nice_ticks

        ticks = nice_ticks(end)
        series = []
        for s in summaries:
            curve = curve_of(s, incidence=incidence, ticks=ticks)
            if curve is not None:
                series.append(Series(group_label(o.study, s.group),
                                     self._colour(o.study, s.group), curve))
        self.curve_chart.set_series(series, incidence=incidence,
                                    bands=self.bands.isChecked())
        self.charts.setCurrentWidget(self.curve_chart)

    # ----- the tables -------------------------------------------------------------------
    def _tables(self, o: StudyOutcomes, result: Any) -> list[tuple[str, CellTable]]:
        out: list[tuple[str, CellTable]] = []
        if getattr(result, "kind", "") == "time_to_event":
            out.append((_("Survival"), self._survival(o, result, incidence=False)))
            if result.competing:
                out.append((_("Cumulative incidence"), self._survival(o, result,
                                                                     incidence=True)))
            if result.log_rank is not None:
                out.append((_("Tests"), self._tests(o, result)))
            if result.univariate or result.multivariable is not None or not o.models:
                out.append((_("Cox models"), self._cox(o, result)))
            if result.subgroups:
                out.append((_("Subgroups"), self._subgroups(o, result)))
        elif getattr(result, "kind", "") == "proportion":
            out.append((_("Rates"), self._rates(o, result)))
        elif getattr(result, "kind", "") == "repeated_measure":
            out.append((_("Scores"), self._scores(o, result)))
            if result.categories:
                out.append((_("Categories"), self._categories(o, result)))
        elif getattr(result, "kind", "") == "descriptive":
            out.append((_("Values"), self._descriptive(o, result)))
        excluded = getattr(result, "excluded", ())
        if excluded:
            reasons: dict[str, list[str]] = {}
            for uid, reason in excluded:
                reasons.setdefault(reason, []).append(uid)
            out.append((_("Left out"), CellTable(
                [_("Reason"), _("Patients")],
                [[plain(exclusion_text(r)), Cell(str(len(u)), tuple(u), exclusion_text(r))]
                 for r, u in reasons.items()])))
        return out

    def _survival(self, o: StudyOutcomes, r: TimeToEventResult, *,
                  incidence: bool) -> CellTable:
        study = o.study
        rows_of = [r.overall, *r.groups] if len(r.groups) > 1 else [r.overall]
        headers = [_("Group"), _("Patients"), _("Events"), _("Censored")]
        if r.competing:
            headers.append(_("Competing"))
        headers.append(_("Median, months (95% CI)"))
        headers += [landmark_name(m) for m in r.landmarks]
        rows = []
        for s in rows_of:
            name = group_label(study, s.group)
            row = [plain(name),
                   Cell(str(s.n), s.patients, _("{group}: patients").format(group=name)),
                   Cell(str(s.events), s.event_patients,
                        _("{group}: events").format(group=name)),
                   Cell(str(s.censored), s.censored_patients,
                        _("{group}: censored").format(group=name))]
            if r.competing:
                row.append(Cell(str(s.competing), s.competing_patients,
                                _("{group}: competing events").format(group=name)))
            if s.km is None:
                row.append(plain(s.note))
                rows.append(row)
                continue
            row.append(Cell(months_ci(s.median, s.median_lower, s.median_upper), s.patients,
                            _("{group}: the patients of the median").format(group=name)))
            points = s.incidence if incidence else s.landmarks
            for p in points:
                row.append(Cell(percent_ci(p.estimate, p.lower, p.upper), p.patients,
                                _("{group}: at risk at {time}").format(
                                    group=name, time=landmark_name(p.months))))
            rows.append(row)
        return CellTable(headers, rows)

    def _tests(self, o: StudyOutcomes, r: TimeToEventResult) -> CellTable:
        rows = []
        tests = [(_("All groups"), r.log_rank)] + [
            (_("{group} against {reference}").format(
                group=group_label(o.study, c.groups[-1]),
                reference=group_label(o.study, r.reference)), c) for c in r.pairwise]
        for label, c in tests:
            if c is None:
                continue
            rows.append([plain(label), Cell(str(len(c.patients)), c.patients, label),
                         plain(number(c.chi2) if c.chi2 is not None else c.note),
                         plain(str(c.df) if c.df is not None else ""),
                         plain(p_value(c.p))])
        return CellTable([_("Log-rank test"), _("Patients"), _("Chi-square"), _("df"), _("p")],
                         rows)

    def _cox(self, o: StudyOutcomes, r: TimeToEventResult) -> CellTable:
        headers = [_("Model"), _("Term"), _("HR (95% CI)"), _("coef"), _("SE"), _("z"), _("p"),
                   _("Patients"), _("Events"), _("PH test p"), _("Model LR test p")]
        if not o.models:
            return CellTable(headers, [[plain(_("Fitting the Cox models…"))]])
        rows: list[list[Cell]] = []
        fits: list[tuple[str, CoxFit]] = [(_("univariate"), f) for f in r.univariate]
        if r.multivariable is not None:
            fits.append((_("multivariable"), r.multivariable))
        for kind, fit in fits:
            terms = ", ".join(term_label(o.study, t) for t in fit.terms)
            if fit.note:
                rows.append([plain(kind), plain(terms), plain(fit.note)])
                continue
            ph = {x.covariate: x for x in fit.ph}
            for row in fit.rows:
                test = ph.get(row.covariate)
                rows.append([
                    plain(kind), plain(level_text(o.study, row.covariate, row.level)),
                    plain(hr_ci(row.hr, row.lower, row.upper)), plain(number(row.coef, 3)),
                    plain(number(row.se, 3)), plain(number(row.z, 2)), plain(p_value(row.p)),
                    Cell(str(fit.n), fit.patients, _("Patients of the model: {terms}").format(
                        terms=terms)),
                    plain(str(fit.events)), plain(p_value(test.p) if test else "—"),
                    plain(p_value(fit.lr_p))])
            for caution in fit.cautions:
                rows.append([plain(""), plain(caution)])
        return CellTable(headers, rows)

    def _subgroups(self, o: StudyOutcomes, r: TimeToEventResult) -> CellTable:
        last = r.landmarks[-1] if r.landmarks else None
        headers = [_("Subgroup"), _("Group"), _("Patients"), _("Events"),
                   _("Median, months (95% CI)"),
                   landmark_name(last) if last is not None else "", _("Log-rank p")]
        rows: list[list[Cell]] = []
        for sub in r.subgroups:
            level = _("yes") if sub.level else _("no")
            name = _("{covariate}: {level}").format(
                covariate=term_label(o.study, sub.covariate), level=level)
            test = sub.log_rank
            p = p_value(test.p) if test and test.p is not None else (test.note if test else "")
            for s in sub.summaries:
                group = group_label(o.study, s.group)
                point = s.landmarks[-1] if s.landmarks else None
                title = _("{subgroup}, {group}").format(subgroup=name, group=group)
                rows.append([plain(name), plain(group), Cell(str(s.n), s.patients, title),
                             Cell(str(s.events), s.event_patients, title),
                             plain(months_ci(s.median, s.median_lower, s.median_upper)
                                   if s.km is not None else s.note),
                             Cell(percent_ci(point.estimate, point.lower, point.upper),
                                  point.patients, title) if point else plain(""),
                             plain(p)])
                name, p = "", ""
        return CellTable(headers, rows)

    def _rates(self, o: StudyOutcomes, r: ProportionResult) -> CellTable:
        rows_of = [r.overall, *r.groups] if len(r.groups) > 1 else [r.overall]
        values = sorted({k for row in rows_of for k, _u in row.found})
        headers = [_("Group"), _("Yes"), _("Evaluable"), _("Rate (95% CI)"),
                   _("Not yet evaluable"), *[found_label(v) for v in values]]
        rows = []
        for x in rows_of:
            name = group_label(o.study, x.group)
            found = dict(x.found)
            rows.append([
                plain(name),
                Cell(str(x.successes), x.success_patients, _("{group}: yes").format(group=name)),
                Cell(str(x.total), x.patients, _("{group}: evaluable").format(group=name)),
                plain(percent_ci(x.estimate, x.lower, x.upper) if x.total else x.note),
                Cell(str(len(x.pending_patients)), x.pending_patients,
                     _("{group}: not yet evaluable").format(group=name)),
                *[Cell(str(len(found.get(v, ()))), found.get(v, ()), _("{group}: {value}").format(
                    group=name, value=found_label(v))) for v in values]])
        if r.test is not None or r.note:
            test = (_("Fisher's exact test") if r.test == "fisher"
                    else _("Chi-square test") if r.test else "")
            rows.append([plain(test), Cell(str(len(r.comparison_patients)),
                                           r.comparison_patients, test or _("Comparison")),
                         plain(""), plain(_("p = {p}").format(p=p_value(r.p))
                                          if r.p is not None else r.note)])
        return CellTable(headers, rows)

    def _scores(self, o: StudyOutcomes, r: RepeatedResult) -> CellTable:
        headers = [_("Scale"), _("Visit"), _("n"), _("Mean (SD)"), _("Median (IQR)"),
                   _("Change from first visit (95% CI)"), _("Pairs")]
        rows = []
        if r.note:
            return CellTable(headers, [[plain(r.note)]])
        for x in r.scales:
            visit = o.study.visit_name(x.visit, x.visit)
            title = _("{scale} at {visit}").format(scale=_(x.label), visit=visit)
            rows.append([
                plain(_(x.label)), plain(visit),
                Cell(str(x.n), x.patients, title, x.scale, x.visit),
                plain(_("{mean} ({sd})").format(mean=number(x.mean, 1), sd=number(x.sd, 1))),
                plain(_("{median} ({q1}–{q3})").format(
                    median=number(x.median, 1), q1=number(x.q1, 1), q3=number(x.q3, 1))),
                plain("" if x.change_mean is None else _("{mean} ({lower} to {upper})").format(
                    mean=number(x.change_mean, 1), lower=number(x.change_lower, 1),
                    upper=number(x.change_upper, 1))),
                plain("" if x.change_n is None else str(x.change_n))])
        return CellTable(headers, rows)

    def _categories(self, o: StudyOutcomes, r: RepeatedResult) -> CellTable:
        names = [n for n, _c, _w in r.categories[0].counts]
        rows = []
        for c in r.categories:
            visit = o.study.visit_name(c.visit, c.visit)
            rows.append([plain(visit), plain(str(c.n)), *[
                Cell(f"{count} ({100 * count / c.n:.0f}%)" if c.n else "0", who,
                     _("{category} at {visit}").format(category=_(name), visit=visit),
                     "total", c.visit) for name, count, who in c.counts]])
        return CellTable([_("Visit"), _("n"), *[_(n) for n in names]], rows)

    def _descriptive(self, o: StudyOutcomes, r: DescriptiveResult) -> CellTable:
        headers = [_("Measure"), _("Group"), _("n"), _("Mean (SD)"), _("Median (IQR)"),
                   _("Range")]
        rows = []
        for x in r.numbers:
            group = group_label(o.study, x.group)
            rows.append([plain(measure_label(x.measure)), plain(group),
                         Cell(str(x.n), x.patients, _("{measure}, {group}").format(
                             measure=measure_label(x.measure), group=group)),
                         plain(_("{mean} ({sd})").format(mean=number(x.mean, 1),
                                                         sd=number(x.sd, 1))),
                         plain(_("{median} ({q1}–{q3})").format(
                             median=number(x.median, 1), q1=number(x.q1, 1),
                             q3=number(x.q3, 1))),
                         plain(_("{low}–{high}").format(low=number(x.minimum, 1),
                                                        high=number(x.maximum, 1)))])
        for c in r.counts:
            group = group_label(o.study, c.group)
            rows.append([plain(measure_label(c.measure)), plain(group),
                         Cell(str(c.count), c.patients, _("{measure}: {value}, {group}").format(
                             measure=measure_label(c.measure), value=found_label(c.value),
                             group=group)),
                         plain(found_label(c.value))])
        return CellTable(headers, rows)

    # ----- the patients behind a number -------------------------------------------------
    def show_patients(self, cell: Cell) -> PatientListDialog | None:
        """Open the list of the patients behind ``cell``."""
        o = self.outcomes
        if o is None or cell.patients is None:
            return None
        from gisttracker.outcomes.listing import patient_list

        listing = patient_list(o, self.current_key(), cell.patients, scale=cell.scale,
                               visit=cell.visit)
        dialog = PatientListDialog(cell.title or _("Patients"), listing, self)
        dialog.open_patient.connect(self.open_patient_at)
        self.dialogs = [d for d in self.dialogs if d.isVisible()] + [dialog]
        dialog.show()
        return dialog

    def open_patient_at(self, uid: str, fact: Fact | None) -> None:
        """Open (or raise) the patient's one window at the tab that shows ``fact``; the
        window reads its header and tabs in the background."""
        tab = FACT_TABS.get(fact.kind) if fact is not None else None
        window = self.open_patient(uid)
        if window is None:
            return
        if tab is not None and tab in window.pages:
            window.tabs.setCurrentWidget(window.pages[tab])
        window.raise_()
        self.windows = [w for w in self.windows if w.isVisible()] + [window]

    # ----- the PDF ----------------------------------------------------------------------
    def make_pdf(self) -> None:
        """Make the outcomes report as of the cut-off in the background, then open it."""
        if self.session is None or self.tasks is None or self.study is None:
            return
        from gisttracker.reports import ReportRequest
        from ui.reports import _output_dir, make_pdf

        request = ReportRequest("outcomes", study_key=self.study.key, as_of=self.cut_off())
        path = _output_dir() / f"outcomes_{self.study.key}_{self.cut_off().isoformat()}.pdf"
        session, today = self.session, self.today_fn()
        self._say(_("Making the PDF…"))

        def opened(done: Path) -> None:
            from PySide6.QtCore import QUrl
            from PySide6.QtGui import QDesktopServices

            self._say(_("PDF written to {path}").format(path=done))
            if not self.property("headless"):
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(done)))

        def failed(exc: BaseException) -> None:
            from ui.errors import is_expected, show_error

            if is_expected(exc):
                self._say(str(exc), error=True)
            else:  # a bug: a crash report, never its raw message on the page
                self._say(_("The PDF could not be made."), error=True)
                show_error(self, exc, context="outcomes PDF")

        self.tasks.run(lambda: make_pdf(session, request, today, path), opened, failed)


__all__ = ["FACT_TABS", "Cell", "CellTable", "CellView", "OutcomesPage", "PatientListDialog"]

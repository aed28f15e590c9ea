"""Benchmark: the printed reports at sites of 1,000, 10,000 and 100,000 patients, each next
to reportlab alone laying out the same cells in the same pieces.

    .venv/bin/python tests/benchmarks/bench_reports.py [--runs N] [--sizes 1000,10000]

For each site and report (the month's site calendar, the screening log of NCT04933669,
its enrollment report, and the casebook of a patient with laboratory values at many
visits): the report is first rendered here once, not timed, with every page-sized piece of
its tables recorded into ``CELLS.json``; then, alternately, as whole processes:

* ours: ``gisttracker report KIND … -o ours.pdf`` — imports, font registration, opening
  the site, gathering, layout, page numbers, writing the file;
* baseline: ``bare_tables.py CELLS.json bare.pdf`` — imports, the same fonts, and
  reportlab's own ``Table`` for each recorded piece, built into one document.

Prints the medians (wall and CPU), the ratio, the pages and the seconds per page. Aims
(issue 17): the calendar of the 100,000-patient site under 15 s, the screening log under
20 s, each within 1.5× of the baseline, and within 1.2× per page from 10,000 to 100,000
patients. Then the casebook's gathering alone, in this process, at each size, per visit with
records (it used to grow with the site: the same casebook took 0.07 s at 1,000 patients
and 0.32 s at 100,000).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pypdf import PdfReader
from reportlab.lib import colors
from reportlab.lib.units import mm

from gisttracker.reports import ReportRequest, build
from gisttracker.reports.base import MARGIN
from gisttracker.reports.fonts import _find, fonts
from gisttracker.reports.pieces import PiecewiseTable
from gisttracker.session import Session, open_session
from tests.benchmarks.wholeproc import (
    CACHE,
    GISTTRACKER,
    HEADER,
    PYTHON,
    ROOT,
    SIZES,
    TODAY,
    compare,
    row,
    site,
)

BARE = ROOT / "tests" / "benchmarks" / "bare_tables.py"
OUT = CACHE / "reports"
MADE = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
STUDY = "NCT04933669"
AIMS = {"calendar": 15.0, "screening": 20.0}


def casebook_patient(session: Session) -> str:
    """A patient with laboratory values at many visits (among the first 3,000 patients,
    so the choice costs the same at every size)."""
    row_ = session.db.execute_sql(
        "SELECT p.study_id FROM patient p JOIN visit v ON v.patient_id = p.id "
        "JOIN lab_result l ON l.visit_id = v.id WHERE p.id <= 3000 "
        "GROUP BY p.id ORDER BY count(*) DESC, p.id LIMIT 1").fetchone()
    return str(row_[0])


def requests(session: Session) -> list[tuple[str, ReportRequest, list[str]]]:
    patient = casebook_patient(session)
    return [
        ("calendar", ReportRequest("calendar", start=date(2026, 3, 1), end=date(2026, 3, 31)),
         ["calendar", "--from", "2026-03-01", "--to", "2026-03-31"]),
        ("screening", ReportRequest("screening", study_key=STUDY),
         ["screening", "--study", STUDY]),
        ("enrollment", ReportRequest("enrollment", study_key=STUDY),
         ["enrollment", "--study", STUDY]),
        ("casebook", ReportRequest("casebook", patient=patient),
         ["casebook", "--patient", patient]),
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, colors.Color):
        return {"colour": value.hexval()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _piece(table: PiecewiseTable, end: int, cell: Any) -> dict[str, Any]:
    rows, style, heads = table.piece(end)
    return {"widths": table.col_widths, "heads": heads,
            "rows": [[cell(c) for c in r] for r in rows],
            "style": [[c[0], list(c[1]), list(c[2]), *[_json_value(a) for a in c[3:]]]
                      for c in style]}


def record_pieces(session: Session, request: ReportRequest, path: Path) -> int:
    """Render ``request`` here, writing its tables' pieces to ``path``; its page count."""
    pieces: list[tuple[PiecewiseTable, int, int]] = []
    split, draw_on = PiecewiseTable.split, PiecewiseTable.drawOn

    def recording_split(self: PiecewiseTable, w: float, h: float) -> list[Any]:
        parts = split(self, w, h)
        if len(parts) == 2:
            pieces.append((self, self.start, parts[1].start - self.start))
        elif len(parts) == 1:
            pieces.append((self, self.start, len(self.rows) - self.start))
        return parts

    def recording_draw(self: PiecewiseTable, canvas: Any, x: float, y: float,
                       _sW: float = 0) -> None:
        pieces.append((self, self.start, len(self.rows) - self.start))
        draw_on(self, canvas, x, y, _sW)

    PiecewiseTable.split = recording_split  # type: ignore[method-assign]
    PiecewiseTable.drawOn = recording_draw  # type: ignore[method-assign]
    try:
        report = build(session, request, today=date.fromisoformat(TODAY), generated_at=MADE)
        pdf = report.render()
    finally:
        PiecewiseTable.split, PiecewiseTable.drawOn = split, draw_on  # type: ignore[method-assign]
    styles: dict[str, dict[str, Any]] = {}

    def cell(value: Any) -> Any:
        if isinstance(value, str):
            return value
        style = value.style
        styles[style.name] = {"fontName": style.fontName, "fontSize": style.fontSize,
                              "leading": style.leading, "wordWrap": style.wordWrap,
                              "textColor": style.textColor.hexval()}
        return {"p": value.text, "s": style.name}

    f = fonts()
    width, height = report.pagesize
    spec = {
        "pagesize": [width, height],
        "frame": [MARGIN, 16 * mm, width - 2 * MARGIN, height - 36 * mm],
        # The fonts the report registered (the CJK one only if it had Chinese to set).
        "fonts": [[f.regular, str(f.latin_path), 0],
                  [f.bold, str(_find("DejaVuSans-Bold.ttf")), 0],
                  *([[f.cjk_name, str(f.cjk_path), 0]] if b"ZenHei" in pdf else [])],
        "pieces": [_piece(table, start + count, cell) for table, start, count in pieces],
        "styles": styles,
    }
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return len(PdfReader(BytesIO(pdf)).pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    per_page: dict[tuple[str, int], float] = {}
    gathers: dict[int, tuple[float, str, int]] = {}
    print(HEADER)
    for size in (int(s) for s in args.sizes.split(",")):
        path = site(size)
        session = open_session(path, user="bench", clock=lambda: MADE)
        for kind, request, argv in requests(session):
            cells = OUT / f"{kind}-{size}.json"
            pages = record_pieces(session, request, cells)
            ours = [*GISTTRACKER, "--db", str(path), "report", *argv, "--today", TODAY,
                    "-o", str(OUT / f"{kind}-{size}.pdf")]
            bare = [PYTHON, str(BARE), str(cells), str(OUT / f"{kind}-{size}-bare.pdf")]
            pair = compare(ours, bare, runs=args.runs)
            per_page[(kind, size)] = pair.a.wall / pages
            aim = AIMS.get(kind) if size == 100_000 else None
            verdict = ""
            if aim is not None:
                verdict = f"  (aim < {aim:g} s: {'met' if pair.a.wall < aim else 'MISSED'})"
            print(row(f"{size:>7,} {kind} ({pages} pages)", pair, aim=1.5)
                  + f"   {1000 * per_page[(kind, size)]:6.1f} ms/page{verdict}", flush=True)
        patient = casebook_patient(session)
        times = []
        for _i in range(5):
            from gisttracker.reports.casebook import gather_casebook

            started = time.perf_counter()
            data = gather_casebook(session, patient, today=date.fromisoformat(TODAY))
            times.append(time.perf_counter() - started)
        gathers[size] = (statistics.median(times), patient, len(data.visits))
        session.close()
    print()
    for kind in ("calendar", "screening", "enrollment", "casebook"):
        if (kind, 10_000) in per_page and (kind, 100_000) in per_page:
            ratio = per_page[(kind, 100_000)] / per_page[(kind, 10_000)]
            print(f"{kind:<12} per page, 100,000 vs 10,000 patients: {ratio:4.2f}× "
                  f"({'met' if ratio <= 1.2 else 'MISSED'}: aim ≤ 1.2×)")
    # The demo fills forms at a fixed number of visits whatever the size, so the richest
    # casebook differs between sites: compare the time per visit with records.
    for size, (seconds, patient, visits) in gathers.items():
        print(f"casebook gather at {size:>7,} patients ({patient}, {visits} visits with "
              f"records): {1000 * seconds:6.1f} ms, {1000 * seconds / max(visits, 1):5.1f} ms "
              "per visit (median of 5, in-process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The baseline of the report benchmark: reportlab alone laying out the same table cells in
the same pieces as a report did.

    .venv/bin/python tests/benchmarks/bare_tables.py CELLS.json OUT.pdf

``CELLS.json`` (written by ``bench_reports.py`` from a real report) holds the page size, the
frame, the fonts, the paragraph styles and, for every page-sized piece of every table, its
column widths, style commands, head rows (repeated) and rows: each cell a plain string or
a paragraph (markup and style). This script registers the same TrueType fonts, builds one
reportlab ``Table`` per piece (header repeated) and lays them all out in one document,
timed as a whole process like the report itself. No page header, footer or page count.
"""

import json
import sys

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Table, TableStyle


def _value(v):
    if isinstance(v, dict) and "colour" in v:
        return colors.HexColor(v["colour"])
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    for name, path, index in spec["fonts"]:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
    styles = {name: ParagraphStyle(name, textColor=colors.HexColor(s.pop("textColor")), **s)
              for name, s in spec["styles"].items()}

    def cell(c):
        return Paragraph(c["p"], styles[c["s"]]) if isinstance(c, dict) else c

    story = []
    for piece in spec["pieces"]:
        data = [[cell(c) for c in row] for row in piece["rows"]]
        table = Table(data, colWidths=piece["widths"], repeatRows=piece["heads"])
        table.setStyle(TableStyle([(cmd[0], tuple(cmd[1]), tuple(cmd[2]),
                                    *[_value(a) for a in cmd[3:]])
                                   for cmd in piece["style"]]))
        story.append(table)
    width, height = spec["pagesize"]
    x, y, w, h = spec["frame"]
    doc = BaseDocTemplate(sys.argv[2], pagesize=(width, height))
    doc.addPageTemplates([PageTemplate(frames=[Frame(x, y, w, h, leftPadding=0,
                                                     rightPadding=0, topPadding=0,
                                                     bottomPadding=0)])])
    doc.build(story)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ready-to-run import scripts for the CSV export: R, SPSS and Stata.

Each reads every CSV file of the export folder with the right type per column, turns the
``YYYY-MM-DD`` dates into dates, and attaches variable labels and value labels from the
dictionary — what REDCap's export scripts do:

- ``import.R`` builds ``gist``, a list of data frames (``gist$patient``…); a coded variable
  gets a companion factor ``<name>.factor`` and every variable a ``label`` attribute (the
  convention of Hmisc and labelled). Run with ``source("import.R", encoding = "UTF-8")``.
- ``import.sps`` reads each file (``GET DATA``) with ``VARIABLE LABELS``, ``VALUE LABELS``
  and date formats, and saves it as ``<name>.sav``.
- ``import.do`` reads each file and saves it as ``<name>.dta`` with labels; text codes (a
  status such as ``enrolled``) stay text, since Stata labels only whole numbers.

SPSS and Stata name the variables themselves and read from the second line, so the byte-order
mark at the start of a file (for Excel) never reaches them; R reads it as ``UTF-8-BOM``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from gisttracker import __version__
from gisttracker.exchange.csv_export import CsvTable, Var
from gisttracker.i18n import _


def _r(text: object) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _r_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return _r(value)


R_CLASS = {"text": "character", "integer": "integer", "float": "numeric", "date": "character",
           "datetime": "character", "boolean": "integer"}


def r_script(tables: Sequence[CsvTable], made_at: datetime) -> str:
    lines = [
        f"# GIST Study Tracker {__version__}: CSV export of {made_at:%Y-%m-%d %H:%M} UTC.",
        "# Reads every CSV file of this folder into `gist`, a list of data frames, with",
        "# types, dates, variable labels (attribute \"label\") and value labels (factors).",
        "# Run it from this folder:  source(\"import.R\", encoding = \"UTF-8\")",
        "",
        "gist <- list()",
        ".gist_read <- function(file, classes) {",
        "  utils::read.csv(file, fileEncoding = \"UTF-8-BOM\", colClasses = classes,",
        "                  na.strings = \"\", check.names = FALSE, stringsAsFactors = FALSE)",
        "}",
        "",
    ]
    for table in tables:
        classes = ", ".join(f"{_r(v.name)} = {_r(R_CLASS[v.type])}" for v in table.vars)
        lines.append(f"# {table.title}")
        lines.append(f"d <- .gist_read({_r(table.file)}, c({classes}))")
        for var in table.vars:
            col = f"d[[{_r(var.name)}]]"
            if var.type == "date":
                lines.append(f"{col} <- as.Date({col}, format = \"%Y-%m-%d\")")
            if var.codes:
                levels = ", ".join(_r_value(v) for v, _label in var.codes)
                labels = ", ".join(_r(_(label)) for _v, label in var.codes)
                lines.append(f"d[[{_r(var.name + '.factor')}]] <- factor({col}, "
                             f"levels = c({levels}), labels = c({labels}))")
            label = var.label + (f" ({var.unit})" if var.unit else "")
            lines.append(f"attr({col}, \"label\") <- {_r(label)}")
        lines.append(f"gist[[{_r(table.dataset)}]] <- d")
        lines.append("")
    lines.append("rm(d, .gist_read)")
    return "\n".join(lines) + "\n"


def _spss(text: object) -> str:
    return "'" + str(text).replace("'", "''").replace("\n", " ") + "'"


def _spss_value(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return _spss(value)


def _spss_format(var: Var) -> str:
    if var.type == "date":
        return "SDATE10"
    if var.type in ("integer", "boolean"):
        return "F10.0"
    if var.type == "float":
        return "F16.4"
    return f"A{min(max(var.width, 1), 32767)}"


def spss_script(tables: Sequence[CsvTable], made_at: datetime) -> str:
    lines = [
        "* Encoding: UTF-8.",
        f"* GIST Study Tracker {__version__}: CSV export of {made_at:%Y-%m-%d %H:%M} UTC.",
        "* Reads every CSV file of this folder, with labels and value labels, and saves it",
        "* as an SPSS data file (<name>.sav) beside it; the last one read stays open.",
        "* Run it with this folder as the working folder (CD 'path to this folder'), in",
        "* Unicode mode (SPSS's default since version 21; PSPP reads it too).",
        "",
    ]
    for table in tables:
        lines += [
            f"* {table.title}.",
            f"GET DATA /TYPE=TXT /FILE={_spss(table.file)} /ENCODING='UTF8'",
            "  /ARRANGEMENT=DELIMITED /DELCASE=LINE /FIRSTCASE=2 /DELIMITERS=','",
            "  /QUALIFIER='\"'",
            "  /VARIABLES=",
        ]
        lines += [f"  {v.name} {_spss_format(v)}" for v in table.vars]
        lines.append(".")
        labels = [f"  {v.name} {_spss(v.label + (f' ({v.unit})' if v.unit else ''))}"
                  for v in table.vars]
        lines.append("VARIABLE LABELS")
        lines.append("\n  /".join(labels) + ".")
        coded = [v for v in table.vars if v.codes]
        if coded:
            parts = []
            for var in coded:
                pairs = " ".join(f"{_spss_value(v)} {_spss(_(label))}" for v, label in var.codes
                                 if var.type != "text" or isinstance(v, str))
                if pairs:
                    parts.append(f"  {var.name} {pairs}")
            if parts:
                lines.append("VALUE LABELS")
                lines.append("\n  /".join(parts) + ".")
        dates = [v.name for v in table.vars if v.type == "date"]
        if dates:
            lines.append(f"FORMATS {' '.join(dates)} (SDATE10).")
        lines += [f"SAVE OUTFILE={_spss(table.dataset + '.sav')}.", "EXECUTE.", ""]
    return "\n".join(lines) + "\n"


def _stata(text: object) -> str:
    # Compound double quotes take any text but a newline.
    return '`"' + str(text).replace("\n", " ")[:80] + '"\''


def stata_script(tables: Sequence[CsvTable], made_at: datetime) -> str:
    lines = [
        f"* GIST Study Tracker {__version__}: CSV export of {made_at:%Y-%m-%d %H:%M} UTC.",
        "* Reads every CSV file of this folder and saves it as a Stata dataset (.dta) with",
        "* variable and value labels. Run it from this folder:  do import.do",
        "version 14",
        "set more off",
        "",
    ]
    for table in tables:
        names = [v.name for v in table.vars]
        lines += [
            f"* {table.title}",
            f"import delimited using \"{table.file}\", varnames(nonames) rowrange(2) "
            "encoding(\"utf-8\") bindquote(strict) stringcols(_all) clear",
        ]
        for start in range(0, len(names), 50):
            chunk = range(start + 1, min(start + 50, len(names)) + 1)
            lines.append(f"rename ({' '.join(f'v{i}' for i in chunk)}) "
                         f"({' '.join(names[i - 1] for i in chunk)})")
        numeric = [v.name for v in table.vars if v.type in ("integer", "float", "boolean")]
        for start in range(0, len(numeric), 50):
            lines.append(f"destring {' '.join(numeric[start:start + 50])}, replace")
        for var in table.vars:
            if var.type == "date":
                lines += [f"generate double _d = date({var.name}, \"YMD\")",
                          f"drop {var.name}", f"rename _d {var.name}",
                          f"format {var.name} %td"]
        for start in range(0, len(names), 50):
            lines.append(f"order {' '.join(names[start:start + 50])}, last")
        for var in table.vars:
            label = var.label + (f" ({var.unit})" if var.unit else "")
            lines.append(f"label variable {var.name} {_stata(label)}")
            numeric_codes = [(v, label) for v, label in var.codes
                             if isinstance(v, bool | int) and var.type != "text"]
            if numeric_codes:
                pairs = " ".join(f"{int(v)} {_stata(_(label))}" for v, label in numeric_codes)
                lines.append(f"label define {var.name} {pairs}, replace")
                lines.append(f"label values {var.name} {var.name}")
        lines += [f"save \"{table.dataset}.dta\", replace", ""]
    return "\n".join(lines) + "\n"


def write_scripts(folder: Path, tables: Sequence[CsvTable], *, made_at: datetime) -> None:
    """Write ``import.R``, ``import.sps`` and ``import.do`` into ``folder``."""
    (folder / "import.R").write_text(r_script(tables, made_at), encoding="utf-8")
    (folder / "import.sps").write_text(spss_script(tables, made_at), encoding="utf-8")
    (folder / "import.do").write_text(stata_script(tables, made_at), encoding="utf-8")

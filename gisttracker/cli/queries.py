"""``gisttracker queries``: list data queries; ``raise``, ``answer``, ``close``, ``reopen``.

A monitor raises a query on one value (``queries raise --patient ZJU-0007 --table screening
--record UID --field ecog --question "…"``; ``queries targets --patient ZJU-0007`` lists
what can be asked about), the site answers, the monitor closes it. Every step is audited.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from gisttracker.cli.common import add_json_flag, print_json, print_table, session
from gisttracker.i18n import _

if TYPE_CHECKING:
    from gisttracker.services.queries import QueryInfo

# gisttracker.services.queries.STATES, here so that building the parser imports no service.
STATES = ("open", "answered", "closed")


def register(sub: Any) -> None:
    parser = sub.add_parser("queries", help=_("list, raise, answer and close data queries"))
    parser.add_argument("--state", choices=STATES, help=_("only queries in this state"))
    parser.add_argument("--study", metavar="KEY", help=_("only this study"))
    parser.add_argument("--patient", metavar="ID", help=_("only this patient"))
    add_json_flag(parser)
    parser.set_defaults(handler=run_list)
    actions = parser.add_subparsers(dest="queries_command", metavar="ACTION",
                                    parser_class=type(parser))
    p = actions.add_parser("targets", help=_("the values of a patient a query can be about"))
    p.add_argument("--patient", dest="target_patient", required=True, metavar="ID")
    add_json_flag(p)
    p.set_defaults(handler=run_targets)
    p = actions.add_parser("raise", help=_("ask about one value (monitor)"))
    p.add_argument("--patient", dest="target_patient", required=True, metavar="ID")
    p.add_argument("--table", required=True)
    p.add_argument("--record", required=True, metavar="UID")
    p.add_argument("--field")
    p.add_argument("--question", required=True)
    p.set_defaults(handler=run_raise)
    p = actions.add_parser("answer", help=_("answer an open query (site)"))
    p.add_argument("query", metavar="Q-NNNN")
    p.add_argument("--answer", required=True)
    p.set_defaults(handler=run_answer)
    p = actions.add_parser("close", help=_("close a query (monitor)"))
    p.add_argument("query", metavar="Q-NNNN")
    p.add_argument("--note")
    p.set_defaults(handler=run_close)
    p = actions.add_parser("reopen", help=_("ask again about an answered query (monitor)"))
    p.add_argument("query", metavar="Q-NNNN")
    p.add_argument("--question", required=True)
    p.set_defaults(handler=run_reopen)


def _json(q: QueryInfo) -> dict[str, Any]:
    return {"query": q.code, "state": q.state, "patient": q.patient, "study": q.study_key,
            "table": q.table, "record": q.record_uid, "field": q.field,
            "value_seen": q.value_seen, "question": q.question, "raised_by": q.raised_by,
            "raised_at": q.raised_at, "answer": q.answer, "answered_by": q.answered_by,
            "answered_at": q.answered_at, "closed_by": q.closed_by, "closed_at": q.closed_at,
            "close_note": q.close_note}


def run_list(args: argparse.Namespace) -> int:
    from gisttracker.services.queries import QueryService

    s = session(args)
    try:
        rows = QueryService(s).queries(study_key=args.study, state=args.state,
                                       patient_ref=args.patient)
    finally:
        s.close()
    if args.json:
        print_json([_json(q) for q in rows])
        return 0
    if not rows:
        print(_("no queries"))
        return 0
    print_table([_("query"), _("state"), _("patient"), _("item"), _("question"),
                 _("raised"), _("answer")],
                [[q.code, q.state_label, q.patient, q.item, _one_line(q.question),
                  f"{q.raised_by} {q.raised_at[:10]}", _one_line(q.answer or "")]
                 for q in rows])
    return 0


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 50 else line[:49] + "…"


def run_targets(args: argparse.Namespace) -> int:
    from gisttracker.services.queries import QueryService

    s = session(args)
    try:
        targets = QueryService(s).targets(args.target_patient)
    finally:
        s.close()
    if args.json:
        print_json([{"label": t.label, "table": t.table, "record": t.record_uid,
                     "field": t.field, "value": t.value} for t in targets])
        return 0
    print_table([_("value"), _("table"), _("record"), _("field"), _("now")],
                [[t.label, t.table, t.record_uid, t.field, str(t.value)] for t in targets])
    return 0


def _done(q: QueryInfo) -> int:
    print(_("{query}: {state}").format(query=q.code, state=q.state_label))
    return 0


def run_raise(args: argparse.Namespace) -> int:
    from gisttracker.services.queries import QueryService

    s = session(args)
    try:
        q = QueryService(s).raise_query(args.target_patient, args.table, args.record,
                                        args.field, args.question)
    finally:
        s.close()
    return _done(q)


def run_answer(args: argparse.Namespace) -> int:
    from gisttracker.services.queries import QueryService

    s = session(args)
    try:
        q = QueryService(s).answer(args.query, args.answer)
    finally:
        s.close()
    return _done(q)


def run_close(args: argparse.Namespace) -> int:
    from gisttracker.services.queries import QueryService

    s = session(args)
    try:
        q = QueryService(s).close(args.query, args.note)
    finally:
        s.close()
    return _done(q)


def run_reopen(args: argparse.Namespace) -> int:
    from gisttracker.services.queries import QueryService

    s = session(args)
    try:
        q = QueryService(s).reopen(args.query, args.question)
    finally:
        s.close()
    return _done(q)

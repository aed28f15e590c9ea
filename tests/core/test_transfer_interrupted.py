"""``gisttracker migrate-to`` cut short, as when the process is killed or the computer goes
off half-way (issue 16): the source is untouched, the target is no site anyone could open
by mistake (a new file never has the target's name before it is verified; a server
database keeps its schema only), and the same command, run again, moves the site whole.

The move is killed from inside, after a few tables, by ``os._exit`` (as ``kill -9``: no
clean-up of any kind runs), in a process of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.store.db import resolve_path
from gisttracker.store.transfer import INCOMPLETE
from gisttracker.store.urls import ServerLocation
from tests.core.test_transfer import _tables
from tests.helpers import server_url

ROOT = Path(__file__).resolve().parents[2]
KILLED = 9  # the exit code CUT_SHORT ends with
CUT_SHORT = """
import os, sys
from gisttracker.session import open_session
from gisttracker.store.db import resolve_path
from gisttracker.store.transfer import transfer

source, target = sys.argv[1:3]
s = open_session(resolve_path(source))
copied = []

def progress(table, rows):
    copied.append(table)
    if len(copied) == 12:  # patients, visits and part of the audit trail are in
        os._exit(9)

transfer(s.db, resolve_path(target), progress=progress)
"""


def _cut_short(source: Path, target: str) -> None:
    where = source.connect_url if isinstance(source, ServerLocation) else str(source)
    done = subprocess.run([sys.executable, "-c", CUT_SHORT, where, target], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == KILLED, done.stderr


def _site(path: Path) -> Path:
    assert main(["--db", str(path), "demo", "--patients", "20"]) == 0
    return path


def test_a_move_to_a_new_file_cut_short_leaves_no_site_by_that_name(
        db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _site(db_path)
    before = _tables(source)
    target = tmp_path / "copy.db"
    _cut_short(source, str(target))
    assert not target.exists()  # nothing a nurse could open as an empty site
    assert Path(f"{target}{INCOMPLETE}").exists()  # what was written, by its own name
    assert _tables(source) == before
    # The same command again: the site moves whole, and what was left is gone.
    assert main(["--db", str(source), "migrate-to", str(target)]) == 0
    assert "Moved" in capsys.readouterr().out
    assert not Path(f"{target}{INCOMPLETE}").exists()
    assert _tables(target) == before


def test_a_move_to_a_server_cut_short_leaves_its_schema_only_and_can_be_run_again(
        tmp_path: Path, server_db: str) -> None:
    source = _site(tmp_path / "site.db")
    before = _tables(source)
    url = server_url(server_db)
    _cut_short(source, url)
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert "patient" in tables  # the schema is there (its own transaction)...
        assert conn.execute("SELECT count(*) FROM patient").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM audit_entry").fetchone() == (0,)
    assert _tables(source) == before  # ...the copy was one transaction, never committed
    assert main(["--db", str(source), "migrate-to", url]) == 0
    assert _tables(resolve_path(url)) == before

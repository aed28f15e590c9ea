"""Issue 16 as an administrator sets it up: the README's server section followed word for
word on a fresh cluster that takes TLS connections only (``scripts/pg-cluster --tls``), and
what a workstation is told when the address, the server, the password, the certificate or
the database's schema is not what it needs.

The README's SQL, its pg_hba.conf lines and its commands are read from the README itself,
so the two cannot drift. The cluster of this module is its own (a self-signed certificate,
TLS only over TCP); it runs on the server run of ``scripts/test`` and is skipped, saying so,
on the SQLite run. The address checks need no server and run on both.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from gisttracker.cli import main
from gisttracker.services.audit import verify
from gisttracker.services.patients import PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.session import open_session
from gisttracker.store.db import StoreError, open_database, resolve_path
from gisttracker.store.migrations import LATEST, migrate
from gisttracker.store.server import APPEND_ONLY, ServerDatabase, grant_statements
from gisttracker.store.urls import ServerLocation, ServerUrlError, display_url
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.helpers import SERVER, admin_sql, server_url

ROOT = Path(__file__).resolve().parents[2]
STUDY = "NCT03862768"  # randomized, stratified by site
PASSWORDS = {"gist_owner": "Owner-pw-4711", "gist_app": "App-pw-0815"}


def readme_server_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Several workstations")
    return text[start:text.index("\n## ", start + 1)]


def readme_block(language: str, after: str) -> str:
    """The first ```language block of the README's server section after the text
    ``after``."""
    section = readme_server_section()
    found = re.search(r"```" + language + r"\n(.*?)```", section[section.index(after):],
                      re.DOTALL)
    assert found is not None, f"no {language} block after {after!r} in the README"
    return found.group(1)


@dataclass
class TlsCluster:
    folder: Path
    port: int

    @property
    def root_cert(self) -> Path:
        return self.folder / "root.crt"

    def url(self, user: str, database: str = "gist", **params: str) -> str:
        query = {"sslmode": "verify-full", "sslrootcert": str(self.root_cert), **params}
        return (f"postgresql://{user}@localhost:{self.port}/{database}?"
                + "&".join(f"{k}={v}" for k, v in query.items()))

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        """The cluster's superuser over its local socket (no password, no TLS)."""
        return psycopg.connect(host=str(self.folder), port=self.port, user="postgres",
                               dbname=database, autocommit=True)


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[TlsCluster]:
    if SERVER is None:
        pytest.skip("needs PostgreSQL (the server run of scripts/test has it)")
    # Directly under /tmp: as root the cluster belongs to "postgres", who must reach it.
    folder = Path(tempfile.mkdtemp(prefix="gisttracker-pg-tls.", dir="/tmp"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = str(ROOT / "scripts" / "pg-cluster")
    subprocess.run([script, "start", str(folder), str(port), "--tls"], check=True)
    try:
        cluster = TlsCluster(folder, port)
        with cluster.admin() as conn:
            # Members of this role must give their password (scripts/pg-cluster's
            # pg_hba.conf); the README's roles become members below.
            conn.execute("CREATE ROLE gist_password_login NOLOGIN")
        yield cluster
    finally:
        subprocess.run([script, "stop", str(folder)], check=False)


def run_readme_sql(cluster: TlsCluster) -> None:
    """The README's SQL as written, a password put where it shows ``'…'``, run as the
    superuser as psql would (``\\c`` switches database)."""
    sql = readme_block("sql", "Creating the database with least privilege")
    database = "postgres"
    pending: list[str] = []

    def flush() -> None:
        with cluster.admin(database) as conn:
            for statement in pending:
                conn.execute(statement)  # type: ignore[arg-type]
        pending.clear()

    for raw in sql.splitlines():
        line = raw.split("--", 1)[0].strip()
        if line.startswith("\\c "):
            flush()
            database = line.split()[1]
        elif line:
            role = re.match(r"CREATE ROLE (\w+) .*PASSWORD '…'", line)
            if role:
                line = line.replace("'…'", f"'{PASSWORDS[role.group(1)]}'")
            assert "…" not in line, line
            pending.append(line.rstrip(";"))
    flush()


def readme_commands() -> list[list[str]]:
    """The README's ``server grant`` commands (the one that only prints comes second)."""
    block = readme_block("sh", "then, as the owner, create the schema")
    return [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]


def private_files() -> list[Path]:
    """Every file the program may have written on this workstation in the tests: its log
    and crash reports, state (witness files), data (a server's local folder) and cache."""
    files = []
    for variable in ("GISTTRACKER_LOG_DIR", "GISTTRACKER_STATE_DIR", "XDG_DATA_HOME",
                     "GISTTRACKER_CACHE_DIR"):
        files += [p for p in Path(os.environ[variable]).rglob("*") if p.is_file()]
    return files


@pytest.mark.engines
def test_the_readme_sets_up_least_privilege_over_tls_and_no_password_is_kept(
        tls_cluster: TlsCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cluster = tls_cluster
    run_readme_sql(cluster)
    # The README's pg_hba.conf lines, first in the file: TLS only, with a password.
    lines = readme_block("", "lets the two roles").strip().splitlines()
    assert [line.split()[0] for line in lines] == ["hostnossl", "hostssl"], lines
    with cluster.admin() as conn:
        hba = Path(str(conn.execute("SHOW hba_file").fetchone()[0]))
        hba.write_text("\n".join(lines) + "\n" + hba.read_text())
        conn.execute("SELECT pg_reload_conf()")
    # Each workstation's passwords in a password file of mode 0600, as the README says.
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("".join(f"localhost:{cluster.port}:gist:{user}:{password}\n"
                              for user, password in PASSWORDS.items()))
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))

    # The owner's commands, word for word but for the server's name and the certificate.
    grant, show = readme_commands()
    for command in (grant, show):
        assert command[:2] == ["gisttracker", "--db"]
        command[2] = command[2].replace("db.example.org", f"localhost:{cluster.port}") + (
            f"?sslmode=verify-full&sslrootcert={cluster.root_cert}")
    assert main(grant[1:]) == 0
    capsys.readouterr()
    assert main(show[1:]) == 0
    printed = capsys.readouterr().out
    assert 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "gist_app";' in printed
    assert "audit_entry" not in printed.split("GRANT UPDATE, DELETE", 1)[1]

    # The password is asked (the README's lines), and a clear connection refused.
    with pytest.raises(StoreError, match="password authentication failed"):
        open_database(resolve_path(cluster.url("gist_app:Wrong-pw-9")))
    with pytest.raises(StoreError, match="no encryption"):
        open_database(resolve_path(cluster.url("gist_app", sslmode="disable")))
    # A workstation, as the application's role, over TLS with the certificate checked.
    workstation = resolve_path(cluster.url("gist_app"))
    s = open_session(workstation, user="nurse")
    try:
        ssl = s.db.execute_sql(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert ssl[0] is True and str(ssl[1]).startswith("TLSv1."), ssl
        set_site(s)
        service = PatientService(s)
        service.enroll(eligible_patient(service, STUDY).uid, today=TODAY,
                       rng=random.Random(3))
        SettingsService(s.tracker).set("site_name", "Hangzhou")
    finally:
        s.close()

    # What the application's role cannot do, whoever types the SQL.
    with psycopg.connect(cluster.url("gist_app"), autocommit=True) as app:
        triggers = app.execute(
            "SELECT t.tgname, c.relname, p.proname FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal AND c.relname = ANY(%s)", (list(APPEND_ONLY),)).fetchall()
        assert {relname for _name, relname, _function in triggers} == set(APPEND_ONLY)
        refused = [f'UPDATE "{table}" SET id = id' for table in APPEND_ONLY]
        refused += [f'DELETE FROM "{table}"' for table in APPEND_ONLY]
        refused += [f'TRUNCATE "{table}"' for table in APPEND_ONLY]
        refused += [f'ALTER TABLE "{table}" OWNER TO gist_app' for table in APPEND_ONLY]
        for name, table, function in triggers:
            refused += [f'DROP TRIGGER "{name}" ON "{table}"',
                        f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"',
                        f'ALTER TRIGGER "{name}" ON "{table}" RENAME TO gone',
                        f'CREATE OR REPLACE FUNCTION "{function}"() RETURNS trigger '
                        "LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'"]
        refused += ["SET session_replication_role = replica",  # would skip every trigger
                    "CREATE TABLE mine (x int)", "DROP VIEW audit_log"]
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)  # type: ignore[arg-type]
        assert app.execute("SELECT count(*) FROM randomization").fetchone() == (1,)

    # Nothing was changed by any of it, and no password was kept on the workstation.
    s = open_session(resolve_path(cluster.url("gist_app")), user="nurse")
    try:
        report = verify(s.db)
        assert report.ok, report.findings[:3]
        trail = " ".join(str(row) for row in s.db.execute_sql(
            "SELECT * FROM audit_log").fetchall())
        assert "Hangzhou" in trail
    finally:
        s.close()
    for password in PASSWORDS.values():
        assert password not in trail
        for path in private_files():
            assert password.encode() not in path.read_bytes(), path


@pytest.mark.engines
def test_a_certificate_a_password_or_a_clear_connection_refused_is_said_plainly(
        tls_cluster: TlsCluster, tmp_path: Path) -> None:
    cluster = tls_cluster
    with cluster.admin() as conn:
        conn.execute("CREATE ROLE nurse_pw LOGIN PASSWORD 'Right-pw-1' IN ROLE "
                     "gist_password_login")
        conn.execute("CREATE DATABASE tls_only OWNER nurse_pw")
    # The right password in the URL: opened, encrypted, the password nowhere in sight.
    url = cluster.url("nurse_pw:Right-pw-1", "tls_only")
    db = open_database(resolve_path(url))
    try:
        assert db.execute_sql(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        assert "Right-pw-1" not in str(db) and "Right-pw-1" not in display_url(url)
    finally:
        db.close()
    # A certificate signed by someone else: refused before any password is sent.
    stranger = tmp_path / "stranger.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(tmp_path / "stranger.key"),
                    "-out", str(stranger)], check=True, capture_output=True)
    cases = {
        url.replace(str(cluster.root_cert), str(stranger)): "certificate verify failed",
        url.replace("Right-pw-1", "Wrong-pw-2"): "password authentication failed",
        url.split("?")[0] + "?sslmode=disable": "no encryption",
    }
    for bad, reason in cases.items():
        with pytest.raises(StoreError, match=r"cannot connect to postgresql://nurse_pw@") as e:
            open_database(resolve_path(bad))
        assert reason in str(e.value)
        assert "pw-" not in str(e.value)  # neither the right password nor the wrong one
    with psycopg.connect(host=str(cluster.folder), port=cluster.port, user="postgres",
                         dbname="tls_only") as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone()[0] > 0  # the good open made the schema, once


@pytest.mark.parametrize(("url", "said"), [
    ("postgresql://nurse:Pw-123@db.example.org:99999/gist", "has no valid port"),
    ("postgresql://nurse:Pw-123@db.example.org:5432x/gist", "has no valid port"),
    ("postgresql://nurse:Pw-123@db.example.org:0/gist", "has no valid port"),
    ("postgresql://nurse:Pw-123@[::1:5432/gist", "is not a server address"),
    ("postgresql://nurse:Pw-123@db.example.org:5432", "names no database"),
])
def test_a_mistyped_server_address_is_said_without_its_password(url: str, said: str) -> None:
    with pytest.raises(ServerUrlError, match=said) as refused:
        resolve_path(url)
    assert "Pw-123" not in str(refused.value)
    assert "postgresql://nurse@" in str(refused.value)
    assert "Pw-123" not in display_url(url)


def test_the_command_line_says_a_mistyped_address_and_saves_no_crash_report(
        capsys: pytest.CaptureFixture[str]) -> None:
    logs = Path(os.environ["GISTTRACKER_LOG_DIR"])
    before = set(logs.glob("crash-*"))
    assert main(["--db", "postgresql://nurse:Pw-123@localhost:99999/gist", "patients"]) == 1
    err = capsys.readouterr().err
    assert "has no valid port" in err and "Pw-123" not in err
    assert set(logs.glob("crash-*")) == before


def test_an_unknown_connection_parameter_is_a_message_not_a_crash(server_db: str) -> None:
    url = server_url(server_db) + "?sslmod=require"  # a typo of sslmode
    with pytest.raises(StoreError, match=r'cannot connect to .*invalid URI query parameter: '
                                         r'"sslmod"'):
        open_database(resolve_path(url))


def _app_role(server_db: str) -> str:
    """A login role with the README's least privileges on ``server_db`` (dropped by the
    caller)."""
    role = f"{server_db}_app"
    admin_sql(f"CREATE ROLE {role} LOGIN", f"REVOKE ALL ON DATABASE {server_db} FROM PUBLIC",
              f"GRANT CONNECT ON DATABASE {server_db} TO {role}")
    return role


def test_the_application_role_on_an_empty_database_is_told_to_ask_its_owner(
        server_db: str) -> None:
    role = _app_role(server_db)
    try:
        with pytest.raises(StoreError, match=rf"is empty, and the role {role} may not create"):
            open_database(ServerLocation(server_url(server_db, role)))
        with psycopg.connect(server_url(server_db)) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                ).fetchone() == (0,)
    finally:
        admin_sql(f"DROP DATABASE IF EXISTS {server_db} WITH (FORCE)", f"DROP ROLE {role}")


def test_the_application_role_on_an_older_schema_is_told_to_ask_its_owner(
        server_db: str) -> None:
    role = _app_role(server_db)
    try:
        owner = ServerDatabase(server_url(server_db))
        owner.connect()
        migrate(owner, target=LATEST - 1)  # the owner has not opened it with this release
        for statement in grant_statements(owner, role):
            owner.execute_sql(statement)
        owner.close()
        with pytest.raises(StoreError, match=rf"at schema {LATEST - 1} and this version of "
                                             rf"the program needs {LATEST}; the role {role}"):
            open_database(ServerLocation(server_url(server_db, role)))
        with psycopg.connect(server_url(server_db)) as conn:
            assert conn.execute("SELECT max(version) FROM schema_migration").fetchone() == (
                LATEST - 1,)
        # Once the owner has opened it (and granted again), the workstation opens it.
        assert main(["--db", server_url(server_db), "server", "grant", role]) == 0
        open_database(ServerLocation(server_url(server_db, role))).close()
    finally:
        admin_sql(f"DROP DATABASE IF EXISTS {server_db} WITH (FORCE)", f"DROP ROLE {role}")


@pytest.mark.expect_log(r"database problem \(DatabaseUnavailableError\)")
def test_a_server_restart_or_outage_is_survived_or_said_and_nothing_half_saved(
        server_db: str) -> None:
    from gisttracker.store.db import DatabaseUnavailableError

    others = ("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
              f"WHERE datname = '{server_db}' AND pid <> pg_backend_pid()")  # waits for it
    s = open_session(ServerLocation(server_url(server_db)), user="nurse")
    try:
        settings = SettingsService(s.tracker)
        settings.set("site_name", "Hangzhou")
        # The server restarted (every connection dropped): the next save simply works.
        admin_sql(others)
        settings.set("site_name", "Zhejiang", reason="the hospital's name")
        assert settings.get("site_name") == "Zhejiang"
        # The server stays away: a plain message, not a crash report; nothing saved.
        admin_sql(f"ALTER DATABASE {server_db} ALLOW_CONNECTIONS false", others)
        with pytest.raises(DatabaseUnavailableError, match="could not be reached"):
            settings.set("site_name", "Shanghai", reason="moved")
        # Back: the same window goes on, and only what was saved is there.
        admin_sql(f"ALTER DATABASE {server_db} ALLOW_CONNECTIONS true")
        assert settings.get("site_name") == "Zhejiang"
        settings.set("site_name", "Ningbo", reason="moved")
        assert verify(s.db).ok
    finally:
        s.close()
    with psycopg.connect(server_url(server_db)) as conn:
        assert conn.execute("SELECT value FROM setting WHERE key = 'site_name'"
                            ).fetchone() == ("Ningbo",)

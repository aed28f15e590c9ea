"""Site packages: what a site sends its coordinating centre, signed so nothing can be
altered or lost on the way unnoticed.

A package is a ZIP archive of three members:

``manifest.json``
    who made it (site code and name, public key), which package it is (``seq``; ``base_seq``
    the package it continues, None for a full package), which part of the site's audit
    trail it carries (ids ``audit_from`` < id ≤ ``audit_to``), the schema version, how
    many rows of each table, whether personal identifiers are included, and the SHA-256
    and size of the payload.
``signature.ed25519``
    the site's Ed25519 signature of the manifest's bytes.
``payload.sqlite``
    an SQLite file with one table per record table (the rows changed in that part of the
    audit trail, or all rows; references carried as uids, see :mod:`.tables`), ``deleted``
    (records deleted since), ``audit`` (the audit rows themselves, as the site wrote them)
    and ``ids`` (the site's integer id of every record an audit row may refer to, with its
    uid: the centre turns the site's ids in the audit trail into its own through it).

The centre checks the signature against the key it registered for that site code, then the
payload's digest and size, before it reads any data: a package with one byte changed, cut
short, or signed by another key is refused whole. The payload is an SQLite file because a
centre reads it with SQL (``ATTACH``), which is as fast as copying rows gets.

Built from a read-only connection in one read transaction: a consistent snapshot, safe
while the window is open. The site's randomization seed, settings, accounts and keys are
never in a package.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from gisttracker import __version__
from gisttracker.atomic import atomic_path
from gisttracker.exchange.tables import (
    IDENTIFYING,
    NATURAL_KEYS,
    TableInfo,
    natural_key,
    record_tables,
)
from gisttracker.i18n import _
from gisttracker.services.base import ServiceError
from gisttracker.store.db import read_only_uri

FORMAT = "gisttracker-package"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "signature.ed25519"
PAYLOAD = "payload.sqlite"
CHUNK = 1 << 20

Progress = Callable[[str, float | None], None]


class PackageError(ServiceError):
    """A package that is refused (altered, cut short, unknown site…); nothing was imported."""


@dataclass(frozen=True)
class Manifest:
    site_code: str
    site_name: str
    seq: int
    base_seq: int | None
    audit_from: int
    audit_to: int
    made_at: str
    schema: int
    app_version: str
    identifiers: bool
    public_key: str  # hex
    payload_sha256: str
    payload_size: int
    tables: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    audit_rows: int = 0
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False,
                          indent=1).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PackageError(_("the package's manifest is damaged ({error})").format(
                error=exc)) from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise PackageError(_("this is not a GIST Study Tracker site package"))
        if raw.get("format_version") != FORMAT_VERSION:
            raise PackageError(_("package format {version} is not known to this version; "
                                 "update GIST Study Tracker").format(
                                     version=raw.get("format_version")))
        expected: dict[str, type | tuple[type, ...]] = {
            "site_code": str, "site_name": str, "seq": int, "base_seq": (int, type(None)),
            "audit_from": int, "audit_to": int, "made_at": str, "schema": int,
            "app_version": str, "identifiers": bool, "public_key": str,
            "payload_sha256": str, "payload_size": int, "tables": dict, "deleted": int,
            "audit_rows": int, "format": str, "format_version": int}
        if set(raw) != set(expected) or not all(
                isinstance(raw[k], t) for k, t in expected.items()):
            raise PackageError(_("the package's manifest is not complete"))
        return cls(**raw)


def _site_uri(path: Path) -> str:
    return read_only_uri(path)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_columns(info: TableInfo, alias: str, schema: str, *,
                    natural: bool = False) -> str:
    """The columns of ``info`` with references turned into the referenced uid (or, with
    ``natural``, into the natural key of a shared reference record, see ``NATURAL_KEYS``)."""
    return ", ".join(select_list(info, alias, schema, natural=natural))


def select_list(info: TableInfo, alias: str, schema: str, *,
                natural: bool = False) -> list[str]:
    """:func:`_select_columns` as a list, one expression per column."""
    out = []
    for column in info.columns:
        parent = info.refs.get(column)
        if parent is None:
            out.append(f"{alias}.{_q(column)}")
        elif natural and parent in NATURAL_KEYS:
            out.append(f"(SELECT {natural_key(parent, 'q')} FROM {schema}.{_q(parent)} q "
                       f"WHERE q.id = {alias}.{_q(column)})")
        else:
            out.append(f"(SELECT uid FROM {schema}.{_q(parent)} WHERE id = {alias}.{_q(column)})")
    return out


@dataclass(frozen=True)
class PackageRequest:
    site_code: str
    site_name: str
    seq: int
    base_seq: int | None
    audit_from: int
    identifiers: bool
    made_at: datetime


def write_payload(db_path: Path, payload: Path, request: PackageRequest,
                  ) -> tuple[int, dict[str, int], int, int, int]:
    """Fill the payload file from the site database (one read snapshot).

    Returns the schema version, rows per table, deleted records, audit rows and the last
    audit id included.
    """
    conn = sqlite3.connect(payload, isolation_level=None, uri=False)
    try:
        # A scratch file: its integrity is proven by the digest, not by a journal.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("ATTACH DATABASE ? AS site", (_site_uri(db_path),))
        conn.execute("BEGIN")
        schema = int(conn.execute("PRAGMA site.user_version").fetchone()[0])
        audit_to = int(conn.execute("SELECT coalesce(max(id), 0) FROM site.audit_log")
                       .fetchone()[0])
        tables = record_tables(conn, schema="site", identifiers=request.identifiers)
        full = request.base_seq is None
        counts: dict[str, int] = {}
        deleted = 0
        conn.execute("CREATE TABLE main.deleted (table_name TEXT NOT NULL, uid TEXT NOT NULL, "
                     "PRIMARY KEY (table_name, uid)) WITHOUT ROWID")
        for info in tables:
            columns = ", ".join(
                f"{_q(c)} {'TEXT' if c in info.refs else info.types.get(c, '')}".rstrip()
                for c in info.columns)
            conn.execute(f"CREATE TABLE main.{_q(info.name)} ({columns})")
            select = _select_columns(info, "s", "site")
            sql = (f"INSERT INTO main.{_q(info.name)} SELECT {select} "
                   f"FROM site.{_q(info.name)} s")
            params: tuple[Any, ...] = ()
            # Shared reference records (protocol and form versions: a handful) always travel
            # whole: the centre matches the site's references to them by their natural key.
            if not full and info.name not in NATURAL_KEYS:
                sql += (" WHERE s.uid IN (SELECT record_uid FROM site.audit_log WHERE id > ? "
                        "AND id <= ? AND table_name = ?)")
                params = (request.audit_from, audit_to, info.name)
            conn.execute(sql, params)
            counts[info.name] = int(conn.execute(
                f"SELECT count(*) FROM main.{_q(info.name)}").fetchone()[0])
            if not full:
                deleted += conn.execute(
                    "INSERT INTO main.deleted SELECT DISTINCT table_name, record_uid "
                    "FROM site.audit_log a WHERE id > ? AND id <= ? AND table_name = ? "
                    f"AND action = 'delete' AND NOT EXISTS (SELECT 1 FROM site.{_q(info.name)} "
                    "s WHERE s.uid = a.record_uid)",
                    (request.audit_from, audit_to, info.name)).rowcount
            conn.execute(f"CREATE UNIQUE INDEX main.{_q(info.name + '_uid')} "
                         f"ON {_q(info.name)} (uid)")
        names = ", ".join(f"'{t.name}'" for t in tables)
        conn.execute(
            "CREATE TABLE main.audit (id INTEGER PRIMARY KEY, at TEXT, user TEXT, action TEXT, "
            "table_name TEXT, record_uid TEXT, field TEXT, old_value TEXT, new_value TEXT, "
            "reason TEXT, patient_uid TEXT)")
        # Only the audit rows of the records the package may carry: never the seed's, the
        # settings' or (unless asked) the personal identifiers'. Copied as they are: a
        # reference in them is the site's integer id, which ``ids`` turns into a uid.
        audit_rows = conn.execute(
            "INSERT INTO main.audit SELECT a.id, a.at, a.user, a.action, a.table_name, "
            "a.record_uid, a.field, a.old_value, a.new_value, a.reason, a.patient_uid "
            f"FROM site.audit_log a WHERE a.id > ? AND a.id <= ? AND a.table_name IN ({names})",
            (request.audit_from, audit_to)).rowcount
        conn.execute("CREATE TABLE main.ids (table_name TEXT NOT NULL, id INTEGER NOT NULL, "
                     "uid TEXT NOT NULL, PRIMARY KEY (table_name, id)) WITHOUT ROWID")
        for parent in sorted({p for t in tables for p in t.refs.values()}):
            conn.execute(f"INSERT INTO main.ids SELECT '{parent}', id, uid FROM "
                         f"site.{_q(parent)}")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE site")
        if not request.identifiers:
            assert not IDENTIFYING & set(counts)
        return schema, counts, deleted, audit_rows, audit_to
    finally:
        conn.close()


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def build_package(db_path: Path, target: Path, request: PackageRequest,
                  key: Ed25519PrivateKey, public_key_hex: str, *,
                  progress: Progress | None = None) -> Manifest:
    """Write the package ``target`` (whole or not at all); returns its manifest."""
    report = progress or (lambda _phase, _fraction: None)
    target = Path(target)
    with atomic_path(target) as tmp, tempfile.TemporaryDirectory(
            prefix=".package-", dir=target.parent) as work:
        payload = Path(work) / PAYLOAD
        report("read", 0.0)
        schema, counts, deleted, audit_rows, audit_to = write_payload(db_path, payload, request)
        report("sign", 0.6)
        manifest = Manifest(
            site_code=request.site_code, site_name=request.site_name, seq=request.seq,
            base_seq=request.base_seq, audit_from=request.audit_from, audit_to=audit_to,
            made_at=request.made_at.isoformat(timespec="seconds"), schema=schema,
            app_version=__version__, identifiers=request.identifiers,
            public_key=public_key_hex, payload_sha256=_digest(payload),
            payload_size=payload.stat().st_size, tables=counts, deleted=deleted,
            audit_rows=audit_rows)
        data = manifest.to_bytes()
        signature = key.sign(data)
        report("pack", 0.7)
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr(MANIFEST, data, compress_type=zipfile.ZIP_STORED)
            archive.writestr(SIGNATURE, signature, compress_type=zipfile.ZIP_STORED)
            # Level 1: most of the size gain for a fraction of the time of the default.
            archive.write(payload, PAYLOAD, compress_type=zipfile.ZIP_DEFLATED,
                          compresslevel=1)
    report("done", 1.0)
    return manifest


@dataclass(frozen=True)
class OpenedPackage:
    """A package whose signature and payload have been checked."""

    path: Path
    manifest: Manifest
    digest: str  # SHA-256 of the whole package file
    payload: Path  # the checked payload, extracted into a temporary folder


def read_manifest(path: Path) -> tuple[Manifest, bytes, bytes]:
    """The manifest of package ``path`` (not yet trusted), its bytes and the signature."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            if names != sorted((MANIFEST, SIGNATURE, PAYLOAD)):
                raise PackageError(_("this is not a GIST Study Tracker site package, or it is "
                                     "damaged (it holds {names}). Nothing was imported."
                                     ).format(names=", ".join(names[:5])))
            data = archive.read(MANIFEST)
            signature = archive.read(SIGNATURE)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise PackageError(_("the package {name} is damaged or incomplete ({error}); "
                             "nothing was imported. Ask the site to send it again.").format(
                                 name=Path(path).name, error=exc)) from exc
    return Manifest.from_bytes(data), data, signature


def open_package(path: Path, trusted_key: Callable[[str], bytes | None],
                 workdir: Path) -> OpenedPackage:
    """Check package ``path`` completely and extract its payload into ``workdir``.

    ``trusted_key(site_code)`` gives the raw public key registered for a site (None when
    the site is not registered). Refused (:class:`PackageError`) unless the signature is
    that key's and the payload is exactly the one the manifest names.
    """
    path = Path(path)
    if not path.is_file():
        raise PackageError(_("{path} does not exist").format(path=path))
    manifest, data, signature = read_manifest(path)
    raw = trusted_key(manifest.site_code)
    if raw is None:
        raise PackageError(_(
            "site {site} is not registered at this centre; register its public key first "
            "(gisttracker centre trust {site} KEYFILE). Nothing was imported."
        ).format(site=manifest.site_code))
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise PackageError(_(
            "the package's signature is not site {site}'s: it was altered, or made with "
            "another key. Nothing was imported."
        ).format(site=manifest.site_code)) from exc
    payload = Path(workdir) / PAYLOAD
    h = hashlib.sha256()
    size = 0
    try:
        with zipfile.ZipFile(path) as archive, archive.open(PAYLOAD) as src, \
                open(payload, "wb") as out:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        payload.unlink(missing_ok=True)
        raise PackageError(_("the package {name} is damaged ({error}); nothing was "
                             "imported. Ask the site to send it again.").format(
                                 name=path.name, error=exc)) from exc
    if h.hexdigest() != manifest.payload_sha256 or size != manifest.payload_size:
        payload.unlink(missing_ok=True)
        raise PackageError(_("the package's data do not match its signed manifest: it was "
                             "altered or cut short. Nothing was imported."))
    return OpenedPackage(path, manifest, _digest(path), payload)


def copy_private(source: Path, target: Path) -> None:
    """Copy a file to ``target`` whole, private (used for keys and packages)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o600)

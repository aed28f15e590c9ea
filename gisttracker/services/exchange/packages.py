"""A site makes its package for the coordinating centre.

Packages are numbered per site (1, 2, 3…). Each continues the one before it: it carries
every record changed since then (found in the audit trail, which sees every write) and the
audit rows themselves, and names the package it continues (``base_seq``); a *full* package
carries everything and continues nothing, so a centre can always be brought up to date with
one. The site's key pair is made on first use (:mod:`gisttracker.exchange.keys`); every
package of a site is signed with the same key (:mod:`.site_keys`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gisttracker.exchange.keys import public_key_path, public_of
from gisttracker.exchange.package import Manifest, PackageRequest, build_package
from gisttracker.i18n import _
from gisttracker.services.base import ServiceError
from gisttracker.services.exchange.site_keys import sent_summary, signing_key
from gisttracker.services.policy import Permission
from gisttracker.services.settings import SPECS, SettingsService
from gisttracker.session import Session
from gisttracker.store.models_exchange import ExchangePackage

Progress = Callable[[str, float | None], None]


@dataclass(frozen=True)
class PackageMade:
    path: Path
    manifest: Manifest
    public_key_file: Path


def site_identity(session: Session) -> tuple[str, str]:
    """The site code and name; refused while the code is still the default."""
    settings = SettingsService(session.tracker)
    code = settings.get("site_code")
    if code == SPECS["site_code"].default:
        raise ServiceError(_(
            "set this site's own code first (File > Settings, or gisttracker settings set "
            "site_code ZJU): packages from several sites are told apart by it, and it is "
            "part of every study identifier"))
    return code, settings.get("site_name")


def make_package(session: Session, target: Path, *, full: bool = False,
                 identifiers: bool = False, now: datetime | None = None,
                 progress: Progress | None = None) -> PackageMade:
    """Write the site's next package to ``target`` and record it as sent.

    ``full`` carries every record instead of the changes since the last package;
    ``identifiers`` includes names, record numbers and dates of birth (left out by default).
    """
    session.tracker.require(Permission.VIEW_IDENTIFIERS if identifiers else Permission.VIEW_DATA)
    # Sending the site's data to the centre is part of entering it (not a monitor's).
    session.tracker.require(Permission.ENTER_DATA)
    code, name = site_identity(session)
    if session.tracker.read_only:
        raise ServiceError(session.tracker.read_only)
    target = Path(target)
    if target.exists():
        raise ServiceError(_("{path} already exists; choose a new file name").format(
            path=target))
    last = (ExchangePackage.select()
            .where((ExchangePackage.direction == "sent") & (ExchangePackage.site_code == code))
            .order_by(ExchangePackage.seq.desc()).first())
    seq = (last.seq if last else 0) + 1
    base_seq = None if full or last is None else int(last.seq)
    audit_from = 0 if base_seq is None or last is None else int(last.audit_to)
    key = signing_key(session, code)  # refused here when not the key of the site's packages
    public = public_of(code, key)
    made_at = (now or session.tracker.now()).astimezone(UTC)
    request = PackageRequest(code, name, seq, base_seq, audit_from, identifiers, made_at)
    # The payload is read from a site file; a server site's is a verified snapshot of the
    # server (one REPEATABLE READ transaction), so both give the centre the same package.
    from gisttracker.store.transfer import as_file

    with as_file(session.path) as source:
        manifest = build_package(source, target, request, key, public.hex,
                                 progress=progress)
    try:
        with session.tracker.transaction(_("site package made")) as w:
            w.insert(ExchangePackage, direction="sent", site_code=code, seq=seq,
                     base_seq=base_seq, audit_from=audit_from, audit_to=manifest.audit_to,
                     digest=manifest.payload_sha256,
                     made_at=manifest.made_at, summary=sent_summary(public))
    except BaseException:
        # Not recorded as sent (another package took the number meanwhile): no file either.
        with contextlib.suppress(OSError):
            target.unlink()
        raise
    return PackageMade(target, manifest, public_key_path(session.path, code))

"""Which key signs a site's packages, when several workstations make them.

The private key lives on a workstation (:mod:`gisttracker.exchange.keys`), never in the
database. A file site has one workstation; a server site has several, and each would
otherwise make a key of its own on first use, which the coordinating centre refuses (one key
per site). So the site database remembers the public key its packages are signed with (in
the row that records each package as sent, and in the setting ``package_signer:<SITE>``
once an administrator replaced a lost key), and a workstation signs only with that key:

- no key here → refused, with how to bring it here: an administrator exports it, encrypted
  with a passphrase, where it is (:func:`export_private_key`) and installs it here
  (:func:`install_private_key`);
- another key here → refused likewise (the centre would refuse the package anyway; the
  site hears it now, not days later from the centre);
- the key is lost for good → an administrator makes a new one with a reason
  (:func:`new_site_key`, audited); the centre then replaces the site's key
  (``centre trust … --replace``).
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gisttracker.atomic import PRIVATE_FILE, atomic_open
from gisttracker.exchange.keys import (
    PublicKey,
    SiteKeyError,
    private_key_file,
    private_key_path,
    public_of,
    read_private_key_file,
    retire_key,
    site_key,
    store_key,
)
from gisttracker.i18n import N_, _
from gisttracker.services.base import ServiceError
from gisttracker.services.policy import Permission
from gisttracker.session import Session
from gisttracker.store.models import Setting
from gisttracker.store.models_exchange import ExchangePackage

_HOW = N_("An administrator brings the site's key here from the workstation that has it: "
         "there File > Export > This site's private signing key (gisttracker export key "
         "--private), here File > Import > This site's private signing key (gisttracker "
         "import key FILE). If the key is lost for good, make a new one with a reason "
         "(gisttracker export key --new --reason …); the coordinating centre must then "
         "register it again.")


def _setting(site_code: str) -> str:
    return f"package_signer:{site_code}"


def expected_signer(site_code: str) -> PublicKey | None:
    """The public key this site's packages are signed with: the one an administrator made
    to replace a lost key, else the last package's; None before the first package."""
    row = Setting.get_or_none(Setting.key == _setting(site_code))
    if row is not None:
        return PublicKey(site_code, bytes.fromhex(row.value))
    sent = (ExchangePackage.select(ExchangePackage.summary)
            .where((ExchangePackage.direction == "sent")
                   & (ExchangePackage.site_code == site_code)
                   & ExchangePackage.summary.is_null(False))
            .order_by(ExchangePackage.seq.desc()).first())
    if sent is None:
        return None  # none sent, or only by a version that did not record its key
    return PublicKey(site_code, bytes.fromhex(json.loads(sent.summary)["signed_by"]))


def sent_summary(public: PublicKey) -> str:
    """What the row recording a package as sent keeps of it: the key that signed it."""
    return json.dumps({"signed_by": public.hex})


def signing_key(session: Session, site_code: str) -> Ed25519PrivateKey:
    """The key to sign the site's next package with; :class:`SiteKeyError` when this
    workstation does not hold the key the site's packages are signed with."""
    expected = expected_signer(site_code)
    if expected is None:
        return site_key(session.path, site_code)  # the first package: made on first use
    if not private_key_path(session.path, site_code).exists():
        raise SiteKeyError(_(
            "This site's packages are signed with the key of fingerprint {fp}, which is not "
            "on this workstation.").format(fp=expected.fingerprint) + " " + _(_HOW))
    key = site_key(session.path, site_code, create=False)
    here = public_of(site_code, key)
    if here.raw != expected.raw:
        raise SiteKeyError(_(
            "The signing key on this workstation (fingerprint {here}) is not the one this "
            "site's packages are signed with (fingerprint {fp}).").format(
                here=here.fingerprint, fp=expected.fingerprint) + " " + _(_HOW))
    return key


def _site_code(session: Session) -> str:
    from gisttracker.services.exchange.packages import site_identity

    session.tracker.require(Permission.MANAGE_SETTINGS)
    return site_identity(session)[0]


def export_private_key(session: Session, target: Path, passphrase: str) -> PublicKey:
    """Write the site's signing key to ``target``, encrypted with ``passphrase``, for
    another workstation of the same site (an administrator's act)."""
    code = _site_code(session)
    target = Path(target)
    if target.exists():
        raise ServiceError(_("{path} already exists; choose a new file name").format(
            path=target))
    key = signing_key(session, code)
    data = private_key_file(code, key, passphrase)
    with atomic_open(target, "wb") as handle:
        handle.write(data)
    target.chmod(PRIVATE_FILE)
    return public_of(code, key)


def install_private_key(session: Session, source: Path,
                        passphrase: str) -> tuple[PublicKey, bool]:
    """Install the site's signing key from a file :func:`export_private_key` wrote; returns
    the key and whether anything changed (False: this workstation had it already)."""
    code = _site_code(session)
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise SiteKeyError(_("cannot read {path}: {error}").format(path=source,
                                                                   error=exc.strerror or exc)
                           ) from exc
    found, key = read_private_key_file(data, passphrase)
    if found != code:
        raise SiteKeyError(_("this key belongs to site {found}, not to this site ({site})")
                           .format(found=found, site=code))
    public = public_of(code, key)
    expected = expected_signer(code)
    if expected is not None and expected.raw != public.raw:
        raise SiteKeyError(_(
            "this is not the key this site's packages are signed with (the file's "
            "fingerprint is {found}, the site's {fp})").format(found=public.fingerprint,
                                                              fp=expected.fingerprint))
    path = private_key_path(session.path, code)
    if path.exists():
        here = public_of(code, site_key(session.path, code, create=False))
        if here.raw == public.raw:
            return public, False
        if expected is None:
            raise SiteKeyError(_(
                "this workstation already has another key for site {site} (fingerprint "
                "{here}) and the site has sent no package yet, so it is not clear which "
                "one the coordinating centre knows; ask the centre which fingerprint it "
                "registered").format(site=code, here=here.fingerprint))
        # This workstation's own key was never the site's: set it aside, keep it.
        retire_key(session.path, code, _stamp(session))
    store_key(session.path, code, key)
    return public, True


def new_site_key(session: Session, reason: str) -> PublicKey:
    """Replace a lost signing key with a new one (with a reason, audited). The old key of
    this workstation, if any, is set aside, not deleted. The centre must register the new
    public key (``centre trust SITE FILE --replace --reason …``) before it accepts the
    site's next package."""
    code = _site_code(session)
    if not (reason and reason.strip()):
        raise ServiceError(_("a new signing key needs a reason (e.g. the workstation that "
                             "held the key was lost)"))
    if session.tracker.read_only:
        raise ServiceError(session.tracker.read_only)
    key = Ed25519PrivateKey.generate()
    public = public_of(code, key)
    with session.tracker.transaction(reason.strip()) as w:
        row = Setting.get_or_none(Setting.key == _setting(code))
        if row is None:
            w.insert(Setting, key=_setting(code), value=public.hex)
        else:
            w.update(row, {"value": public.hex})
    # Recorded: now this workstation's key files change (the old key is kept aside).
    retire_key(session.path, code, _stamp(session))
    store_key(session.path, code, key)
    return public


def _stamp(session: Session) -> str:
    return session.tracker.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S")

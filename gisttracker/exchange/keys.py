"""Each site's signing key: an Ed25519 key pair, made on first use.

The private key lives beside the site database, in ``keys/<SITE>.ed25519.pem`` (folder 0700,
file 0600), never inside the database: backups and packages of the database do not carry
it. The public key is what the coordinating centre registers
(``gisttracker centre trust SITE KEYFILE``); its file is one line of text::

    gisttracker-site-key 1 ZJU 1658…69bf

(format, version, site code, the 32-byte raw public key in hex). A centre compares keys by
their fingerprint (the first 16 hex digits of the key's SHA-256), which a site can read out
over the telephone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gisttracker.atomic import PRIVATE_FILE, atomic_open, make_private_dir
from gisttracker.i18n import _
from gisttracker.services.base import ServiceError

KEY_FORMAT = "gisttracker-site-key"
KEY_VERSION = "1"


class SiteKeyError(ServiceError):
    """A key file that cannot be used (message for the user)."""


@dataclass(frozen=True)
class PublicKey:
    site_code: str
    raw: bytes  # 32 bytes

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.raw).hexdigest()[:16]
        return " ".join(digest[i:i + 4] for i in range(0, 16, 4))

    def text(self) -> str:
        return f"{KEY_FORMAT} {KEY_VERSION} {self.site_code} {self.hex}\n"


def key_folder(db_path: Path) -> Path:
    return Path(db_path).parent / "keys"


def private_key_path(db_path: Path, site_code: str) -> Path:
    return key_folder(db_path) / f"{site_code}.ed25519.pem"


def public_key_path(db_path: Path, site_code: str) -> Path:
    return key_folder(db_path) / f"{site_code}.ed25519.pub"


def public_of(site_code: str, key: Ed25519PrivateKey) -> PublicKey:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return PublicKey(site_code, raw)


def site_key(db_path: Path, site_code: str, *, create: bool = True) -> Ed25519PrivateKey:
    """The site's private key, made (with its public key file) on first use."""
    path = private_key_path(db_path, site_code)
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise SiteKeyError(_("the site key {path} cannot be read ({error}); restore it from "
                              "a backup of the keys folder").format(path=path, error=exc)) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SiteKeyError(_("{path} is not an Ed25519 key").format(path=path))
        return key
    if not create:
        raise SiteKeyError(_("this site has no signing key yet ({path})").format(path=path))
    key = Ed25519PrivateKey.generate()
    store_key(db_path, site_code, key)
    return key


def store_key(db_path: Path, site_code: str, key: Ed25519PrivateKey) -> None:
    """Keep ``key`` as this workstation's key of site ``site_code`` (private file 0600 and
    its public key file), replacing what was there."""
    path = private_key_path(db_path, site_code)
    make_private_dir(key_folder(db_path))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with atomic_open(path, "wb") as handle:
        handle.write(pem)
    with contextlib.suppress(OSError):
        os.chmod(path, PRIVATE_FILE)
    with atomic_open(public_key_path(db_path, site_code), "w", encoding="utf-8") as handle:
        handle.write(public_of(site_code, key).text())


def retire_key(db_path: Path, site_code: str, stamp: str) -> Path | None:
    """Move this workstation's key of ``site_code`` aside (``….retired-STAMP``), kept in
    case it is wanted again; None when there was none."""
    path = private_key_path(db_path, site_code)
    if not path.exists():
        return None
    retired = path.with_name(f"{path.name}.retired-{stamp}")
    os.replace(path, retired)
    with contextlib.suppress(OSError):
        public_key_path(db_path, site_code).unlink()
    return retired


# ----- a site's private key, carried to another workstation of the same site ---------------

PRIVATE_FORMAT = "gisttracker-site-private-key"
MIN_PASSPHRASE = 10


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise SiteKeyError(_("the passphrase must have at least {n} characters: it is all "
                             "that protects the site's key in the file").format(
                                 n=MIN_PASSPHRASE))


def private_key_file(site_code: str, key: Ed25519PrivateKey, passphrase: str) -> bytes:
    """The text of a file carrying the site's private key, encrypted with ``passphrase``
    (PKCS #8, the best encryption the cryptography package offers), under one line naming
    the site and its public key::

        gisttracker-site-private-key 1 ZJU 1658…69bf
        -----BEGIN ENCRYPTED PRIVATE KEY-----
        …
    """
    check_passphrase(passphrase)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase.encode()))
    head = f"{PRIVATE_FORMAT} {KEY_VERSION} {site_code} {public_of(site_code, key).hex}\n"
    return head.encode("ascii") + pem


def read_private_key_file(data: bytes, passphrase: str) -> tuple[str, Ed25519PrivateKey]:
    """The site code and private key of a :func:`private_key_file`; :class:`SiteKeyError`
    with the reason when it is not one, is damaged or the passphrase is wrong."""
    head, _sep, pem = data.partition(b"\n")
    parts = head.decode("ascii", errors="replace").split()
    if len(parts) != 4 or parts[0] != PRIVATE_FORMAT:
        raise SiteKeyError(_("this is not a GIST Study Tracker site private key file"))
    if parts[1] != KEY_VERSION:
        raise SiteKeyError(_("site key format {version} is not known to this version").format(
            version=parts[1]))
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode())
    except (ValueError, TypeError) as exc:
        raise SiteKeyError(_("the key cannot be opened: the passphrase is wrong, or the file "
                             "is damaged")) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SiteKeyError(_("this file does not hold an Ed25519 key"))
    if public_of(parts[2], key).hex != parts[3].lower():
        raise SiteKeyError(_("the file is damaged: its key does not match the public key "
                             "written above it"))
    return parts[2], key


def read_public_key(text: str) -> PublicKey:
    """A public key file's content; :class:`SiteKeyError` if it is not one."""
    parts = text.split()
    if len(parts) != 4 or parts[0] != KEY_FORMAT:
        raise SiteKeyError(_("this is not a GIST Study Tracker site key file"))
    if parts[1] != KEY_VERSION:
        raise SiteKeyError(_("site key format {version} is not known to this version").format(
            version=parts[1]))
    try:
        raw = bytes.fromhex(parts[3])
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SiteKeyError(_("the site key file is damaged (the key is not 32 bytes of hex)"))
    return PublicKey(parts[2], raw)

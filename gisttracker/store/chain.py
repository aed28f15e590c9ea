"""The audit trail's hash chain (schema 9): how entries are chained and what is stored.

The chain runs over every entry in order: ``chain[i] = SHA-256(chain[i-1] ‖ entry[i])``,
starting from 32 zero bytes. ``entry[i]`` is the compact JSON (UTF-8) of::

    [id, at, user, action, table_name, record_uid, field, columns, old_value, new_value,
     reason, patient_uid, version]

where ``action`` is ``insert``/``update``/``delete``, ``columns`` the column names of an
insert's or delete's value array (null for an update), ``old_value``/``new_value`` the
stored JSON texts and ``reason`` the effective reason (the entry's own, else its
transaction's).

What is stored: each entry keeps the first :data:`TAG_BYTES` bytes of its chain value (its
*tag*, which names the first entry that no longer matches), and each transaction keeps the
full 32-byte chain value after its last entry. Changing, removing or reordering any entry
changes every chain value after it, so the tags from there on and every later
transaction's full hash stop matching; no one can alter an entry and keep the full hash of
its transaction without recomputing (and rewriting) the whole chain after it — which the
witnesses of :mod:`gisttracker.services.audit` and any recorded head would expose.

This is part of the file format: the writer, the verifier and migration 8 (which keeps its
own frozen copy) agree on it. Changing it needs a migration that re-chains the trail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

ZERO_HASH = bytes(32)
TAG_BYTES = 8
ACTIONS = {"i": "insert", "u": "update", "d": "delete"}
CODES = {name: code for code, name in ACTIONS.items()}


def _encoder() -> Any:
    """Compact JSON (UTF-8 text, ``,`` and ``:`` without spaces) of a list of plain values.

    The full check of a large site encodes 600,000 entries, so this skips what json.dumps
    redoes per call (building an encoder): CPython's C encoder, made once, gives the same
    text as ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` (a test checks
    it); where it is missing, that encoder itself.
    """
    plain = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain

    def refuse(value: Any) -> Any:
        raise TypeError(f"not a plain JSON value: {value!r}")

    fast = make(None, refuse, json.encoder.encode_basestring, None, ":", ",", False, False,
                True)
    return lambda value: "".join(fast(value, 0))


_ENCODE = _encoder()


def step(previous: bytes, entry: Sequence[Any]) -> bytes:
    """The chain value after ``entry`` (the 13 values listed in the module docstring)."""
    return hashlib.sha256(previous + _ENCODE(list(entry)).encode("utf-8")).digest()


def tag(chain_value: bytes) -> bytes:
    return chain_value[:TAG_BYTES]


def uid_key(uid: str) -> bytes:
    """How ``audit_record`` stores a record's uid: the 16 bytes of a 32-hex-digit uid (every
    uid the program makes), else a zero byte followed by the text (UTF-8)."""
    if len(uid) == 32:
        try:
            raw = bytes.fromhex(uid)
        except ValueError:
            raw = b""
        if raw and raw.hex() == uid:
            return raw
    return b"\x00" + uid.encode("utf-8")


def key_uid(key: bytes) -> str:
    """The uid stored as ``key`` (see :func:`uid_key`)."""
    key = bytes(key)
    return key.hex() if len(key) == 16 else key[1:].decode("utf-8")


def uid_sql(column: str) -> str:
    """SQL giving the uid text of an ``audit_record.record_key`` column."""
    return (f"CASE WHEN length({column}) = 16 THEN lower(hex({column})) "
            f"ELSE CAST(substr({column}, 2) AS TEXT) END")

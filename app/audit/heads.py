"""Signed heads of the audit chain, as AWS CloudTrail's digest files and Certificate Transparency's
signed tree heads: the hash chain alone catches an edit only when the edit is not rehashed, and anyone
who can write the database can rehash. Two signatures close that, both Ed25519 with a key kept in a
file outside the database (AUDIT_HEAD_KEY_FILE):

- a **seal** on every event, over its sequence number and hash, written as the event is appended:
  an event appended, edited or rewritten without the key has none that verifies, so the first bad
  sequence number is found even among events no head covers yet;
- a **signed head** every N events or M minutes: the chain's sequence number and hash, the time, the
  digest of the previous signed head and the key's id. Heads go to the anchor table and to an
  append-only file kept elsewhere (AUDIT_ANCHOR_FILE); a head proves every event up to it through the
  chain, and heads in the file catch a tail deleted or the anchor table emptied.

Anyone holding the public key (`jingce audit public-key`) can check both without the service
(`python -m app.audit.verify`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.audit.chain import GENESIS, canonical_json

# what a head signs, in this order; `signature` is over the canonical JSON of these
HEAD_FIELDS = ("seq", "hash", "previous", "created_at", "key_id")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of SHA-256 over the raw public key: which key signed a head."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _seal_message(seq: int, digest: str) -> bytes:
    return f"jingce-audit-event\n{seq}\n{digest}".encode()


def _head_message(head: dict[str, Any]) -> bytes:
    return ("jingce-audit-head\n" + canonical_json({k: head.get(k) for k in HEAD_FIELDS})).encode()


def head_digest(head: dict[str, Any] | None) -> str:
    """What the next head names as its previous one (GENESIS before the first)."""
    if head is None:
        return GENESIS
    return hashlib.sha256(canonical_json({**{k: head.get(k) for k in HEAD_FIELDS},
                                          "signature": head.get("signature")}).encode()).hexdigest()


class HeadVerifier:
    """Checks seals and signed heads with the public key alone."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self.public = public
        self.key_id = key_id(public)

    @classmethod
    def from_pem(cls, pem: bytes) -> "HeadVerifier":
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        return cls(key)

    def public_pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def _ok(self, signature: str | None, message: bytes) -> bool:
        if not signature:
            return False
        try:
            self.public.verify(base64.b64decode(signature, validate=True), message)
            return True
        except (InvalidSignature, ValueError):
            return False

    def seal_ok(self, seq: int, digest: str, seal: str | None) -> bool:
        return self._ok(seal, _seal_message(seq, digest))

    def head_ok(self, head: dict[str, Any]) -> bool:
        return head.get("key_id") == self.key_id and self._ok(head.get("signature"), _head_message(head))


class HeadSigner(HeadVerifier):
    def __init__(self, private: Ed25519PrivateKey) -> None:
        super().__init__(private.public_key())
        self._private = private

    def seal(self, seq: int, digest: str) -> str:
        return _b64(self._private.sign(_seal_message(seq, digest)))

    def head(self, seq: int, digest: str, previous: dict[str, Any] | None, when: dt.datetime) -> dict[str, Any]:
        head = {"seq": seq, "hash": digest, "previous": head_digest(previous),
                "created_at": when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "key_id": self.key_id}
        return {**head, "signature": _b64(self._private.sign(_head_message(head)))}


def load_signer(path: Path, create: bool = True) -> HeadSigner:
    """The private key from a PEM file (PKCS#8, unencrypted: it lives in a secret file); made once, mode
    0600, when `create` and the file does not exist (the embedded default)."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"no audit head signing key at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return HeadSigner(key)


def append_heads(path: Path, heads: Iterable[dict[str, Any]]) -> None:
    """Appends heads to the file kept elsewhere, one JSON line each, flushed to disk."""
    lines = "".join(canonical_json(h) + "\n" for h in heads)
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(lines)
        out.flush()
        os.fsync(out.fileno())


def read_heads(path: Path | None) -> list[dict[str, Any]]:
    """The heads of an anchor file (a line that is not a head is skipped: a torn last write)."""
    if path is None or not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            head = json.loads(line)
        except ValueError:
            continue
        if isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str):
            out.append(head)
    return out

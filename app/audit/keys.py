"""API keys, in the audit database: `jc_<id>_<secret>`, where the id is public (it names the key in
logs and the audit trail) and only an argon2id hash of the whole key is kept. Each key has one role
and, for a widget key, the browser origins it may be used from. Creating and revoking a key are
audit events.

A key's argon2 check costs milliseconds; a key once checked is remembered in the process (by a
SHA-256 of the key) so a request pays one indexed read — which is also what makes revocation
immediate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update

from app.audit.schema import api_keys
from app.audit.store import AuditEvent, AuditStore

ROLES = ("citizen", "agent", "auditor", "admin")
_KEY = re.compile(r"^jc_([0-9a-f]{12})_([A-Za-z0-9_-]{20,64})$")
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)  # OWASP's argon2id minimum


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    origins: tuple[str, ...] = ()
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    @property
    def actor(self) -> str:
        return f"{self.role} key:{self.id}"


@dataclass
class NewKey:
    key: ApiKey
    secret: str  # shown once, never stored


@dataclass
class KeyStore:
    audit: AuditStore
    _checked: dict[str, str] = field(default_factory=dict)  # key id → sha256 of the key that passed argon2

    def create(self, name: str, role: str, origins: list[str] | None = None, by: str = "cli") -> NewKey:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not name.strip() or len(name) > 100:
            raise ValueError("a key needs a name of 1 to 100 characters (who or what uses it)")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        whole = f"jc_{key_id}_{secret}"
        row = {"id": key_id, "name": name.strip(), "role": role, "origins": list(origins or []),
               "secret_hash": _HASHER.hash(whole), "created_at": dt.datetime.now(dt.timezone.utc)}
        with self.audit.writing() as conn:
            conn.execute(insert(api_keys).values(**row))
            self.audit.append(conn, AuditEvent("admin", "cli", "key_created", actor=by, details={
                "key_id": key_id, "name": row["name"], "role": role, "origins": row["origins"]}))
        return NewKey(ApiKey(key_id, row["name"], role, tuple(row["origins"]), row["created_at"]), whole)

    def revoke(self, key_id: str, by: str = "cli") -> bool:
        with self.audit.writing() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                                .values(revoked_at=dt.datetime.now(dt.timezone.utc))).rowcount
            if done:
                self.audit.append(conn, AuditEvent("admin", "cli", "key_revoked", actor=by, details={"key_id": key_id}))
        self._checked.pop(key_id, None)
        return bool(done)

    def list(self) -> list[ApiKey]:
        with self.audit.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings().all()
        return [_key(r) for r in rows]

    def authenticate(self, presented: str, check_new: bool = True) -> ApiKey | None:
        """The key this secret belongs to, if it is a live one; None otherwise (unknown, wrong, revoked).
        `check_new` False: only a key this process has already checked (no argon2 work) — what an address
        that failed too many checks is still allowed, so an agent behind the same address keeps working."""
        presented = presented.strip()
        match = _KEY.match(presented)
        if not match:
            return None
        key_id = match.group(1)
        with self.audit.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        fingerprint = hashlib.sha256(presented.encode()).hexdigest()
        if self._checked.get(key_id) != fingerprint:
            if not check_new:
                return None
            try:
                _HASHER.verify(row["secret_hash"], presented)
            except (VerificationError, InvalidHashError):
                return None
            self._checked[key_id] = fingerprint
            # a key checked for the first time by this process: the sign-in is an audit event
            self.audit.record(AuditEvent("access", "api", "sign_in", actor=_key(row).actor,
                                         details={"key_id": key_id, "name": row["name"]}))
        return _key(row)


def key_id_named(presented: str) -> str | None:
    """The id a presented key names (`jc_<id>_…`), whatever its secret: recorded with a failed check."""
    match = re.match(r"^jc_([0-9a-f]{12})_", presented.strip())
    return match.group(1) if match else None


def _key(row: Any) -> ApiKey:
    return ApiKey(row["id"], row["name"], row["role"], tuple(row["origins"] or ()), row["created_at"], row["revoked_at"])

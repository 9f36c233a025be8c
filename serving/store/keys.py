"""API keys: issued with a role and an area scope, stored as a hash, verified with a cache."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, insert, select, update
from sqlalchemy.exc import IntegrityError

from riskgrid import vocabulary as C
from riskgrid.errors import InputError
from serving.store.connection import Database, now
from serving.store.schema import ROLES, api_keys

# A key revoked by another process (the CLI) stops working within this many seconds;
# a revoke through the same Store takes effect at once.
_CACHE_SECONDS = 5.0
_clock = time.monotonic
_TOKEN = re.compile(r"rg_([0-9a-f]{8})_([A-Za-z0-9_-]{16,})")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as the service sees it (never the hash, never the token)."""

    key_id: str
    role: str
    scope: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class Keys(Database):
    """The API keys of the store."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._cache: dict[str, tuple[str, KeyRecord, float]] = {}
        self._cache_lock = threading.Lock()
        self._revocations = 0

    def create_key(self, role: str, scope: str, label: str | None = None) -> tuple[KeyRecord, str]:
        """Create an API key; returns its record and the token, which is shown only once."""
        if role not in ROLES:
            raise InputError(f"Role {role!r} is unknown; use one of {', '.join(ROLES)}.")
        if not scope or not scope.strip():
            raise InputError(f"Scope is empty; give an area id, or {C.CITY!r} for all areas.")
        for _ in range(5):  # 32-bit ids: a collision is rare, so retry a few times
            key_id = secrets.token_hex(4)
            token = f"rg_{key_id}_{secrets.token_urlsafe(32)}"
            record = KeyRecord(key_id, role, scope.strip(), label, now(), None)
            try:
                with self._writing() as conn:
                    conn.execute(insert(api_keys).values(key_hash=_hash(token), **_asdict(record)))
            except IntegrityError:
                continue
            return record, token
        raise RuntimeError("could not find a free key id after 5 attempts")

    def verify_key(self, token: str) -> KeyRecord | None:
        """The key's record if the token is valid and not revoked, else None."""
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            return None
        key_id = match.group(1)
        cached = self._cached(key_id)
        if cached is None:
            cached = self._load_key(key_id)
            if cached is None:
                return None
        key_hash, record = cached
        if not hmac.compare_digest(key_hash, _hash(token)):
            return None
        return record

    def is_cached(self, token: str) -> bool:
        """Whether verify_key can answer for this token without asking the database."""
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        return match is not None and self._cached(match.group(1)) is not None

    def list_keys(self) -> list[KeyRecord]:
        """Every key, revoked ones included, oldest first."""
        query = select(*_record_columns()).order_by(api_keys.c.created_at, api_keys.c.key_id)
        with self._reading() as conn:
            return [KeyRecord(**row._mapping) for row in conn.execute(query)]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key at once; False if no such key or it was already revoked."""
        statement = (update(api_keys)
                     .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                     .values(revoked_at=now()))
        with self._writing() as conn:
            revoked = conn.execute(statement).rowcount == 1
        with self._cache_lock:
            self._revocations += 1  # a lookup that raced with this revoke must not cache
            self._cache.pop(key_id, None)
        return revoked

    def _cached(self, key_id: str) -> tuple[str, KeyRecord] | None:
        with self._cache_lock:
            entry = self._cache.get(key_id)
        if entry is None or entry[2] < _clock():
            return None
        return entry[0], entry[1]

    def _load_key(self, key_id: str) -> tuple[str, KeyRecord] | None:
        query = (select(api_keys.c.key_hash, *_record_columns())
                 .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)))
        revocations = self._revocations
        with self._reading() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            return None
        fields = dict(row._mapping)
        key_hash = fields.pop("key_hash")
        record = KeyRecord(**fields)
        with self._cache_lock:
            if self._revocations == revocations:
                self._cache[key_id] = (key_hash, record, _clock() + _CACHE_SECONDS)
        return key_hash, record


def _record_columns() -> list[Column[Any]]:
    return [api_keys.c[name] for name in KeyRecord.__slots__]


def _asdict(record: KeyRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in KeyRecord.__slots__}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

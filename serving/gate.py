"""The door of the service: API keys checked and every request written to the audit log.

An ASGI middleware, so requests that never reach an endpoint (bad JSON, wrong types, no key)
are audited too. The endpoint adds what only it knows (areas, model version) to the request's
:class:`RequestRecord`; the middleware writes the row with the final status.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from functools import partial

import anyio

from features.settings import Settings
from serving.store import KeyRecord, Store, open_store

PROTECTED = frozenset({"score", "explain", "score_features", "forecast", "warnings",
                       "model_info", "areas", "warning_action"})
STATE_KEY = "riskgrid"

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def store(settings: Settings) -> Store:
    """The process's one store for ``settings.store_url()``."""
    url = settings.store_url()
    with _lock:
        if url not in _stores:
            _stores[url] = open_store(url)
        return _stores[url]


@dataclass
class RequestRecord:
    """What the audit row of one request says."""

    key: KeyRecord
    areas: list[str] = field(default_factory=list)
    model_version: str | None = None

    @classmethod
    def of(cls, request) -> RequestRecord:
        return request.scope["state"][STATE_KEY]


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class AuditGate:
    """Rejects requests without a valid key (401) and audits every API request."""

    def __init__(self, app) -> None:
        self.app = app
        self.store = store(Settings())

    async def __call__(self, scope, receive, send) -> None:
        endpoint = scope.get("path", "").strip("/") if scope["type"] == "http" else ""
        if endpoint not in PROTECTED:
            await self.app(scope, receive, send)
            return
        token = bearer(scope.get("headers", []))
        key = self.store.verify_key(token) if token else None
        if key is None:
            reason = ("missing API key" if token is None else "unknown or revoked API key")
            await _reply(send, 401, f"{reason}: send 'Authorization: Bearer KEY' with a key "
                         "from riskgrid keys create")
            await self._audit(None, endpoint, [], None, 401, reason)
            return
        record = RequestRecord(key=key)
        scope.setdefault("state", {})[STATE_KEY] = record
        status = [500]

        async def watch(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            await self._audit(key.key_id, endpoint, record.areas, record.model_version,
                              status[0])

    async def _audit(self, *row) -> None:
        """Write off the event loop: a slow database must not stall other requests."""
        await anyio.to_thread.run_sync(partial(self.store.audit, *row))


async def _reply(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": body})

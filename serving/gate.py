"""The door of the service: API keys checked and every request written to the audit log.

An ASGI middleware, so requests that never reach an endpoint (bad JSON, wrong types, no key)
are audited too. The endpoint adds what only it knows (areas, model version) to the request's
:class:`RequestRecord`; the middleware writes the row with the final status, before the answer
leaves: no answer goes out unaudited. When the store's database cannot be reached, the request
is refused with 503 and a Retry-After header instead (it cannot be audited: docs/stores.md).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field

import anyio

from riskgrid.settings import Settings
from serving.store import KeyRecord, Store, StoreUnavailable, open_store

PROTECTED = frozenset({"score", "explain", "score_features", "forecast", "warnings",
                       "model_info", "areas", "warning_action", "periods",
                       "ledger_scores"})
STATE_KEY = "riskgrid"
UNAVAILABLE = "the service's database is unreachable; retry shortly"
RETRY_AFTER_SECONDS = 5

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def store(settings: Settings) -> Store:
    """The process's one store for ``settings.store_url()``."""
    return store_at(settings.store_url())


def store_at(url: str) -> Store:
    """The process's one store at ``url``, opened on first use. While its database cannot be
    reached this raises StoreUnavailable and keeps nothing, so a later call tries again: a
    service started during an outage answers 503 until the database is up, then works."""
    found = _stores.get(url)
    if found is None:
        with _lock:
            if url not in _stores:
                _stores[url] = open_store(url)
            found = _stores[url]
    return found


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

    def __init__(self, app, store_url: str) -> None:
        self.app = app
        self.url = store_url

    @property
    def store(self) -> Store:
        return store_at(self.url)

    async def __call__(self, scope, receive, send) -> None:
        endpoint = scope.get("path", "").strip("/") if scope["type"] == "http" else ""
        if endpoint not in PROTECTED:
            await self.app(scope, receive, send)
            return
        token = bearer(scope.get("headers", []))
        try:
            key = await self._verify(token) if token else None
            if key is None:
                reason = ("missing API key" if token is None else "unknown or revoked API key")
                await self._audit(None, endpoint, [], None, 401, reason)
                await _reply(send, 401, f"{reason}: send 'Authorization: Bearer KEY' with a key "
                             "from riskgrid keys create", [(b"www-authenticate", b"Bearer")])
                return
        except StoreUnavailable:
            await _unavailable(send)
            return
        await self._serve(key, endpoint, scope, receive, send)

    async def _serve(self, key: KeyRecord, endpoint: str, scope, receive, send) -> None:
        """Run the endpoint; audit its answer as it starts, and only then let it out."""
        record = RequestRecord(key=key)
        scope.setdefault("state", {})[STATE_KEY] = record
        state = {"audited": False, "refused": False}

        async def audit(status: int, detail: str | None = None) -> None:
            await self._audit(key.key_id, endpoint, record.areas, record.model_version, status,
                              detail)
            state["audited"] = True

        async def watch(message) -> None:
            if message["type"] == "http.response.start":
                try:
                    await audit(message["status"])
                except StoreUnavailable:
                    state["refused"] = True
                    await _unavailable(send)
                    return
            if not state["refused"]:
                await send(message)

        try:
            await self.app(scope, receive, watch)
        except StoreUnavailable:  # an endpoint that did not answer 503 itself
            if state["audited"] or state["refused"]:
                raise
            with suppress(StoreUnavailable):
                await audit(503, UNAVAILABLE)
            await _unavailable(send)
        except Exception:
            if not (state["audited"] or state["refused"]):
                with suppress(StoreUnavailable):
                    await audit(500)  # what the server answers for an uncaught error
            raise

    async def _verify(self, token: str) -> KeyRecord | None:
        """The token's key: from the cache at once, else from the database off the loop."""
        opened = _stores.get(self.url)
        if opened is not None and opened.is_cached(token):
            return opened.verify_key(token)
        return await anyio.to_thread.run_sync(lambda: self.store.verify_key(token))

    async def _audit(self, *row) -> None:
        """Write off the event loop: a slow database must not stall other requests."""
        await anyio.to_thread.run_sync(lambda: self.store.audit(*row))


async def _unavailable(send) -> None:
    """Refuse a request because the store's database cannot be reached (503)."""
    await _reply(send, 503, UNAVAILABLE, [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())])


async def _reply(send, status: int, message: str,
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})

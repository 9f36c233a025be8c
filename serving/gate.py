"""The door of the service: API keys checked and every request written to the audit log.

An ASGI middleware, so requests that never reach an endpoint (bad JSON, wrong types, no key)
are audited too. The endpoint adds what only it knows (areas, model version) to the request's
:class:`RequestRecord`; the middleware writes the row with the final status, before the answer
leaves: no answer goes out unaudited. When the store's database cannot be reached, the request
is refused with 503 and a Retry-After header instead (it cannot be audited: docs/stores.md).

Every path needs a key and is audited except the few in :data:`PUBLIC` (health probes, the
OpenAPI document and its viewer, the dashboard's static files), which carry no data. Before an
API endpoint sees a request, the gate bounds its body (413 over ``max_body_bytes``, counted as
it arrives, so a missing or false Content-Length does not help) and its media type (415 unless
JSON): nothing a client sends can make the server parse more than that.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

import anyio

from riskgrid.settings import Settings
from serving import direct
from serving.store import KeyRecord, Store, StoreUnavailable, open_store

PROTECTED = frozenset({"score", "explain", "score_features", "forecast", "warnings",
                       "model_info", "areas", "warning_action", "periods",
                       "ledger_scores", "override", "data_quality", "safety_index"})
# Paths that need no key and are not audited: they hold no data of any area.
PUBLIC = frozenset({"", "livez", "healthz", "readyz", "docs", "docs.json"})
PUBLIC_PREFIXES = ("static_content/", "dashboard")
# What the API endpoints read. BentoML would parse a form or multipart body too (and fail on a
# bad one with a 500), and curl -d sends the form type by default: those get a 415 that says so.
JSON_TYPES = frozenset({"", "application/json"})
MAX_BODY_BYTES = 16 * 2**20
ENDPOINT_CHARS = 100
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


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def media_refusal(scope) -> tuple[int, str] | None:
    """(415, reason) unless the request says its body is JSON (or says nothing)."""
    media = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if media in JSON_TYPES:
        return None
    return 415, (f"Content-Type {media[:60]!r} is not accepted; send the body as JSON with "
                 "'Content-Type: application/json'")


def _replay(chunks: list[bytes], last, receive):
    """A ``receive`` that gives the body read so far, then hands over to the real one."""
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
    if last is not None:
        pending = [last]

    async def replay():
        return pending.pop(0) if pending else await receive()

    return replay


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class AuditGate:
    """Rejects requests without a valid key (401) and audits every API request."""

    def __init__(self, app, store_url: str, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.url = store_url
        self.max_body = max_body_bytes
        self.log = GroupCommit(lambda: self.store)

    @property
    def store(self) -> Store:
        return store_at(self.url)

    async def __call__(self, scope, receive, send) -> None:
        endpoint = scope.get("path", "").strip("/") if scope["type"] == "http" else ""
        if scope["type"] != "http" or is_public(endpoint):
            await self.app(scope, receive, send)
            return
        endpoint = endpoint[:ENDPOINT_CHARS]
        token = bearer(scope.get("headers", []))
        try:
            key = await self._verify(token) if token else None
            if key is None:
                reason = ("missing API key" if token is None else "unknown or revoked API key")
                await self._audit(None, endpoint, [], None, 401, reason)
                await _reply(send, 401, f"{reason}: send 'Authorization: Bearer KEY' with a key "
                             "from riskgrid keys create", [(b"www-authenticate", b"Bearer")])
                return
            if endpoint in PROTECTED:
                refusal = media_refusal(scope) or await self._read_body(scope, receive)
                if isinstance(refusal, tuple):
                    status, reason = refusal
                    await self._audit(key.key_id, endpoint, [], None, status, reason)
                    await _reply(send, status, reason)
                    return
                receive = refusal
        except StoreUnavailable:
            await _unavailable(send)
            return
        await self._serve(key, endpoint, scope, receive, send)

    async def _read_body(self, scope, receive):
        """The body, read whole up to the cap: a replaying ``receive``, or (413, reason)."""
        refusal = (413, f"the request body is over {self.max_body:,} bytes; split the request "
                   "(RISKGRID_MAX_BODY_BYTES sets the cap)")
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return refusal
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return _replay([], message, receive)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return refusal
            more = message.get("more_body", False)
        return _replay(chunks, None, receive)

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

        app = direct.app if direct.handles(endpoint) else self.app
        try:
            await app(scope, receive, watch)
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
        """Written off the event loop, with the rows of requests answered at the same time."""
        await self.log.write(row)


class GroupCommit:
    """Audit rows written together: while one transaction commits, the rows of the requests
    that arrive queue up and go in the next one, each request waiting for the commit that holds
    its row. Under load a commit carries many rows, so the database's one writer is not the
    bottleneck; alone, a request pays for one commit as before. Rows keep their order."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self.store = store
        self.pending: list[tuple[tuple, asyncio.Future]] = []
        self.writer: asyncio.Task | None = None

    async def write(self, row: tuple) -> None:
        """Return once ``row`` is committed; raise what stopped it (StoreUnavailable...)."""
        done = asyncio.get_running_loop().create_future()
        self.pending.append((row, done))
        if self.writer is None:
            self.writer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                await self._commit(batch)
        finally:
            self.writer = None

    async def _commit(self, batch: list[tuple[tuple, asyncio.Future]]) -> None:
        try:
            await anyio.to_thread.run_sync(lambda: self.store().audit_many([r for r, _ in batch]))
        except Exception as exc:  # noqa: BLE001 - each waiting request gets the error
            if len(batch) > 1 and not isinstance(exc, StoreUnavailable):
                for one in batch:  # a row the database refuses fails its own request only
                    await self._commit([one])
                return
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)


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

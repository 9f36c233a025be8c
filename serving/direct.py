"""The endpoints a dashboard calls all day (/score, /explain, /warnings), answered by the gate
itself instead of BentoML's request machinery.

The answer is the one the BentoML endpoint gives: the same input model (BentoML's own, built
from the endpoint's signature) validates the body, with the same 400 answer when it does not
hold; the same method of the service instance does the work, in a worker thread, with the same
role and scope checks; the same response model comes back as JSON. What is skipped is what
does not serve the caller: the per-request context plumbing and the second trip through the
request body. The gate around it still checks the key, bounds the body and writes the audit row
before the answer leaves (serving/gate.py); bench/serving_latency.py measures the difference.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("riskgrid.service")

HOT = frozenset({"score", "explain", "warnings"})
UNEXPECTED = "An unexpected error has occurred, please check the server log."


@dataclass
class Reply:
    """What an endpoint sets on the answer: its status and extra headers."""

    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """The part of ``bentoml.Context`` an endpoint of this service reads and sets."""

    request: Request
    response: Reply = field(default_factory=Reply)


@dataclass(frozen=True)
class _Endpoint:
    inputs: Any          # BentoML's input model of the endpoint, built from its signature
    ctx_param: str       # the name of its bentoml.Context parameter
    method: Callable     # the instance's method that does the work


_served: dict[str, _Endpoint] = {}


def register(definition: Any, instance: Any) -> None:
    """Answer the hot endpoints with the service ``instance`` from now on (called once BentoML
    has built it); ``definition`` is the bentoml.Service, holding each API's input model."""
    for name in HOT:
        api = definition.apis[name]
        _served[name] = _Endpoint(api.input_spec, api.ctx_param, getattr(instance, name).local)


def handles(endpoint: str) -> bool:
    return endpoint in _served


async def app(scope, receive, send) -> None:
    """An ASGI app answering one hot endpoint, its body already bounded by the gate."""
    endpoint = scope["path"].strip("/")
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    status, body, headers = await answer(endpoint, scope, b"".join(chunks))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            *((k.lower().encode(), str(v).encode()) for k, v in headers.items())]})
    await send({"type": "http.response.body", "body": body})


async def answer(endpoint: str, scope, body: bytes) -> tuple[int, bytes, dict[str, str]]:
    """(status, JSON body, headers) of one call of ``endpoint`` with ``body``."""
    api = _served[endpoint]
    try:
        given = api.inputs.model_validate_json(body or b"{}")
    except ValidationError as exc:  # BentoML's own answer to a body that does not validate
        return 400, _json({"error": f"{exc.error_count()} validation error for {exc.title}",
                           "detail": exc.errors(include_context=False, include_input=False)}), {}
    kwargs = {name: getattr(given, name) for name in type(given).model_fields}
    ctx = Context(Request(scope))
    kwargs[api.ctx_param] = ctx
    try:
        output = await anyio.to_thread.run_sync(functools.partial(api.method, **kwargs))
    except Exception:
        log.exception("%s failed", endpoint)
        return 500, _json({"error": UNEXPECTED}), {}
    if isinstance(output, Response):
        return ctx.response.status_code, bytes(output.body), ctx.response.headers
    return ctx.response.status_code, output.model_dump_json().encode(), ctx.response.headers


def settle_memory() -> None:
    """Keep the loaded model and data out of the garbage collector's sweeps: without this, a
    large answer (thousands of scores) sets off full collections over every object the service
    holds, which cost 5x the answer itself (bench/serving_latency.py). Run again after a model
    swap, so the old model's cycles are collected once before the new one is set aside."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()

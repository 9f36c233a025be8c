"""The physical limit of serving one precomputed answer: a bare ASGI app on uvicorn.

Each request reads its body, writes one audit row to the same store with the same group commit
as the service's gate, and answers a JSON body fixed in advance (the service's own answer to
the same request). No key check, no validation, no scoring: what is left is the HTTP server,
the event loop and the database write, the floor under any service that audits every request.
bench/serving_latency.py runs it beside `riskgrid serve` and prints the service's figures as
ratios to it.

    .venv/bin/python bench/asgi_anchor.py PORT STORE_URL ANSWER.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from serving.gate import GroupCommit, store_at


def anchor(store_url: str, answer: bytes):
    log = GroupCommit(lambda: store_at(store_url))
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(answer)).encode())]

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await log.write((None, scope["path"].strip("/"), [], None, 200, None))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def main() -> None:
    port, store_url, answer = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]).read_bytes()
    store_at(store_url)  # opened before the first request, as the service's is
    uvicorn.run(anchor(store_url, answer), host="127.0.0.1", port=port, log_config=None,
                access_log=False, server_header=False, lifespan="off")


if __name__ == "__main__":
    main()

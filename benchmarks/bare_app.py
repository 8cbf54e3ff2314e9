"""The baseline for benchmark 1: a bare FastAPI endpoint that parses the same JSON body and
returns an empty cards list: the cost of just receiving a hook call."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


@app.post("/cds-services/{service_id}")
async def hook(service_id: str, request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(b'{"cards":[]}', media_type="application/json")

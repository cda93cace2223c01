"""The ASGI application (Starlette): health, and everything else to the generic handler."""

from __future__ import annotations

import logging
import time

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kiln import __version__
from kiln.app import Kiln
from kiln.protocol.base import WireRequest
from kiln.server.handler import handle

access_log = logging.getLogger("kiln.access")


def create_app(kiln: Kiln) -> Starlette:
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def api(request: Request) -> Response:
        started = time.monotonic()
        body = await request.body()
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        wire = WireRequest(
            method=request.method,
            raw_path=raw_path.decode("latin-1").split("?", 1)[0],
            raw_query=request.scope.get("query_string", b"").decode("latin-1"),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        response, request_id, operation = await run_in_threadpool(handle, kiln, wire)
        access_log.info(
            "%s %s %s %s %d %.1fms",
            request.client.host if request.client else "-",
            request.method,
            request.url.path,
            operation,
            response.status,
            (time.monotonic() - started) * 1000,
            extra={"request_id": request_id},
        )
        return Response(response.body, status_code=response.status, headers=dict(response.headers))

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/{path:path}", api, methods=methods),
    ]
    return Starlette(routes=routes)

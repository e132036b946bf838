"""Every error as JSON ``{"error", "field"}``: the service's own, FastAPI's validation errors,
Starlette's (no such route, method not allowed) and, for a bug of ours, a 500, each without a path
of this machine."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .requests import APIError
from .state import Server


def install_error_handlers(app: FastAPI, server: Server) -> None:
    scrub = server.scrub

    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError):
        return JSONResponse({"error": scrub(e.message), "field": e.field}, status_code=e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):  # no such route, method not allowed...
        message = {404: f"no endpoint {request.method} {request.url.path[:200]}; see /docs for the endpoints",
                   405: f"{request.url.path[:200]} does not take {request.method}; see /docs"}.get(
            e.status_code, str(e.detail))
        return JSONResponse({"error": scrub(message), "field": None}, status_code=e.status_code,
                            headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        first = e.errors()[0]
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "form")]
        field = ".".join(loc) or None
        message = first.get("msg", "invalid value")
        if first.get("type") == "extra_forbidden":
            message = "unknown field; see /docs for the fields this endpoint takes"
        return JSONResponse({"error": f"{field or 'request'}: {message}", "field": field}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception):  # a bug of ours: still JSON, and still one line
        return JSONResponse({"error": scrub(f"internal error ({type(e).__name__}: {e}); please report it"),
                             "field": None}, status_code=500)

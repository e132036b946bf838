"""What stands between the server and other people: the host name, the origin, the token, the
body's size, and the headers every answer carries.

- ``Host`` must name an address the server serves (loopback, ``--host``, ``--allow-host``): 421
  otherwise, which stops DNS rebinding.
- A request that changes something (not GET, HEAD, OPTIONS) must come from the server's own pages:
  a browser's ``Origin`` (or ``Sec-Fetch-Site: cross-site``) naming another site is 403.
- With a token, every request carries it (``Authorization: Bearer``, or the cookie the playground's
  first page load sets from ``/?token=``, then leaves the address bar with a 303 to ``/``).
- A body of unknown size is 411; one far over the upload limit is 413 before it is read.
- Every answer: ``nosniff``, no framing, no referrer, and a content security policy.
- A failed request leaves nothing behind; an answered one leaves no upload unless ``--keep-uploads``.
"""

from __future__ import annotations

import hmac
import re
import shutil

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from .state import REQUEST_ID_PATTERN, UPLOAD_STEM, Server

LOOPBACK = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # the methods that change nothing
TOKEN_COOKIE = "genlab_token"
# The content security policy: the playground loads only its own scripts, styles and files; the API
# docs page (Swagger UI) starts itself with an inline script. No page anywhere may frame these.
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def install_guard(app: FastAPI, server: Server, hosts: list[str] | None) -> None:
    """Check every request (in the order of the module docstring) before a route sees it."""
    allowed_hosts = {host_name(h) for h in (hosts or LOOPBACK)}
    limits, token = server.limits, server.token

    async def checked(request: Request, call_next):
        host = request.headers.get("host", "")
        if host_name(host) not in allowed_hosts:
            return _refuse(421, "host", f"this server does not answer to the host name '{host[:100]}'; open it at an "
                                        "address it serves (default localhost), or start it with --allow-host NAME")
        if request.method not in SAFE_METHODS and not same_origin(request, host):
            return _refuse(403, "origin", "a request that changes something must come from this server's own pages "
                                          "(the Origin header names another site)")
        first_page = request.url.path == "/" and request.method == "GET" and "token" in request.query_params
        if token is not None:
            given = _bearer(request) or request.cookies.get(TOKEN_COOKIE)
            if first_page and not given:  # the playground's address: the token becomes a cookie, then leaves the URL
                given = request.query_params.get("token")
            if not (given and hmac.compare_digest(given.encode(), token.encode())):
                return _refuse(401, "token", "this server needs a token: send 'Authorization: Bearer TOKEN' (or open "
                                             "the playground at /?token=TOKEN)")
            if first_page:
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return response
        length = request.headers.get("content-length")
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            return _refuse(411, None, "send the request's Content-Length (a body of unknown size is not read)")
        if length is not None and length.isdigit() and int(length) > 2 * limits.max_upload_bytes + 2**16:
            return _refuse(413, None, f"the request is {int(length):,} bytes, over the server's limit; send files of "
                                      f"at most {limits.max_upload_bytes:,} bytes")
        try:
            response = await call_next(request)
        except Exception:
            _discard(request)
            raise
        if response.status_code >= 400:
            _discard(request)  # a refused or failed request leaves no upload or partial output behind
        elif not server.keep_uploads:
            _discard_uploads(request)  # the answer is made: the uploaded picture goes
        return response

    @app.middleware("http")
    async def guard(request: Request, call_next):
        return secured(request, await checked(request, call_next))


def _refuse(status: int, field: str | None, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def host_name(host: str) -> str:
    """The name in a ``Host`` header or address, without the port: ``localhost:8000`` -> ``localhost``,
    ``[::1]:8000`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def same_origin(request: Request, host: str) -> bool:
    """True unless a browser says the request comes from a page of another site (``Origin``, else
    ``Sec-Fetch-Site``). Programs such as curl send neither, and are let through (the token, where
    there is one, is what guards them)."""
    from urllib.parse import urlsplit

    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc.lower() == host.strip().lower()
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def secured(request: Request, response):
    """``response`` with the headers every answer carries: no type sniffing, no framing, no referrer,
    and the content security policy."""
    docs = request.url.path in ("/docs", "/redoc") or request.url.path.startswith("/static-offline-docs")
    response.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response


def _request_folder(request: Request):
    folder = getattr(request.state, "folder", None)
    return folder if folder is not None and re.match(REQUEST_ID_PATTERN, folder.name) else None


def _discard(request: Request) -> None:
    folder = _request_folder(request)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _discard_uploads(request: Request) -> None:
    folder = _request_folder(request)
    if folder is not None and folder.is_dir():
        for path in folder.glob(f"{UPLOAD_STEM}*"):
            path.unlink(missing_ok=True)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None

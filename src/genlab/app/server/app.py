"""The FastAPI application of `genlab serve`: a short factory over the server's parts.

- :mod:`.state`: the :class:`~.state.Server` a process holds (models, limits, admission queue,
  registry), given to every route as a dependency;
- :mod:`.security`: the host, origin, token and size checks, and the headers of every answer;
- :mod:`.errors`: every error as JSON ``{"error", "field"}``;
- :mod:`.routes`: one ``APIRouter`` per group (models, generate, tasks, evaluate, search, files,
  samples, the playground).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import ConfigError

try:
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles
except ImportError as e:  # pragma: no cover - the message is what a user without the extra sees
    raise ConfigError("genlab serve needs the 'serve' extra: pip install 'genlab[serve]'") from e

from ..limits import Limits
from .errors import install_error_handlers
from .routes import ROUTERS
from .routes.playground import STATIC
from .security import LOOPBACK, TOKEN_COOKIE, install_guard  # noqa: F401 (TOKEN_COOKIE: also imported from here)
from .served import load_served
from .state import Server

TOKEN_ENV = "GENLAB_SERVE_TOKEN"


def create_app(runs: list[str | Path], *, limits: Limits | None = None, token: str | None = None,
               store: str | Path | None = None, registry: str | Path | None = None, weights: str = "best",
               device: str | None = None, features: str | None = None, hosts: list[str] | None = None,
               keep_uploads: bool = False) -> FastAPI:
    """The FastAPI application serving ``runs`` (each loaded now, once).

    Args:
        limits: what a request may ask for (:class:`Limits`).
        token: when set, every request must carry it (``Authorization: Bearer TOKEN``, or the cookie
            that opening the playground at ``/?token=TOKEN`` sets; the query parameter is taken on
            that first page load only). An empty token is refused.
        hosts: the host names the server answers to (its ``Host`` header, which stops DNS rebinding);
            default this machine's loopback names (``localhost``, ``127.0.0.1``, ``::1``). A request
            that changes something must also come from a page of the same origin (``Origin``).
        keep_uploads: keep uploaded pictures in the request's folder (never served); default: removed
            once the request is answered.
        store: where generated files go (default ``RUN/served``).
        registry: the registry of samples (:mod:`genlab.runs.catalog`) the generated files are indexed in
            (default ``$GENLAB_REGISTRY``, else ``runs/registry.sqlite3``); each run's own log
            ``samples.jsonl`` records them in any case.
        features: the feature network that scores batches asked to be scored (default ``features/<data>``).
    """
    limits = (limits or Limits()).check()
    if token is not None and not token.strip():
        raise ConfigError("the token is empty (an unset variable in --token \"$SECRET\"?); give a token, or leave "
                          "--token out to serve without one")
    server = Server(load_served(runs, weights, device), limits, token=token,
                    store=Path(store) if store is not None else None,
                    registry=Path(registry) if registry is not None else None, features=features,
                    keep_uploads=keep_uploads)
    app = _application(title="genlab", version=_version(), description=(
        "Generate with, evaluate and inspect trained genlab models. Errors are JSON "
        "{\"error\": message, \"field\": name}; the playground is at /."))
    app.state.server = server
    app.state.served, app.state.limits, app.state.admission = server.served, limits, server.admission
    install_error_handlers(app, server)
    install_guard(app, server, hosts or list(LOOPBACK))
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _application(**kwargs: Any) -> FastAPI:
    """A FastAPI application whose /docs (Swagger UI) and /redoc pages load their scripts from the
    installed ``fastapi-offline`` package (the ``serve`` extra), so they work without the internet;
    FastAPI's own pages, which load them from a CDN, where that package is missing."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        return FastAPI(**kwargs)
    return FastAPIOffline(**kwargs)


def _version() -> str:
    from ...version import __version__

    return __version__


def default_token() -> str | None:
    """The token from the environment (``GENLAB_SERVE_TOKEN``), or None."""
    return os.environ.get(TOKEN_ENV) or None

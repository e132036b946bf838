"""The state one `genlab serve` process holds, and what every route does with it.

:class:`Server` is made once by :func:`~genlab.app.server.create_app` and kept on ``app.state``; a
route receives it as a dependency (:data:`ServerDep`). It holds the served models, the limits,
the admission queue and the registry of samples, and it answers the questions every route asks:
which model an id names, where a request writes, how work runs under the limits, how an answer
names files, provenance and samples without a path of this machine.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request

from ...errors import ConfigError, GenlabError, TimeLimitExceeded
from .. import service
from ..limits import Limits
from .admission import Admission
from .requests import APIError
from .served import Served

REQUEST_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$"
UPLOAD_STEM = "input"  # uploaded pictures are kept (with --keep-uploads) as input.*, never served
MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".wav": "audio/wav", ".mid": "audio/midi",
               ".txt": "text/plain; charset=utf-8", ".json": "application/json"}


@dataclasses.dataclass(eq=False)
class Server:
    """What a serving process holds (see the module docstring); one per application."""

    served: dict[str, Served]
    limits: Limits
    token: str | None = None
    store: Path | None = None
    registry: Path | None = None
    features: str | None = None
    keep_uploads: bool = False
    admission: Admission = dataclasses.field(init=False)

    def __post_init__(self):
        self.admission = Admission(self.limits.concurrency, self.limits.queue)
        self._registry_lock = threading.Lock()
        self._opened: list = []  # the registry, opened (and made if need be) on first use, then shared
        self._homes: dict[Path, str] = {}
        self._hidden = self._private_paths()

    # ---- models and request folders ---------------------------------------------------------------
    def model_of(self, model_id: str) -> Served:
        if model_id not in self.served:
            raise APIError(404, f"no served model '{model_id}'; the served models are: {', '.join(self.served)}",
                           "model")
        return self.served[model_id]

    def _root(self, s: Served) -> Path:
        return self.store / s.id if self.store is not None else s.run / "served"

    def request_folder(self, s: Served, request: Request) -> tuple[str, Path]:
        """A new request's id and folder; the folder (uploads, partial outputs) goes if the request fails."""
        rid = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        request.state.folder = self._root(s) / rid
        return rid, self._root(s) / rid

    def folder_of(self, s: Served, rid: str) -> Path:
        import re

        if not re.match(REQUEST_ID_PATTERN, rid):
            raise APIError(404, f"'{rid}' is not a request id (they look like 20261206T101500-1a2b3c4d)", "request")
        return self._root(s) / rid

    # ---- running work ---------------------------------------------------------------------------------
    async def work(self, fn, *args, **kwargs):
        """Run ``fn`` in a worker thread once a slot is free, under the time limit."""
        from ...progress import deadline

        def call():
            with deadline(self.limits.timeout_s):
                return fn(*args, **kwargs)

        async with self.admission.slot():
            return await anyio.to_thread.run_sync(call)

    @staticmethod
    async def in_thread(fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in a worker thread: file and registry work (a registry another process
        holds waits up to a minute) never blocks the event loop, so other requests go on."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    # ---- answers ------------------------------------------------------------------------------------
    def outputs(self, s: Served, rid: str, folder: Path) -> list[dict[str, Any]]:
        from ...provenance import is_sidecar

        files = sorted(p for p in folder.rglob("*") if p.is_file() and not is_sidecar(p)
                       and not p.name.startswith(UPLOAD_STEM))
        return [{"name": p.relative_to(folder).as_posix(),
                 "url": f"/api/files/{s.id}/{rid}/{p.relative_to(folder).as_posix()}",
                 "media_type": MEDIA_TYPES.get(p.suffix.lower(), "application/octet-stream"),
                 "bytes": p.stat().st_size} for p in files]

    def answer(self, s: Served, rid: str, folder: Path, rec: dict[str, Any], started: float, tags: list[str],
               scores: tuple[dict[str, float], dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """The answer to a request that wrote files: their URLs, provenance and registry ids (each recorded
        in the run's log and the registry; a log or index that cannot be written is a warning)."""
        files = self.outputs(s, rid, folder)
        try:
            index = self.registry_handle()
        except GenlabError:  # an unusable registry: record_samples says so as a warning; the run's log is written
            index = self.registry
        ids, warnings = service.record_samples(s.run, [folder / f["name"] for f in files], rec, tags,
                                               *(scores or (None, None)), registry=index)
        out = {"model": s.id, "request": rid, "files": files, "samples": ids, "provenance": public_record(rec, s),
               "seconds": round(time.monotonic() - started, 3), **extra}
        if scores is not None:
            out["scores"], out["score_info"] = scores
        if warnings:
            out["warnings"] = [self.scrub(w) for w in warnings]  # a log's or the registry's path stays here
        return out

    # ---- the registry of samples ----------------------------------------------------------------------
    # The server shows and changes only the samples of the runs it serves, and answers with the served
    # model's id and the file's place in its run, never a path of this machine.
    def registry_handle(self):
        from ...runs import catalog

        with self._registry_lock:
            if not self._opened:
                self._opened.append(catalog.open_registry(self.registry))
            return self._opened[0]

    def check_tags(self, tags: list[str], field: str = "tags") -> list[str]:
        from ...runs.catalog import check_tags

        try:
            return check_tags(tags)
        except GenlabError as e:
            raise APIError(422, str(e), field) from None

    def served_homes(self) -> dict[Path, str]:
        """The folder whose log records each served model's samples -> the model's id."""
        if not self._homes:
            from ...runs.catalog import run_home

            for s in self.served.values():
                self._homes.setdefault(run_home(s.run), s.id)
        return self._homes

    def served_sample(self, sample_id: str, check_file: bool = True) -> dict[str, Any]:
        row = self.registry_handle().get_sample(sample_id, check_file=check_file)
        if Path(row["run"]) not in self.served_homes():
            raise ConfigError(f"no sample '{sample_id}' of a served model")
        return row

    def public_sample(self, row: dict[str, Any]) -> dict[str, Any]:
        home = Path(row["run"])
        out = {k: public_value(v) for k, v in row.items() if k not in ("run", "path")}  # sampling, score_info...
        out["model"] = self.served_homes()[home]
        path = Path(row["path"])
        out["file"] = path.relative_to(home).as_posix() if path.is_relative_to(home) else path.name
        out["url"] = f"/api/samples/{row['id']}/file"
        return out

    # ---- no path of this machine in an answer ---------------------------------------------------------
    def _private_paths(self) -> list[tuple[str, str]]:
        """(a folder of this machine, what an answer calls it), longest first."""
        from ...runs.catalog import default_path

        folders = [(s.run, s.id) for s in self.served.values()]  # absolute paths only: "." or "served" as text
        folders += [(folder, name) for folder, name in ((self.store, "the store"), (self.registry, "the registry"),
                                                        (default_path(), "the registry")) if folder is not None]
        pairs = {(str(Path(folder).resolve()), name) for folder, name in folders}  # would replace words
        return sorted(pairs, key=lambda p: -len(p[0]))

    def scrub(self, message: str) -> str:
        """An error message without a path of this machine (an upload's folder, the registry's file)."""
        for folder, name in self._hidden:
            message = message.replace(folder, name)
        return message


def public_record(rec: dict[str, Any], s: Served) -> dict[str, Any]:
    """A provenance record as the server answers it: the served model's id and the weights' folder name
    in place of paths of this machine (the file itself keeps the full record)."""
    generator = dict(rec.get("generator") or {})
    if generator.get("run") is not None:
        generator["run"] = s.id
    if generator.get("weights") is not None:
        generator["weights"] = Path(str(generator["weights"])).name
    return {**{k: public_value(v) for k, v in rec.items()}, "generator": generator}


def public_value(value: Any) -> Any:
    """``value`` with every path of this machine in it cut to its file name (a source picture, a context
    clip, a prompt's MIDI file, a feature network's folder; "A -> B" for an interpolation's two)."""
    if isinstance(value, dict):
        return {k: public_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [public_value(v) for v in value]
    if isinstance(value, str) and ("/" in value or "\\" in value):
        parts = [part.strip() for part in value.split(" -> ")]
        if any(Path(part).is_absolute() for part in parts):  # text that merely holds a slash is left as it is
            return " -> ".join(Path(part).name if Path(part).is_absolute() else part for part in parts)
    return value


def guarded(fn, status: int = 400, field: str | None = None):
    """``fn`` with a user's mistake turned into its answer: a GenlabError is ``status`` (400; 404 where
    the only mistake can be an unknown id), 408 past the time limit."""

    def call():
        try:
            return fn()
        except TimeLimitExceeded as e:
            raise APIError(408, str(e)) from None
        except GenlabError as e:
            raise APIError(status, str(e), field) from None

    return call


def get_server(request: Request) -> Server:
    """The dependency every route takes: the application's :class:`Server`."""
    return request.app.state.server


ServerDep = Annotated[Server, Depends(get_server)]

"""genlab's REST service: a FastAPI application that serves trained runs (``genlab serve RUN ...``).

Every model is loaded once, when the application is made. A request is checked against the
server's :class:`Limits` before any work; the work itself (sampling, a task, an evaluation) runs
in a worker thread through the same functions as the CLI (:mod:`genlab.app.service`), under
a time limit that stops it between two sampler steps (:func:`genlab.progress.deadline`). Only
``limits.concurrency`` pieces of work run at once; up to ``limits.queue`` more wait, and a request
beyond that is answered 503 with ``Retry-After``.

Every error is JSON, ``{"error": "<what is wrong and how to fix it>", "field": "<the field or
null>"}``, with a 4xx status: 400 a value the model or data refuse, 401 a missing or wrong token,
404 an unknown model or file, 408 the time limit, 413 an upload or picture over the limits, 422 a
field of the wrong type or out of range, 503 a full queue.

Generated files are written under ``RUN/served/<request id>/`` (or ``--store DIR/<model>/<request
id>/``), stamped with their provenance, and recorded in the registry of samples when one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hmac
import inspect
import io
import math
import os
import re
import secrets
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from ..errors import ConfigError, GenlabError, TimeLimitExceeded

try:
    import anyio
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field
except ImportError as e:  # pragma: no cover - the message is what a user without the extra sees
    raise ConfigError("genlab serve needs the 'serve' extra: pip install 'genlab[serve]'") from e

from . import service
from .limits import Limits

STATIC = Path(__file__).parent / "static"
TOKEN_ENV = "GENLAB_SERVE_TOKEN"
TOKEN_COOKIE = "genlab_token"
REQUEST_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".wav": "audio/wav", ".mid": "audio/midi",
               ".txt": "text/plain; charset=utf-8", ".json": "application/json"}


class APIError(Exception):
    """An answer other than 200: ``status``, the message (the problem and the fix) and the field it is about."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers


# ---- the served models ------------------------------------------------------------------------
@dataclasses.dataclass
class Served:
    """One model the server holds: loaded once, with its run folder and (lazily) its data."""

    id: str
    run: Path
    model: Any
    folder: Path
    data: Any = None
    indexed: Any = None  # the data search and the example files read (every training example)
    scorer: Any = None  # what scores a batch's sample quality, made on the first request to score
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def get_data(self):
        with self.lock:
            if self.data is None:
                self.data = service.run_data(self.run, self.model)
            return self.data

    def get_scorer(self, features: str | None):
        """The sample-quality scorer of this model's batches (its data's test split, the feature network)."""
        with self.lock:
            if self.scorer is None:
                self.scorer = service.batch_scorer(self.model, self.run, features)
            return self.scorer

    @property
    def is_run(self) -> bool:
        from ..runs import is_run_folder

        return is_run_folder(self.run)

    def get_indexed(self):
        """The run's data with every training example (what search numbers), loaded once."""
        with self.lock:
            if self.indexed is None:
                self.indexed = service.indexed_data(self.run)
            return self.indexed


def served_id(run: Path, taken: set[str]) -> str:
    """The run folder's name, made unique (``demo``, ``demo-2``...) and safe in a URL."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", run.resolve().name).strip("-") or "model"
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}-{i}"
    return name


def load_served(runs: list[str | Path], weights: str = "best", device: str | None = None) -> dict[str, Served]:
    """Load every run once; a one-line error for a folder that is not a run or saved model."""
    if not runs:
        raise ConfigError("give at least one run folder to serve, e.g. genlab serve runs/demo")
    served: dict[str, Served] = {}
    for run in runs:
        model, folder = service.load_model(run, weights, device)
        sid = served_id(Path(run), set(served))
        served[sid] = Served(sid, Path(run), model, Path(folder))
    return served


def sample_arg_specs(model) -> dict[str, dict[str, Any]]:
    """The model's own sampling settings: ``{name: {"default": value, "type": "int"|"float"|"bool"|"str"|"any"}}``."""
    params = service.sample_parameters(model) or {}
    specs = {}
    for name, p in params.items():
        if p.kind not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            continue
        default = None if p.default is inspect.Parameter.empty else p.default
        kind = type(default).__name__ if isinstance(default, (bool, int, float, str)) else _annotated(p.annotation)
        specs[name] = {"default": default, "type": kind}
    return specs


def _annotated(annotation: Any) -> str:
    """The kind of a setting without a typed default, from its annotation (``int | None`` -> "int")."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = text.strip("'\"")
    parts = {part.strip() for part in text.replace("Optional[", "").replace("]", "").split("|")} - {"None"}
    return parts.pop() if len(parts) == 1 and parts <= {"int", "float", "bool", "str"} else "any"


def describe(s: Served) -> dict[str, Any]:
    """What ``GET /api/models`` says of a served model: what it is, what it takes, what it scored."""
    from ..pretrained import read_config
    from ..runs import is_run_folder, read_metrics

    model, info = s.model, s.model.data_info
    modality = info.modality
    spec = model.condition_spec
    condition = None
    if spec is not None:
        condition = {"kind": spec.kind}
        if hasattr(spec, "num_classes"):
            condition["num_classes"] = spec.num_classes
    tasks = []
    if not modality.task_command:
        tasks.append("generate")
    if callable(getattr(model, "inpaint", None)):
        tasks.append("inpaint")
    if modality.task_command:
        tasks.append(modality.task_command.split()[1].replace("translate-image", "translate"))
    if model.likelihood != "none" or modality.scored_against_truth(model):
        tasks.append("evaluate")
    meta = read_config(s.folder)
    out: dict[str, Any] = {
        "id": s.id, "run": str(s.run), "model": model.name, "family": model.family, "kind": info.kind,
        "data": info.name, "shape": list(info.shape) if info.shape is not None else None,
        "likelihood": model.likelihood, "unit": modality.unit if isinstance(getattr(modality, "unit", None), str)
        else None, "parameters": model.num_parameters(), "step": meta.get("step"),
        "weights_sha256": meta.get("weights_sha256"), "condition": condition, "tasks": tasks,
        "sample_args": sample_arg_specs(model), "default_num_samples": modality.default_num_samples,
        "reads_as_text": modality.reads_as_text, "metrics": {},
        "scorable": "generate" in tasks and not modality.scored_against_truth(model) and scorable(info.kind),
    }
    if is_run_folder(s.run):
        rows = [r for r in read_metrics(s.run) if r.get("split") == "val"]
        if rows:
            out["metrics"] = {k: v for k, v in rows[-1].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out["evaluations"] = stored_evaluations(s.run)
    return out


def scorable(kind: str) -> bool:
    """Whether a batch of this kind of data can be scored (``"score": true``): a sample scorer judges it."""
    from ..evaluation.scorers import scorer_class

    try:
        scorer_class(kind)
    except GenlabError:
        return False
    return True


def stored_evaluations(run: Path) -> list[dict[str, Any]]:
    """The results ``genlab eval`` and ``genlab compare`` stored in the run (numbers and names only)."""
    import json

    from ..evaluation.store import STORE_FILE

    try:
        entries = json.loads((run / STORE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    results = [e.get("result") for e in entries.values() if isinstance(e, dict)] if isinstance(entries, dict) else []
    return [{k: v for k, v in r.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
            for r in results if isinstance(r, dict)]


# ---- the requests -----------------------------------------------------------------------------
class GenerateRequest(BaseModel):
    """What to draw: the CLI's `genlab sample` options, plus the model's own sampling settings."""

    model_config = ConfigDict(extra="forbid")
    num: int | None = Field(None, ge=1, description="how many samples (default: the kind's, capped by the server)")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seeds the sampler: the same seed gives the same samples")
    prompt: str | None = Field(None, description="text a sequence model continues")
    max_new_tokens: int | None = Field(None, ge=1, description="tokens to generate (sequence models)")
    temperature: float | None = Field(None, ge=0, description="divides the logits (or scales the prior's noise)")
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    condition: int | None = Field(None, ge=0, description="class label of a class-conditional model")
    sample_args: dict[str, bool | int | float | str] = Field(default_factory=dict, description=(
        "the model's own sampling settings, e.g. {\"guidance\": 3, \"steps\": 50} (GET /api/models lists them)"))
    tags: list[str] = Field(default_factory=list, max_length=16, description="tags recorded with the samples")
    score: bool = Field(False, description="score the batch's sample quality against the test split (noisy for a "
                                           "small batch) and record the scores with it")


class TagsRequest(BaseModel):
    """Tags to add to a stored sample."""

    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(..., min_length=1, max_length=16)


class EvaluateRequest(BaseModel):
    """What to score: the likelihood (or the restoration / prediction metrics) on a split."""

    model_config = ConfigDict(extra="forbid")
    split: str | None = Field(None, pattern="^(val|test)$", description="val or test (default test)")
    max_examples: int = Field(100, ge=1, description="examples scored (capped by the server)")
    iw_samples: int | None = Field(None, ge=1, description="importance samples K for a bound (VAE)")
    seed: int = Field(0, ge=0, le=2**63 - 1)


SEQUENCE_FIELDS = ("max_new_tokens", "temperature", "top_k", "top_p")
LENGTH_ARGS = ("length", "num_steps")  # sample settings that size a sample's memory up front (audio, piano rolls)
OWN_FIELDS = ("num", "seed", "prompt", "condition", *SEQUENCE_FIELDS)  # given as fields, so their limits apply
RESERVED_NAMES = ("model", "progress", *service.RESERVED_SAMPLE_ARGS)  # names the service itself takes


def coerce_sample_args(model, given: dict[str, Any]) -> dict[str, Any]:
    """The sample arguments as the types of the model's defaults: ``"50"`` for an int setting is 50; a
    value of another type is a 422 naming the setting."""
    specs = sample_arg_specs(model)
    out = {}
    for name, value in given.items():
        kind = specs.get(name, {}).get("type", "any")
        field = f"sample_args.{name}"
        if name in OWN_FIELDS:
            raise APIError(422, f"{name} is a field of its own, not a sample argument; give it as \"{name}\"", field)
        if name in RESERVED_NAMES:
            raise APIError(422, f"{name} is not a sample argument; see GET /api/models for those this model takes",
                           field)
        try:
            if kind == "any" and isinstance(value, str):  # a setting without a typed default: a number if it reads as one
                value = _number(value)
            if kind == "bool":
                if isinstance(value, str) and value.lower() in ("true", "false"):
                    value = value.lower() == "true"
                elif not isinstance(value, bool):
                    raise ValueError
            elif kind == "int":
                number = float(value)
                if isinstance(value, bool) or not number.is_integer():
                    raise ValueError
                value = int(number)
            elif kind == "float":
                if isinstance(value, bool):
                    raise ValueError
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
        except (TypeError, ValueError, OverflowError):
            shown = repr(value)[:40]
            raise APIError(422, f"{field} must be a{'n' if kind == 'int' else ''} {kind}, got {shown}", field) from None
        out[name] = value
    return out


def _number(text: str) -> int | float | str:
    """``"5"`` as 5, ``"0.5"`` as 0.5, any other text as it is."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


# ---- admission: a few at work, a bounded queue ------------------------------------------------
class Admission:
    """At most ``concurrency`` pieces of work at once and ``queue`` waiting; beyond that :class:`APIError` 503."""

    def __init__(self, concurrency: int, queue: int):
        self.concurrency, self.queue = concurrency, queue
        self.semaphore = asyncio.Semaphore(concurrency)
        self.waiting = 0
        self.running = 0
        self.recent: list[float] = []  # the last durations, for Retry-After

    def retry_after(self) -> int:
        mean = sum(self.recent) / len(self.recent) if self.recent else 1.0
        return max(1, math.ceil(mean * (self.waiting + 1) / self.concurrency))

    @contextlib.asynccontextmanager
    async def slot(self):
        if self.running + self.waiting >= self.concurrency + self.queue:
            raise APIError(503, f"the server is busy ({self.running} at work, {self.waiting} waiting); try again "
                                f"after the Retry-After seconds", None, {"Retry-After": str(self.retry_after())})
        self.waiting += 1
        try:
            await self.semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        start = time.monotonic()
        try:
            yield
        finally:
            self.running -= 1
            self.semaphore.release()
            self.recent = (self.recent + [time.monotonic() - start])[-20:]


# ---- the application --------------------------------------------------------------------------
def create_app(runs: list[str | Path], *, limits: Limits | None = None, token: str | None = None,
               store: str | Path | None = None, registry: str | Path | None = None, weights: str = "best",
               device: str | None = None, features: str | None = None) -> FastAPI:
    """The FastAPI application serving ``runs`` (each loaded now, once).

    Args:
        limits: what a request may ask for (:class:`Limits`).
        token: when set, every request must carry it (``Authorization: Bearer TOKEN``, a ``token``
            query parameter, or the cookie the playground sets).
        store: where generated files go (default ``RUN/served``).
        registry: the registry of samples (:mod:`genlab.catalog`) the generated files are indexed in
            (default ``$GENLAB_REGISTRY``, else ``runs/registry.sqlite3``); each run's own log
            ``samples.jsonl`` records them in any case.
        features: the feature network that scores batches asked to be scored (default ``features/<data>``).
    """
    limits = (limits or Limits()).check()
    served = load_served(runs, weights, device)
    app = _application(title="genlab", version=_version(), description=(
        "Generate with, evaluate and inspect trained genlab models. Errors are JSON "
        "{\"error\": message, \"field\": name}; the playground is at /."))
    admission = Admission(limits.concurrency, limits.queue)
    app.state.served, app.state.limits, app.state.admission = served, limits, admission

    def model_of(model_id: str) -> Served:
        if model_id not in served:
            raise APIError(404, f"no served model '{model_id}'; the served models are: {', '.join(served)}", "model")
        return served[model_id]

    def request_folder(s: Served, request: Request) -> tuple[str, Path]:
        """A new request's id and folder; the folder (uploads, partial outputs) goes if the request fails."""
        rid = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        root = Path(store) / s.id if store is not None else s.run / "served"
        request.state.folder = root / rid
        return rid, root / rid

    def folder_of(s: Served, rid: str) -> Path:
        if not REQUEST_ID.match(rid):
            raise APIError(404, f"'{rid}' is not a request id (they look like 20261206T101500-1a2b3c4d)", "request")
        return (Path(store) / s.id if store is not None else s.run / "served") / rid

    async def work(fn, *args, **kwargs):
        """Run ``fn`` in a worker thread once a slot is free, under the time limit."""
        from ..progress import deadline

        def call():
            with deadline(limits.timeout_s):
                return fn(*args, **kwargs)

        async with admission.slot():
            return await anyio.to_thread.run_sync(call)

    def outputs(s: Served, rid: str, folder: Path) -> list[dict[str, Any]]:
        from ..provenance import is_sidecar

        files = sorted(p for p in folder.rglob("*") if p.is_file() and not is_sidecar(p)
                       and not p.name.startswith("input"))
        return [{"name": p.relative_to(folder).as_posix(), "url": f"/api/files/{s.id}/{rid}/{p.relative_to(folder).as_posix()}",
                 "media_type": MEDIA_TYPES.get(p.suffix.lower(), "application/octet-stream"),
                 "bytes": p.stat().st_size} for p in files]

    def answer(s: Served, rid: str, folder: Path, rec: dict[str, Any], started: float, tags: list[str],
               scores: tuple[dict[str, float], dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """The answer to a request that wrote files: their URLs, provenance and registry ids (each recorded
        in the run's log and the registry; a log or index that cannot be written is a warning)."""
        files = outputs(s, rid, folder)
        ids, warnings = service.record_samples(s.run, [folder / f["name"] for f in files], rec, tags,
                                               *(scores or (None, None)), registry=registry)
        out = {"model": s.id, "request": rid, "files": files, "samples": ids, "provenance": rec,
               "seconds": round(time.monotonic() - started, 3), **extra}
        if scores is not None:
            out["scores"], out["score_info"] = scores
        if warnings:
            out["warnings"] = warnings
        return out

    async def in_thread(fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` in a worker thread: file and registry work (a registry another process
        holds waits up to a minute) never blocks the event loop, so other requests go on."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    def registry_handle():
        from .. import catalog

        return catalog.open_registry(registry)

    def check_tags(tags: list[str], field: str = "tags") -> list[str]:
        from ..catalog import check_tags as check

        try:
            return check(tags)
        except GenlabError as e:
            raise APIError(422, str(e), field) from None

    # ---- errors as JSON --------------------------------------------------------------------
    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError):
        return JSONResponse({"error": e.message, "field": e.field}, status_code=e.status, headers=e.headers)

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
        return JSONResponse({"error": f"internal error ({type(e).__name__}: {e}); please report it", "field": None},
                            status_code=500)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if token is not None:
            given = _bearer(request) or request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
            if not (given and hmac.compare_digest(given.encode(), token.encode())):
                return JSONResponse({"error": "this server needs a token: send 'Authorization: Bearer TOKEN' "
                                     "(or open the playground at /?token=TOKEN)", "field": "token"}, status_code=401)
        length = request.headers.get("content-length")
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            return JSONResponse({"error": "send the request's Content-Length (a body of unknown size is not read)",
                                 "field": None}, status_code=411)
        if length is not None and length.isdigit() and int(length) > 2 * limits.max_upload_bytes + 2**16:
            return JSONResponse({"error": f"the request is {int(length):,} bytes, over the server's limit; send files "
                                 f"of at most {limits.max_upload_bytes:,} bytes", "field": None}, status_code=413)
        try:
            response = await call_next(request)
        except Exception:
            _discard(request)
            raise
        if response.status_code >= 400:
            _discard(request)  # a refused or failed request leaves no upload or partial output behind
        if token is not None and request.query_params.get("token") and request.url.path == "/":
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    # ---- models -----------------------------------------------------------------------------
    @app.get("/api/health", summary="is the server up")
    async def health():
        return {"status": "ok", "models": len(served), "running": admission.running, "waiting": admission.waiting}

    @app.get("/api/models", summary="the served models: family, data, likelihood, sampling settings, metrics")
    async def models():
        return {"models": [describe(s) for s in served.values()], "limits": dataclasses.asdict(limits)}

    @app.get("/api/models/{model_id}", summary="one served model")
    async def one_model(model_id: str):
        return describe(model_of(model_id))

    @app.post("/api/models/{model_id}/generate", summary="draw samples (PNG, text, WAV, MIDI, GIF)")
    async def generate(model_id: str, body: GenerateRequest, request: Request):
        s = model_of(model_id)
        modality = s.model.data_info.modality
        if modality.task_command:
            task = modality.task_command.split()[1].replace("translate-image", "translate")
            raise APIError(400, f"model '{s.id}' makes a picture from an input picture; POST one to "
                                f"/api/models/{s.id}/{task}", "model")
        num = body.num if body.num is not None else min(modality.default_num_samples, limits.max_samples)
        if num > limits.max_samples:
            raise APIError(413, f"num is {num}; this server draws at most {limits.max_samples} samples a request",
                           "num")
        if body.max_new_tokens is not None and body.max_new_tokens > limits.max_new_tokens:
            raise APIError(413, f"max_new_tokens is {body.max_new_tokens}; this server generates at most "
                                f"{limits.max_new_tokens}", "max_new_tokens")
        if body.prompt is not None and len(body.prompt) > limits.max_prompt_chars:
            raise APIError(413, f"the prompt has {len(body.prompt):,} characters; at most {limits.max_prompt_chars:,}",
                           "prompt")
        check_tags(body.tags)
        sample_args = coerce_sample_args(s.model, body.sample_args)
        for name in SEQUENCE_FIELDS:
            value = getattr(body, name)
            if value is not None:
                if name in sample_args:
                    raise APIError(422, f"{name} is given twice (as a field and in sample_args); give it once", name)
                sample_args[name] = value
        for name in LENGTH_ARGS:
            value = sample_args.get(name)
            if isinstance(value, int) and value > limits.max_length:
                raise APIError(413, f"{name} is {value:,}; this server draws samples of at most {limits.max_length:,} "
                                    "steps", f"sample_args.{name}")
        accepted = service.sample_parameters(s.model)
        if accepted is not None and "max_new_tokens" in accepted and "max_new_tokens" not in sample_args:
            default = accepted["max_new_tokens"].default
            if isinstance(default, int) and default > limits.max_new_tokens:
                sample_args["max_new_tokens"] = limits.max_new_tokens
        rid, folder = request_folder(s, request)
        started = time.monotonic()

        def run():
            scorer = s.get_scorer(features) if body.score else None  # refused before sampling if it cannot score
            condition, count = service.data_condition(s.model, s.run, body.condition, None, num)
            samples = service.draw_samples(s.model, count, condition=condition, prompt=body.prompt, seed=body.seed,
                                           **sample_args)
            sampling = {k: v for k, v in {**sample_args, "num": len(samples), "condition": body.condition,
                                          "prompt": body.prompt}.items() if v is not None}
            rec = service.provenance_record(s.model, s.folder, s.run, "serve generate", body.seed, sampling)
            suffix = modality.display_suffix if modality.display_suffix is not None else modality.sample_suffix
            out = folder / "samples" if modality.writes_folder or not suffix else folder / f"samples{suffix}"
            folder.mkdir(parents=True, exist_ok=True)
            service.write_samples(s.model, samples, out, rec)
            scores = service.score_batch(scorer, samples, body.seed) if scorer is not None else None
            return rec, service.samples_as_text(s.model, samples), scores

        rec, text, scores = await work(_guarded(run))
        return await in_thread(answer, s, rid, folder, rec, started, body.tags, scores, text=text)

    @app.post("/api/models/{model_id}/evaluate", summary="the likelihood (or the restoration metrics) on a split")
    async def evaluate(model_id: str, body: EvaluateRequest):
        s = model_of(model_id)
        if body.max_examples > limits.max_eval_examples:
            raise APIError(413, f"max_examples is {body.max_examples}; this server scores at most "
                                f"{limits.max_eval_examples:,}", "max_examples")
        if body.iw_samples is not None and body.iw_samples > limits.max_iw_samples:
            raise APIError(413, f"iw_samples is {body.iw_samples}; at most {limits.max_iw_samples:,}", "iw_samples")

        def run():
            import torch

            torch.manual_seed(body.seed)
            data = s.get_data()
            if s.model.data_info.modality.scored_against_truth(s.model):
                return service.evaluate_restoration(s.model, data, body.split, body.max_examples)
            return service.evaluate_likelihood(s.model, data, body.split, body.iw_samples, body.max_examples)

        started = time.monotonic()
        result = await work(_guarded(run))
        return {"model": s.id, "result": result, "seconds": round(time.monotonic() - started, 3)}

    # ---- tasks on an uploaded picture ----------------------------------------------------------
    @app.post("/api/models/{model_id}/inpaint", summary="fill the masked part of an uploaded picture")
    async def inpaint(model_id: str, request: Request,
                      image: Annotated[UploadFile, File(description="the picture (PNG or JPEG)")],
                      mask: Annotated[UploadFile | None, File(description="a mask picture: white = to fill")] = None,
                      box: Annotated[str | None, Form(description="x,y,w,h in the model's pixels")] = None,
                      mask_kind: Annotated[str | None, Form(description="bottom, right, box or strokes")] = None,
                      num: Annotated[int, Form(ge=1)] = 4, seed: Annotated[int, Form(ge=0)] = 0,
                      condition: Annotated[int | None, Form(ge=0)] = None, tags: Annotated[str, Form()] = ""):
        s = model_of(model_id)
        if not callable(getattr(s.model, "inpaint", None)):
            raise APIError(400, f"model '{s.id}' ({s.model.family} family) cannot inpaint; serve a DDPM, PixelCNN "
                                "or VAE", "model")
        if num > limits.max_samples:
            raise APIError(413, f"num is {num}; this server draws at most {limits.max_samples}", "num")
        rid, folder = request_folder(s, request)
        source = await save_upload(image, folder, "input", "image")
        mask_path = await save_upload(mask, folder, "input-mask", "mask") if mask is not None else None
        started = time.monotonic()

        def run():
            paths, _ = service.inpaint_picture(s.model, source, folder, mask=mask_path, box=box, mask_kind=mask_kind,
                                            num=num, condition=condition, seed=seed)
            rec = service.provenance_record(s.model, s.folder, s.run, "serve inpaint", seed,
                                            {"num": num, "condition": condition, "box": box, "mask_kind": mask_kind,
                                             "mask": "uploaded" if mask_path else None})
            service.stamp_files(paths, rec, source=image.filename)
            return rec

        rec = await work(_guarded(run))
        return await in_thread(answer, s, rid, folder, rec, started, check_tags(_tags(tags)))

    @app.post("/api/models/{model_id}/superres", summary="enlarge an uploaded picture")
    async def superres(model_id: str, request: Request, image: Annotated[UploadFile, File()],
                       tile: Annotated[int | None, Form(ge=1)] = None, seed: Annotated[int, Form(ge=0)] = 0,
                       tags: Annotated[str, Form()] = ""):
        return await picture_task(model_id, request, "superres", image, seed, tags, tile=tile)

    @app.post("/api/models/{model_id}/translate", summary="translate an uploaded picture (pix2pix)")
    async def translate(model_id: str, request: Request, image: Annotated[UploadFile, File()],
                        seed: Annotated[int, Form(ge=0)] = 0, tags: Annotated[str, Form()] = ""):
        return await picture_task(model_id, request, "translate", image, seed, tags)

    async def picture_task(model_id: str, request: Request, task: str, image: UploadFile, seed: int, tags: str, **options: Any):
        s = model_of(model_id)
        modality = s.model.data_info.modality
        if not modality.task_command or not modality.task_command.startswith(
                "genlab superres" if task == "superres" else "genlab translate-image"):
            raise APIError(400, f"model '{s.id}' does not {'enlarge' if task == 'superres' else 'translate'} pictures; "
                                f"its tasks are: {', '.join(describe(s)['tasks'])}", "model")
        rid, folder = request_folder(s, request)
        source = await save_upload(image, folder, "input", "image")
        started = time.monotonic()

        def run():
            out = folder / f"output{'_x' + str(s.model.config.scale) if task == 'superres' else ''}.png"
            if task == "superres":
                service.upscale_picture(s.model, source, out, tile=options.get("tile"), seed=seed)
            else:
                service.translate_picture(s.model, source, out, seed=seed)
            rec = service.provenance_record(s.model, s.folder, s.run, f"serve {task}", seed,
                                            {k: v for k, v in options.items() if v is not None})
            service.stamp_files([out], rec, source=image.filename)
            return rec

        rec = await work(_guarded(run))
        return await in_thread(answer, s, rid, folder, rec, started, check_tags(_tags(tags)))

    async def save_upload(upload: UploadFile, folder: Path, stem: str, field: str) -> Path:
        """The uploaded picture, checked (size, pixels, readable) and kept in the request's folder."""
        from PIL import Image, UnidentifiedImageError

        data = await upload.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            raise APIError(413, f"{field} is over the server's limit of {limits.max_upload_bytes:,} bytes; send a "
                                "smaller file", field)
        if not data:
            raise APIError(400, f"{field} is empty; send a PNG or JPEG picture", field)
        try:
            with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as im:
                width, height, fmt = im.width, im.height, (im.format or "png").lower()
                if width * height > limits.max_image_pixels:
                    raise APIError(413, f"{field} is {width}x{height} pixels, over the server's limit of "
                                        f"{limits.max_image_pixels:,} pixels; send a smaller picture", field)
                im.load()  # a truncated or corrupt file fails here, not in the model
        except APIError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise APIError(400, f"{field} is not a readable picture ({type(e).__name__}); send a PNG or JPEG file",
                           field) from None
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.{'jpg' if fmt == 'jpeg' else fmt}"
        path.write_bytes(data)
        return path

    # ---- nearest training examples -------------------------------------------------------------
    @app.post("/api/models/{model_id}/search", summary="the training examples nearest an uploaded picture or text")
    async def search(model_id: str, request: Request,
                     query: Annotated[UploadFile, File(description="a picture (image models) or a UTF-8 text file")],
                     k: Annotated[int, Form(ge=1, le=service.MAX_K)] = 5):
        """The ``k`` training examples of the model's run nearest the query, by the embedding of ``genlab
        search`` (cached on disk after the first request); each neighbour has a ``url`` (a PNG of an image)
        or its ``text``."""
        s = model_of(model_id)
        if not s.is_run:
            raise APIError(400, f"model '{s.id}' is a saved model, not a training run, so it names no training data "
                                "to search; serve its run folder", "model")
        rid, folder = request_folder(s, request)
        if s.model.data_info.kind == "text":
            data = await query.read(limits.max_upload_bytes + 1)
            if len(data) > limits.max_upload_bytes:
                raise APIError(413, f"query is over the server's limit of {limits.max_upload_bytes:,} bytes; send a "
                                    "shorter text", "query")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "input.txt"
            path.write_bytes(data)
        else:
            path = await save_upload(query, folder, "input", "query")
        started = time.monotonic()
        try:
            neighbours = await work(_guarded(lambda: service.search(s.run, path, k, data=s.get_indexed())))
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the query is not kept: a search writes nothing
        for n in neighbours:
            if "text" not in n:
                n["url"] = f"/api/examples/{s.id}/{n['split']}/{n['index']}"
        return {"model": s.id, "request": rid, "neighbours": neighbours,
                "seconds": round(time.monotonic() - started, 3)}

    @app.get("/api/examples/{model_id}/{split}/{index}", summary="one example of a served run's data")
    async def example(model_id: str, split: str, index: int):
        s = model_of(model_id)
        if split not in ("train", "val", "test"):
            raise APIError(404, f"no split '{split}'; the splits are train, val and test", "split")
        if not s.is_run:
            raise APIError(400, f"model '{s.id}' is a saved model, not a training run, so it has no data", "model")
        content, media = await anyio.to_thread.run_sync(  # a cheap read: it does not wait for a generation slot
            _guarded(lambda: service.example_file(s.run, split, index, data=s.get_indexed())))
        return Response(content, media_type=media)

    # ---- files --------------------------------------------------------------------------------
    @app.get("/api/files/{model_id}/{request_id}/{name:path}", summary="a generated file")
    async def file(model_id: str, request_id: str, name: str):
        s = model_of(model_id)
        folder = folder_of(s, request_id)
        parts = name.split("/")
        if not all(FILE_NAME.match(p) and p not in (".", "..") for p in parts):
            raise APIError(404, f"no file '{name}'", "name")
        path = folder.joinpath(*parts)
        if not path.is_file():
            raise APIError(404, f"no file '{name}' in request {request_id} of '{s.id}'", "name")
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))

    @app.get("/api/requests/{model_id}/{request_id}", summary="the files of a request and their provenance")
    async def request_files(model_id: str, request_id: str):
        from ..provenance import read as read_provenance

        s = model_of(model_id)
        folder = folder_of(s, request_id)
        if not folder.is_dir():
            raise APIError(404, f"no request {request_id} of '{s.id}'", "request")
        files = outputs(s, request_id, folder)
        found = read_provenance(folder / files[0]["name"]) if files else None
        return {"model": s.id, "request": request_id, "files": files,
                "provenance": found.record if found is not None else None}

    # ---- the registry of samples ---------------------------------------------------------------
    @app.get("/api/samples", summary="stored samples, oldest first, filtered by run (a folder or a served model's "
                                     "id), tag and scores (min_score=fid=20, repeatable)")
    async def samples(run: str | None = None, tag: str | None = None,
                      min_score: Annotated[list[str] | None, Query()] = None,
                      max_score: Annotated[list[str] | None, Query()] = None,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 100):
        if run in served:
            from ..catalog import run_home

            run = str(run_home(served[run].run))  # where its samples are logged (a run, for RUN/best too)
        bounds = {name: _score_bounds(values, name) for name, values in (("min_score", min_score),
                                                                          ("max_score", max_score))}
        rows = await anyio.to_thread.run_sync(_guarded(lambda: registry_handle().list_samples(
            run=run or None, tag=tag or None, min_scores=bounds["min_score"], max_scores=bounds["max_score"],
            limit=limit)))
        return {"samples": rows}

    @app.get("/api/samples/{sample_id}", summary="one stored sample: file, hashes, run, seed, arguments, tags, scores")
    async def sample(sample_id: str):
        return await anyio.to_thread.run_sync(_guarded(lambda: registry_handle().get_sample(sample_id), 404, "sample"))

    @app.get("/api/samples/{sample_id}/file", summary="the file of a stored sample")
    async def sample_file(sample_id: str):
        row = await anyio.to_thread.run_sync(_guarded(lambda: registry_handle().get_sample(sample_id), 404, "sample"))
        path = Path(row["path"])
        roots = [s.run.resolve() for s in served.values()] + ([Path(store).resolve()] if store is not None else [])
        if not any(path.resolve().is_relative_to(root) for root in roots):
            raise APIError(404, f"sample {row['id']} is not a file of a served run; serve its run to fetch it", "sample")
        if not row.get("exists") or not path.is_file():
            raise APIError(404, f"the file of sample {row['id']} has gone ({path}); `genlab registry rebuild` "
                                "reports such files", "sample")
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))

    @app.post("/api/samples/{sample_id}/tags", summary="add tags to a stored sample")
    async def tag_sample(sample_id: str, body: TagsRequest):
        tags = check_tags(body.tags)
        return await anyio.to_thread.run_sync(_guarded(lambda: registry_handle().add_tags(sample_id, tags), 404,
                                                       "sample"))

    # ---- the playground -------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def playground():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

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


def _guarded(fn, status: int = 400, field: str | None = None):
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


def _score_bounds(values: list[str] | None, field: str) -> dict[str, float] | None:
    """``["fid=20", ...]`` as ``{"fid": 20.0}``; a 422 naming ``field`` for a malformed one."""
    if not values:
        return None
    bounds = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            bounds[name.strip()] = float(number)
            if not sep or not name.strip() or not math.isfinite(bounds[name.strip()]):
                raise ValueError
        except ValueError:
            raise APIError(422, f"{field} must be NAME=NUMBER (e.g. fid=20), got {value!r}", field) from None
    return bounds


def _discard(request: Request) -> None:
    folder = getattr(request.state, "folder", None)
    if folder is not None and REQUEST_ID.match(folder.name):
        shutil.rmtree(folder, ignore_errors=True)


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _version() -> str:
    from ..version import __version__

    return __version__


def default_token() -> str | None:
    """The token from the environment (``GENLAB_SERVE_TOKEN``), or None."""
    return os.environ.get(TOKEN_ENV) or None

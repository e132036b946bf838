"""The FastAPI application of `genlab serve`: its routes, the token, the limits, the playground."""

from __future__ import annotations

import dataclasses
import functools
import hmac
import io
import os
import re
import secrets
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from ...errors import ConfigError, GenlabError, TimeLimitExceeded

try:
    import anyio
    from fastapi import FastAPI, File, Form, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as e:  # pragma: no cover - the message is what a user without the extra sees
    raise ConfigError("genlab serve needs the 'serve' extra: pip install 'genlab[serve]'") from e

from .. import service
from ..limits import Limits
from .admission import Admission
from .requests import (LENGTH_ARGS, SEQUENCE_FIELDS, APIError, EvaluateRequest, GenerateRequest, TagsRequest,
                       coerce_sample_args, form_tags, score_bounds)
from .served import Served, describe, load_served


STATIC = Path(__file__).parent.parent / "static"
TOKEN_ENV = "GENLAB_SERVE_TOKEN"
TOKEN_COOKIE = "genlab_token"
REQUEST_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
LOOPBACK = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # the methods that change nothing
UPLOAD_STEM = "input"  # uploaded pictures are kept (with --keep-uploads) as input.*, never served
# The content security policy: the playground loads only its own scripts, styles and files; the API
# docs page (Swagger UI) starts itself with an inline script. No page anywhere may frame these.
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".wav": "audio/wav", ".mid": "audio/midi",
               ".txt": "text/plain; charset=utf-8", ".json": "application/json"}


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
        registry: the registry of samples (:mod:`genlab.catalog`) the generated files are indexed in
            (default ``$GENLAB_REGISTRY``, else ``runs/registry.sqlite3``); each run's own log
            ``samples.jsonl`` records them in any case.
        features: the feature network that scores batches asked to be scored (default ``features/<data>``).
    """
    limits = (limits or Limits()).check()
    if token is not None and not token.strip():
        raise ConfigError("the token is empty (an unset variable in --token \"$SECRET\"?); give a token, or leave "
                          "--token out to serve without one")
    allowed_hosts = {_host_name(h) for h in (hosts or LOOPBACK)}
    served = load_served(runs, weights, device)
    app = _application(title="genlab", version=_version(), description=(
        "Generate with, evaluate and inspect trained genlab models. Errors are JSON "
        "{\"error\": message, \"field\": name}; the playground is at /."))
    admission = Admission(limits.concurrency, limits.queue)
    registry_lock = threading.Lock()
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
        from ...progress import deadline

        def call():
            with deadline(limits.timeout_s):
                return fn(*args, **kwargs)

        async with admission.slot():
            return await anyio.to_thread.run_sync(call)

    def outputs(s: Served, rid: str, folder: Path) -> list[dict[str, Any]]:
        from ...provenance import is_sidecar

        files = sorted(p for p in folder.rglob("*") if p.is_file() and not is_sidecar(p)
                       and not p.name.startswith(UPLOAD_STEM))
        return [{"name": p.relative_to(folder).as_posix(), "url": f"/api/files/{s.id}/{rid}/{p.relative_to(folder).as_posix()}",
                 "media_type": MEDIA_TYPES.get(p.suffix.lower(), "application/octet-stream"),
                 "bytes": p.stat().st_size} for p in files]

    def answer(s: Served, rid: str, folder: Path, rec: dict[str, Any], started: float, tags: list[str],
               scores: tuple[dict[str, float], dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """The answer to a request that wrote files: their URLs, provenance and registry ids (each recorded
        in the run's log and the registry; a log or index that cannot be written is a warning)."""
        files = outputs(s, rid, folder)
        try:
            index = registry_handle()
        except GenlabError:  # an unusable registry: record_samples says so as a warning; the run's log is written
            index = registry
        ids, warnings = service.record_samples(s.run, [folder / f["name"] for f in files], rec, tags,
                                               *(scores or (None, None)), registry=index)
        out = {"model": s.id, "request": rid, "files": files, "samples": ids, "provenance": public_record(rec, s),
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

    opened: list = []  # the registry, opened (and made if need be) on first use, then shared by every request

    def registry_handle():
        from ... import catalog

        with registry_lock:
            if not opened:
                opened.append(catalog.open_registry(registry))
            return opened[0]

    def check_tags(tags: list[str], field: str = "tags") -> list[str]:
        from ...catalog import check_tags as check

        try:
            return check(tags)
        except GenlabError as e:
            raise APIError(422, str(e), field) from None

    # ---- errors as JSON --------------------------------------------------------------------
    def private_paths() -> list[tuple[str, str]]:
        """(a folder of this machine, what an answer calls it), longest first."""
        pairs = []
        for s in served.values():
            for folder in {str(s.run), str(s.run.resolve())}:
                pairs.append((folder, s.id))
        for folder, name in ((store, "the store"), (registry, "the registry")):
            if folder is not None:
                pairs += [(str(folder), name), (str(Path(folder).resolve()), name)]
        try:
            from ...catalog import default_path

            pairs += [(str(default_path().resolve()), "the registry"), (str(default_path()), "the registry")]
        except OSError:
            pass
        return sorted(pairs, key=lambda p: -len(p[0]))

    hidden = private_paths()

    def scrub(message: str) -> str:
        """An error message without a path of this machine (an upload's folder, the registry's file)."""
        for folder, name in hidden:
            message = message.replace(folder, name)
        return message

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

    @app.middleware("http")
    async def guard(request: Request, call_next):
        return _secured(request, await checked(request, call_next))

    async def checked(request: Request, call_next):
        host = request.headers.get("host", "")
        if _host_name(host) not in allowed_hosts:
            return JSONResponse({"error": f"this server does not answer to the host name '{host[:100]}'; open it at "
                                 "an address it serves (default localhost), or start it with --allow-host NAME",
                                 "field": "host"}, status_code=421)
        if request.method not in SAFE_METHODS and not _same_origin(request, host):
            return JSONResponse({"error": "a request that changes something must come from this server's own "
                                 "pages (the Origin header names another site)", "field": "origin"}, status_code=403)
        first_page = request.url.path == "/" and request.method == "GET" and "token" in request.query_params
        if token is not None:
            given = _bearer(request) or request.cookies.get(TOKEN_COOKIE)
            if first_page and not given:  # the playground's address: the token becomes a cookie, then leaves the URL
                given = request.query_params.get("token")
            if not (given and hmac.compare_digest(given.encode(), token.encode())):
                return JSONResponse({"error": "this server needs a token: send 'Authorization: Bearer TOKEN' "
                                     "(or open the playground at /?token=TOKEN)", "field": "token"}, status_code=401)
            if first_page:
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return response
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
        elif not keep_uploads:
            _discard_uploads(request)  # the answer is made: the uploaded picture goes
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
        if body.prompt is not None and len(body.prompt) > limits.max_prompt_chars:
            raise APIError(413, f"the prompt has {len(body.prompt):,} characters; at most {limits.max_prompt_chars:,}",
                           "prompt")
        check_tags(body.tags)
        sample_args = coerce_sample_args(s.model, body.sample_args)
        for name in SEQUENCE_FIELDS:  # a field, or (as /api/models lists them) a sample argument: one or the other
            value = getattr(body, name)
            if value is not None:
                if name in sample_args:
                    raise APIError(422, f"{name} is given twice (as a field and in sample_args); give it once", name)
                sample_args[name] = value
        tokens = sample_args.get("max_new_tokens")
        if isinstance(tokens, int) and tokens > limits.max_new_tokens:
            field = "max_new_tokens" if body.max_new_tokens is not None else "sample_args.max_new_tokens"
            raise APIError(413, f"max_new_tokens is {tokens}; this server generates at most {limits.max_new_tokens}",
                           field)
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
            from_data = getattr(s.model.condition_spec, "from_data", False) and body.condition is None
            condition, count = service.data_condition(s.model, s.run, body.condition, None, num,
                                                      data=s.get_data() if from_data else None)
            samples = service.draw_samples(s.model, count, condition=condition, prompt=body.prompt, seed=body.seed,
                                           prompt_is_content=True, **sample_args)
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
        tag_list = check_tags(form_tags(tags))  # refused before any work
        rid, folder = request_folder(s, request)
        source = await save_upload(image, folder, "input", "image")
        mask_path = await save_upload(mask, folder, "input-mask", "mask") if mask is not None else None
        started = time.monotonic()

        def run():
            paths, _ = service.inpaint_picture(s.model, source, folder, mask=mask_path, box=box, mask_kind=mask_kind,
                                            num=num, condition=condition, seed=seed)
            rec = {**service.provenance_record(s.model, s.folder, s.run, "serve inpaint", seed,
                                               {"num": num, "condition": condition, "box": box, "mask_kind": mask_kind,
                                                "mask": "uploaded" if mask_path else None}), "source": image.filename}
            service.stamp_files(paths, rec)  # the record the files carry is the one recorded and answered
            return rec

        rec = await work(_guarded(run))
        return await in_thread(answer, s, rid, folder, rec, started, tag_list)

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
        tag_list = check_tags(form_tags(tags))  # refused before any work
        rid, folder = request_folder(s, request)
        source = await save_upload(image, folder, "input", "image")
        started = time.monotonic()

        def run():
            out = folder / f"output{'_x' + str(s.model.config.scale) if task == 'superres' else ''}.png"
            if task == "superres":
                service.upscale_picture(s.model, source, out, tile=options.get("tile"), seed=seed)
            else:
                service.translate_picture(s.model, source, out, seed=seed)
            rec = {**service.provenance_record(s.model, s.folder, s.run, f"serve {task}", seed,
                                               {k: v for k, v in options.items() if v is not None}),
                   "source": image.filename}
            service.stamp_files([out], rec)
            return rec

        rec = await work(_guarded(run))
        return await in_thread(answer, s, rid, folder, rec, started, tag_list)

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
        except Image.DecompressionBombError:
            raise APIError(413, f"{field} claims more pixels than the server's limit of {limits.max_image_pixels:,} "
                                "(a decompression bomb?); send a smaller picture", field) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
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
        if not all(FILE_NAME.match(p) and p not in (".", "..") for p in parts) or parts[0].startswith(UPLOAD_STEM):
            raise APIError(404, f"no file '{name}'", "name")  # uploads, kept or not, are never served
        path = folder.joinpath(*parts)
        if not path.is_file():
            raise APIError(404, f"no file '{name}' in request {request_id} of '{s.id}'", "name")
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))

    @app.get("/api/requests/{model_id}/{request_id}", summary="the files of a request and their provenance")
    async def request_files(model_id: str, request_id: str):
        from ...provenance import read as read_provenance

        s = model_of(model_id)
        folder = folder_of(s, request_id)
        if not folder.is_dir():
            raise APIError(404, f"no request {request_id} of '{s.id}'", "request")
        files = outputs(s, request_id, folder)
        found = read_provenance(folder / files[0]["name"]) if files else None
        return {"model": s.id, "request": request_id, "files": files,
                "provenance": public_record(found.record, s) if found is not None else None}

    # ---- the registry of samples ---------------------------------------------------------------
    # The server shows and changes only the samples of the runs it serves, and answers with the served
    # model's id and the file's name in its run, never a path of this machine.
    homes = {}  # the folder whose log records each served model's samples -> the model's id

    def served_homes() -> dict[Path, str]:
        if not homes:
            from ...catalog import run_home

            for s in served.values():
                homes.setdefault(run_home(s.run), s.id)
        return homes

    def public_sample(row: dict[str, Any]) -> dict[str, Any]:
        home = Path(row["run"])
        out = {k: v for k, v in row.items() if k not in ("run", "path", "source")}
        out["model"] = served_homes()[home]
        path = Path(row["path"])
        out["file"] = path.relative_to(home).as_posix() if path.is_relative_to(home) else path.name
        out["url"] = f"/api/samples/{row['id']}/file"
        if row.get("source") is not None:  # an uploaded picture's own name, or a path on this machine
            out["source"] = Path(str(row["source"])).name
        return out

    def served_sample(sample_id: str, check_file: bool = True) -> dict[str, Any]:
        row = registry_handle().get_sample(sample_id, check_file=check_file)
        if Path(row["run"]) not in served_homes():
            raise ConfigError(f"no sample '{sample_id}' of a served model")
        return row

    @app.get("/api/samples", summary="stored samples of the served models, oldest first, filtered by model id, tag "
                                     "and scores (min_score=fid=20, repeatable)")
    async def samples(run: str | None = None, tag: str | None = None,
                      min_score: Annotated[list[str] | None, Query()] = None,
                      max_score: Annotated[list[str] | None, Query()] = None,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 100):
        if run:
            model_of(run)  # a served model's id, never a folder: 404 otherwise
        bounds = {name: score_bounds(values, name) for name, values in (("min_score", min_score),
                                                                          ("max_score", max_score))}
        wanted = [home for home, model_id in served_homes().items() if not run or model_id == served[run].id]

        def listed():
            rows = [row for home in wanted for row in registry_handle().list_samples(
                run=home, tag=tag or None, min_scores=bounds["min_score"], max_scores=bounds["max_score"], limit=limit)]
            rows.sort(key=lambda row: row["time"])
            return [public_sample(row) for row in rows[:limit]]

        return {"samples": await anyio.to_thread.run_sync(_guarded(listed))}

    @app.get("/api/samples/{sample_id}", summary="one stored sample: file, hashes, model, seed, arguments, tags, scores")
    async def sample(sample_id: str):
        return await anyio.to_thread.run_sync(_guarded(lambda: public_sample(served_sample(sample_id)), 404, "sample"))

    @app.get("/api/samples/{sample_id}/file", summary="the file of a stored sample")
    async def sample_file(sample_id: str):
        row = await anyio.to_thread.run_sync(_guarded(lambda: served_sample(sample_id, check_file=False),
                                                      404, "sample"))  # the file is sent, not hashed first
        path = Path(row["path"])
        roots = [Path(row["run"]).resolve()] + ([Path(store).resolve()] if store is not None else [])
        if not any(path.resolve().is_relative_to(root) for root in roots):
            raise APIError(404, f"sample {row['id']} is not a file of its run", "sample")
        if not path.is_file():
            raise APIError(404, f"the file of sample {row['id']} has gone; `genlab registry rebuild` on the server "
                                "reports such files", "sample")
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))

    @app.post("/api/samples/{sample_id}/tags", summary="add tags to a stored sample of a served model")
    async def tag_sample(sample_id: str, body: TagsRequest):
        tags = check_tags(body.tags)

        def tag():
            row = served_sample(sample_id, check_file=False)
            return public_sample(registry_handle().add_tags(row["id"], tags))

        return await anyio.to_thread.run_sync(_guarded(tag, 404, "sample"))

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


def _discard(request: Request) -> None:
    folder = getattr(request.state, "folder", None)
    if folder is not None and REQUEST_ID.match(folder.name):
        shutil.rmtree(folder, ignore_errors=True)


def public_record(rec: dict[str, Any], s: Served) -> dict[str, Any]:
    """A provenance record as the server answers it: the served model's id and the weights' folder name
    in place of paths of this machine (the file itself keeps the full record)."""
    generator = dict(rec.get("generator") or {})
    if generator.get("run") is not None:
        generator["run"] = s.id
    if generator.get("weights") is not None:
        generator["weights"] = Path(str(generator["weights"])).name
    out = {**rec, "generator": generator}
    if isinstance(out.get("source"), str):
        out["source"] = Path(out["source"]).name
    return out


def _discard_uploads(request: Request) -> None:
    folder = getattr(request.state, "folder", None)
    if folder is not None and REQUEST_ID.match(folder.name) and folder.is_dir():
        for path in folder.glob(f"{UPLOAD_STEM}*"):
            path.unlink(missing_ok=True)


def _host_name(host: str) -> str:
    """The name in a ``Host`` header or address, without the port: ``localhost:8000`` -> ``localhost``,
    ``[::1]:8000`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(request: Request, host: str) -> bool:
    """True unless a browser says the request comes from a page of another site (``Origin``, else
    ``Sec-Fetch-Site``). Programs such as curl send neither, and are let through (the token, where
    there is one, is what guards them)."""
    from urllib.parse import urlsplit

    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc.lower() == host.strip().lower()
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _secured(request: Request, response):
    """``response`` with the headers every answer carries: no type sniffing, no framing, no referrer,
    and the content security policy."""
    docs = request.url.path in ("/docs", "/redoc") or request.url.path.startswith("/static-offline-docs")
    response.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _version() -> str:
    from ...version import __version__

    return __version__


def default_token() -> str | None:
    """The token from the environment (``GENLAB_SERVE_TOKEN``), or None."""
    return os.environ.get(TOKEN_ENV) or None

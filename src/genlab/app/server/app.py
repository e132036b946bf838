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
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
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
MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".wav": "audio/wav", ".mid": "audio/midi",
               ".txt": "text/plain; charset=utf-8", ".json": "application/json"}


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
                       and not p.name.startswith("input"))
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
            from_data = getattr(s.model.condition_spec, "from_data", False) and body.condition is None
            condition, count = service.data_condition(s.model, s.run, body.condition, None, num,
                                                      data=s.get_data() if from_data else None)
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
        from ...provenance import read as read_provenance

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
            from ...catalog import run_home

            run = str(run_home(served[run].run))  # where its samples are logged (a run, for RUN/best too)
        bounds = {name: score_bounds(values, name) for name, values in (("min_score", min_score),
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
        row = await anyio.to_thread.run_sync(_guarded(lambda: registry_handle().get_sample(sample_id, check_file=False),
                                                      404, "sample"))  # the file is sent, not hashed first
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


def _discard(request: Request) -> None:
    folder = getattr(request.state, "folder", None)
    if folder is not None and REQUEST_ID.match(folder.name):
        shutil.rmtree(folder, ignore_errors=True)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _version() -> str:
    from ...version import __version__

    return __version__


def default_token() -> str | None:
    """The token from the environment (``GENLAB_SERVE_TOKEN``), or None."""
    return os.environ.get(TOKEN_ENV) or None

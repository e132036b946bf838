"""The nearest training examples of an uploaded picture or text, and the examples themselves."""

from __future__ import annotations

import shutil
import time
from typing import Annotated

import anyio
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from ... import service
from ..requests import APIError
from ..state import UPLOAD_STEM, ServerDep, guarded
from .tasks import save_upload

router = APIRouter(prefix="/api", tags=["search"])


@router.post("/models/{model_id}/search", summary="the training examples nearest an uploaded picture or text")
async def search(model_id: str, request: Request, server: ServerDep,
                 query: Annotated[UploadFile, File(description="a picture (image models) or a UTF-8 text file")],
                 k: Annotated[int, Form(ge=1, le=service.MAX_K)] = 5):
    """The ``k`` training examples of the model's run nearest the query, by the embedding of ``genlab
    search`` (cached on disk after the first request); each neighbour has a ``url`` (its file) or its
    ``text``."""
    s, limits = server.model_of(model_id), server.limits
    if not s.is_run:
        raise APIError(400, f"model '{s.id}' is a saved model, not a training run, so it names no training data "
                            "to search; serve its run folder", "model")
    rid, folder = server.request_folder(s, request)
    if s.model.data_info.modality.reads_as_text:
        data = await query.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            raise APIError(413, f"query is over the server's limit of {limits.max_upload_bytes:,} bytes; send a "
                                "shorter text", "query")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{UPLOAD_STEM}.txt"
        path.write_bytes(data)
    else:
        path = await save_upload(server, query, folder, UPLOAD_STEM, "query")
    started = time.monotonic()
    try:
        neighbours = await server.work(guarded(lambda: service.search(s.run, path, k, data=s.get_indexed())))
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the query is not kept: a search writes nothing
    for n in neighbours:
        if "text" not in n:
            n["url"] = f"/api/examples/{s.id}/{n['split']}/{n['index']}"
    return {"model": s.id, "request": rid, "neighbours": neighbours, "seconds": round(time.monotonic() - started, 3)}


@router.get("/examples/{model_id}/{split}/{index}", summary="one example of a served run's data")
async def example(model_id: str, split: str, index: int, server: ServerDep):
    s = server.model_of(model_id)
    if split not in ("train", "val", "test"):
        raise APIError(404, f"no split '{split}'; the splits are train, val and test", "split")
    if not s.is_run:
        raise APIError(400, f"model '{s.id}' is a saved model, not a training run, so it has no data", "model")
    content, media = await anyio.to_thread.run_sync(  # a cheap read: it does not wait for a generation slot
        guarded(lambda: service.example_file(s.run, split, index, data=s.get_indexed())))
    return Response(content, media_type=media)

"""The registry of samples, as far as it holds the served runs' samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from ..requests import APIError, TagsRequest, score_bounds
from ..state import MEDIA_TYPES, ServerDep, guarded

router = APIRouter(prefix="/api/samples", tags=["samples"])


@router.get("", summary="stored samples of the served models, oldest first, filtered by model id, tag and scores "
                        "(min_score=fid=20, repeatable)")
async def samples(server: ServerDep, run: str | None = None, tag: str | None = None,
                  min_score: Annotated[list[str] | None, Query()] = None,
                  max_score: Annotated[list[str] | None, Query()] = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 100):
    if run:
        server.model_of(run)  # a served model's id, never a folder: 404 otherwise
    bounds = {name: score_bounds(values, name) for name, values in (("min_score", min_score),
                                                                      ("max_score", max_score))}
    wanted = [home for home, model_id in server.served_homes().items() if not run or model_id == run]

    def listed():
        rows = [row for home in wanted for row in server.registry_handle().list_samples(
            run=home, tag=tag or None, min_scores=bounds["min_score"], max_scores=bounds["max_score"], limit=limit)]
        rows.sort(key=lambda row: row["time"])
        return [server.public_sample(row) for row in rows[:limit]]

    return {"samples": await anyio.to_thread.run_sync(guarded(listed))}


@router.get("/{sample_id}", summary="one stored sample: file, hashes, model, seed, arguments, tags, scores")
async def sample(sample_id: str, server: ServerDep):
    return await anyio.to_thread.run_sync(guarded(lambda: server.public_sample(server.served_sample(sample_id)), 404,
                                                  "sample"))


@router.get("/{sample_id}/file", summary="the file of a stored sample")
async def sample_file(sample_id: str, server: ServerDep):
    row = await anyio.to_thread.run_sync(guarded(lambda: server.served_sample(sample_id, check_file=False), 404,
                                                 "sample"))  # the file is sent, not hashed first
    path = Path(row["path"])
    roots = [Path(row["run"]).resolve()] + ([server.store.resolve()] if server.store is not None else [])
    if not any(path.resolve().is_relative_to(root) for root in roots):
        raise APIError(404, f"sample {row['id']} is not a file of its run", "sample")
    if not path.is_file():
        raise APIError(404, f"the file of sample {row['id']} has gone; `genlab registry rebuild` on the server "
                            "reports such files", "sample")
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))


@router.post("/{sample_id}/tags", summary="add tags to a stored sample of a served model")
async def tag_sample(sample_id: str, body: TagsRequest, server: ServerDep):
    tags = server.check_tags(body.tags)

    def tag():
        row = server.served_sample(sample_id, check_file=False)
        return server.public_sample(server.registry_handle().add_tags(row["id"], tags))

    return await anyio.to_thread.run_sync(guarded(tag, 404, "sample"))

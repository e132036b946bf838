"""Generated files and the requests that wrote them (never an upload)."""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..requests import APIError
from ..state import MEDIA_TYPES, UPLOAD_STEM, ServerDep, public_record

router = APIRouter(prefix="/api", tags=["files"])
FILE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@router.get("/files/{model_id}/{request_id}/{name:path}", summary="a generated file")
async def file(model_id: str, request_id: str, name: str, server: ServerDep):
    s = server.model_of(model_id)
    folder = server.folder_of(s, request_id)
    parts = name.split("/")
    if not all(FILE_NAME.match(p) and p not in (".", "..") for p in parts) or parts[0].startswith(UPLOAD_STEM):
        raise APIError(404, f"no file '{name}'", "name")  # uploads, kept or not, are never served
    path = folder.joinpath(*parts)
    if not path.is_file():
        raise APIError(404, f"no file '{name}' in request {request_id} of '{s.id}'", "name")
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"))


@router.get("/requests/{model_id}/{request_id}", summary="the files of a request and their provenance")
async def request_files(model_id: str, request_id: str, server: ServerDep):
    from ....provenance import read as read_provenance

    s = server.model_of(model_id)
    folder = server.folder_of(s, request_id)
    if not folder.is_dir():
        raise APIError(404, f"no request {request_id} of '{s.id}'", "request")
    files = server.outputs(s, request_id, folder)
    found = read_provenance(folder / files[0]["name"]) if files else None
    return {"model": s.id, "request": request_id, "files": files,
            "provenance": public_record(found.record, s) if found is not None else None}

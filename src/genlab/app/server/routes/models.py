"""The served models: what each is, takes and scored; the server's health."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from ..served import describe
from ..state import ServerDep

router = APIRouter(prefix="/api", tags=["models"])


@router.get("/health", summary="is the server up")
async def health(server: ServerDep):
    return {"status": "ok", "models": len(server.served), "running": server.admission.running,
            "waiting": server.admission.waiting}


@router.get("/models", summary="the served models: family, data, likelihood, sampling settings, metrics")
async def models(server: ServerDep):
    return {"models": [describe(s) for s in server.served.values()], "limits": dataclasses.asdict(server.limits)}


@router.get("/models/{model_id}", summary="one served model")
async def one_model(model_id: str, server: ServerDep):
    return describe(server.model_of(model_id))

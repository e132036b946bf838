"""The playground: one page and its static files (plain HTML and JavaScript, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

STATIC = Path(__file__).resolve().parents[2] / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
async def playground():
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

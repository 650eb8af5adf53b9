"""The page at `/` and its static assets, all shipped in the package (works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        # The page is public; the data it fetches is guarded like any other read.
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

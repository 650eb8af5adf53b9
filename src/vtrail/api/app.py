"""The FastAPI app: every question of the CLI under `/api`, the page at `/`, `/metrics`.

Errors are one line, `{"detail": "..."}`, with a status that says whose fault
it was: 404 an unknown entity, 409 an ambiguous name, 422 unreadable input,
413 an oversized body, 401/403 a missing or insufficient token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from vtrail import __version__
from vtrail.api import (
    account,
    admission,
    assets,
    check,
    graph,
    health,
    images,
    ingest,
    ipam,
    openapi,
    page,
    plan,
    policy,
    questions,
    triage,
)
from vtrail.api.deps import (
    READ_THREADS,
    Settings,
    Stores,
    json_response,
    reader,
    require_read,
)
from vtrail.api.errors import STATUS
from vtrail.api.heavy import Heavy
from vtrail.api.metrics import CONTENT_TYPE, Metrics, RequestTimer
from vtrail.api.short_reads import ShortReads
from vtrail.ids import KINDS
from vtrail.store.reads.stats import StatsReader


def _one_line(e: RequestValidationError) -> str:
    err = e.errors()[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
    where = ".".join(loc)
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def _allowed(app: FastAPI, request: Request) -> str:
    """Every method the path answers: Starlette names only those of the first route that
    matches it, and a path may have a read and a write on routes of their own
    (`GET` and `PUT /api/policy`, `GET` and `POST /api/check`)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, BaseRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def _handlers(app: FastAPI) -> None:
    async def validation(_: Request, e: Exception) -> Response:
        assert isinstance(e, RequestValidationError)
        return json_response({"detail": _one_line(e)}, 422)

    async def http(request: Request, e: Exception) -> Response:
        assert isinstance(e, StarletteHTTPException)
        resp = json_response({"detail": str(e.detail)}, e.status_code)
        for k, v in (e.headers or {}).items():
            resp.headers[k] = v
        if e.status_code == 405:
            resp.headers["Allow"] = _allowed(app, request)
        return resp

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    for exc, status in STATUS:

        async def known(_: Request, e: Exception, status: int = status) -> Response:
            return json_response({"detail": str(e)}, status)

        app.add_exception_handler(exc, known)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if not app.openapi_schema:
        app.openapi_schema = openapi.base(app)
    return app.openapi_schema


def _docs(app: FastAPI) -> None:
    """The document and its browser, as plain routes: the kinds come from the store, read
    in the thread pool like every other read."""

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_json(request: Request) -> Response:
        settings: Settings = request.app.state.settings
        kinds = KINDS | set(StatsReader(reader(request)).recorded_kinds())
        doc = openapi.document(_openapi(app), read_token=settings.read_token, kinds=sorted(kinds))
        return json_response(doc)

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="vtrail API")


class App(FastAPI):
    """The app, with `where` and `show` answered ahead of its middlewares and routing
    (api/short_reads.py); `short_reads = None` sends them through the routes too."""

    short_reads: ShortReads | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.short_reads and await self.short_reads(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> App:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = READ_THREADS
        yield
        app.state.heavy.close()
        if isinstance(app, App) and app.short_reads is not None:
            app.short_reads.close()
        app.state.stores.close()

    app = App(
        title="vtrail",
        version=__version__,
        openapi_url=None,  # served by _docs, with what only the server knows
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.stores = Stores(settings.db)
    app.state.heavy = Heavy(settings.db, settings.workers)
    app.state.metrics = Metrics(app.state.stores.reader, app.state.heavy)
    _handlers(app)
    app.include_router(questions.router)
    app.include_router(graph.router)
    app.include_router(check.router)
    app.include_router(admission.router)
    app.include_router(health.router)
    app.include_router(triage.router)
    app.include_router(ingest.router)
    app.include_router(policy.router)
    app.include_router(assets.router)
    app.include_router(ipam.router)
    app.include_router(account.router)
    app.include_router(plan.router)
    app.include_router(images.router)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_read)])
    def metrics() -> Response:
        return Response(app.state.metrics.render(), media_type=CONTENT_TYPE)

    page.mount(app)
    _docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    app.short_reads = ShortReads(app.state.stores, settings, app.state.metrics)
    return app

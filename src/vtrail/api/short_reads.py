"""The one-entity questions, `where` and `show`, answered before FastAPI's request machinery.

Their store read is a twentieth of a millisecond; through the app, without HTTP,
a `where` took 0.8 ms (docs/performance.md, "Beside Prometheus"): the
middlewares, routing through every route, solving each parameter's dependency,
and the hop to a read thread and back. A request for either that the route
would answer with 200 is answered here with the same bytes and headers; any
other (a missing or bad parameter, no token or an unknown one, an unknown or
ambiguous entity, a bug) is declined and goes through the app, which answers it
as it always did. The routes stay in the app for those answers and for the
OpenAPI document.

The read itself runs off the event loop, as every route's does: no SQL runs on
the loop (tests/api/test_off_the_loop.py), so a `show` of an entity with
thousands of relations never holds the other requests up. It runs in threads of
its own, each read handed to the warmest (api/read_threads.py): anyio's `to_thread.run_sync`
(a capacity limiter, a cancel scope, a worker checked out and back) and asyncio's
`run_in_executor` each cost more than the read.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import Scope, Send

from vtrail.api.deps import READ_THREADS, Settings, Stores, text, when_required
from vtrail.api.heavy import dumps
from vtrail.api.metrics import Metrics
from vtrail.api.read_threads import ReadThreads
from vtrail.query import state
from vtrail.query.jsonable import to_jsonable
from vtrail.query.where_json import where_jsonable
from vtrail.store import tokens as token_store

WHERE = "/api/where"
SHOW = "/api/show/"
#: The routes' templates, the label RequestTimer gives their requests.
ROUTES = {WHERE: WHERE, SHOW: SHOW + "{id:path}"}


def _route(scope: Scope) -> str | None:
    """WHERE or SHOW when the request asks one of them, else None."""
    if scope["method"] != "GET" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if path == WHERE:
        return WHERE
    return SHOW if path.startswith(SHOW) else None


def _bearer(scope: Scope) -> str | None:
    """The request's bearer token, read as `HTTPBearer` reads it."""
    value = next((v for k, v in scope["headers"] if k.lower() == b"authorization"), None)
    if value is None:
        return None
    scheme, secret = get_authorization_scheme_param(value.decode("latin-1"))
    return secret if secret and scheme.lower() == "bearer" else None


class ShortReads:
    """Answers `where` and `show` for the app whose stores and settings it is given."""

    def __init__(self, stores: Stores, settings: Settings, metrics: Metrics) -> None:
        self.stores, self.settings = stores, settings
        self.timers = {r: metrics.requests.labels(t, "200") for r, t in ROUTES.items()}
        self.threads = ReadThreads(READ_THREADS, "vtrail-short-read")

    def close(self) -> None:
        """Stop the read threads, once their reads are done; the next request starts
        them again (an app may be started again after a shutdown, as its stores are)."""
        self.threads.close()

    async def __call__(self, scope: Scope, send: Send) -> bool:
        """Whether the request was answered here; when not, nothing was sent."""
        route = _route(scope)
        if route is None:
            return False
        start = time.perf_counter()
        body = await self.read(route, scope)
        if body is None:
            return False
        headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.timers[route].observe(time.perf_counter() - start)
        return True

    async def read(self, route: str, scope: Scope) -> bytes | None:
        """`body`, read in a thread of ours: no SQL runs on the event loop."""
        return await self.threads.run(self.body, route, scope)

    def body(self, route: str, scope: Scope) -> bytes | None:
        """The answer's JSON, or None for any request the route would refuse or fail."""
        try:
            store = self.stores.reader()
            if self.settings.read_token:
                secret = _bearer(scope)
                if secret is None or token_store.lookup(store, secret) is None:
                    return None
            # As the route's QueryParams reads them (the last of a repeated name wins),
            # without its multi-dict's copies.
            query = scope["query_string"].decode("latin-1")
            params = dict(parse_qsl(query, keep_blank_values=True))
            at = when_required(params.get("at"), "at")
            answer: Any
            if route == WHERE:
                what, space = params.get("what"), params.get("space")
                if what is None:
                    return None
                picked = text(space, "space") if space is not None else None
                answer = where_jsonable(store, text(what, "what"), at, picked)
            else:
                answer = to_jsonable(state.show(store, text(scope["path"][len(SHOW) :], "id"), at))
            return dumps(answer)
        except Exception:
            # Whatever it is, the route meets it again and answers it as it always did.
            return None

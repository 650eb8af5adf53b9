"""What every route shares: the stores, the bearer-token checks, and input checks.

Reads run in the server's thread pool, each thread on its own SQLite
connection (WAL lets them all read while one writes), and the whole-fabric
questions in worker processes (api/heavy.py); writes go through one
connection and one `Recorder`, behind a lock, so the recorder stays the only
writer.
"""

from __future__ import annotations

import asyncio
import csv
import io
import ipaddress
import threading
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from vtrail.api.heavy import NOW, Now, Reply, dumps
from vtrail.api.patterns import TEXT_MAX, TIME_HELP, is_text, is_time
from vtrail.query.jsonable import to_jsonable
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, open_store
from vtrail.store import tokens as token_store
from vtrail.timeexpr import TimeParseError, parse_time
from vtrail.triage.derive import derivers

#: Threads for the plain routes (the reads). Few: each read is a fraction of a
#: millisecond, and forty threads spent more time passing the GIL to each other than
#: reading (bench/serve.py: 50 clients back to back, 390 against 650-790 answers/s).
READ_THREADS = 4
#: Default cap on a POST body (JSON Lines of observations).
MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    db: Path
    #: Reads need a token too (the default when bound beyond loopback).
    read_token: bool = False
    max_body: int = MAX_BODY
    #: Worker processes for the whole-fabric questions (api/heavy.py).
    workers: int = 2


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Stores:
    """One read connection per thread, one write connection and recorder for all.

    `close()` (at the app's shutdown) closes them all; they reopen on next use,
    so an app that is started again (a test client per request) keeps working.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.write_lock = threading.Lock()
        # Writes have a thread of their own: a batch waiting for the lock never holds
        # one of the few threads the reads share (READ_THREADS).
        self.writes = ThreadPoolExecutor(1, thread_name_prefix="vtrail-write")
        self._local = threading.local()
        self._opened: list[Store] = []
        self._guard = threading.Lock()
        self._generation = 0
        self._writer: Store | None = None
        self._recorder: Recorder | None = None
        # Opening the writer first creates and migrates the store, so readers find it.
        self.writer()

    def writer(self) -> Store:
        with self._guard:
            if self._writer is None:
                # Durable: a batch acknowledged to a pushing collector is gone from its spool.
                self._writer = open_store(self.path, durable=True)
                self._writer.derivers = derivers()
                self._recorder = Recorder(self._writer)
            return self._writer

    def recorder(self) -> Recorder:
        self.writer()
        assert self._recorder is not None
        return self._recorder

    def reader(self) -> Store:
        mine: tuple[int, Store] | None = getattr(self._local, "store", None)
        if mine is not None and mine[0] == self._generation:
            return mine[1]
        store = open_store(self.path, readonly=True)
        with self._guard:
            self._local.store = (self._generation, store)
            self._opened.append(store)
        return store

    def close(self) -> None:
        with self._guard:
            self._generation += 1
            for s in self._opened:
                s.close()
            self._opened.clear()
            if self._writer is not None:
                self._writer.close()
            self._writer = self._recorder = None


def stores(request: Request) -> Stores:
    s: Stores = request.app.state.stores
    return s


def reader(request: Request) -> Store:
    """This thread's read connection. Called in the body of a route, never as a
    dependency: FastAPI may run a sync dependency and the route on different threads,
    and one SQLite connection must not serve two threads at once."""
    return stores(request).reader()


# -- tokens ------------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `vtrail token create --role reader|writer`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _token(request: Request, creds: HTTPAuthorizationCredentials | None) -> token_store.TokenInfo:
    if creds is None:
        raise _unauthorized("a bearer token is required (vtrail token create --role reader|writer)")
    info = token_store.lookup(stores(request).reader(), creds.credentials)
    if info is None:
        raise _unauthorized("unknown or revoked token")
    return info


# A token is looked up in the thread pool, never on the event loop (a reader may have to
# wait for the store, and the loop would wait with it); a read that needs none costs no hop.
async def require_read(request: Request, creds: Credentials) -> None:
    settings: Settings = request.app.state.settings
    if settings.read_token:
        await run_in_threadpool(_token, request, creds)


async def require_write(request: Request, creds: Credentials) -> None:
    info = await run_in_threadpool(_token, request, creds)
    if info.role != "writer":
        raise HTTPException(403, f"token {info.name!r} is a reader token; writing needs a writer")


# -- input and output ------------------------------------------------------------------


def text(value: str, name: str) -> str:
    """Something to look up: what `patterns.TEXT` admits (not blank, no NUL, at most
    `TEXT_MAX` characters), and valid Unicode."""
    if len(value) > TEXT_MAX:
        raise HTTPException(422, f"{name}: longer than {TEXT_MAX} characters")
    if "\x00" in value:
        raise HTTPException(422, f"{name}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise HTTPException(422, f"{name}: not valid Unicode") from None
    if not is_text(value):
        raise HTTPException(422, f"{name}: empty")
    return value


def when(value: str | None, name: str, default: str | None = "now") -> datetime | None:
    """A time parameter in one of the forms of `patterns.TIME`; 422 with the reason when
    it is in none, or out of range."""
    if value is None:
        if default is None:
            return None
        value = default
    value = text(value, name)
    try:
        t = parse_time(value)
        t.timestamp()
    except TimeParseError as e:
        raise HTTPException(422, f"{name}: {e}") from None
    except (OverflowError, ValueError):
        raise HTTPException(422, f"{name}: {value!r} is out of range") from None
    if not is_time(value):
        # The CLI reads it; the API takes only the forms its document can state exactly.
        raise HTTPException(422, f"{name}: {value!r} is not one of these forms: {TIME_HELP}")
    return t


def when_required(value: str | None, name: str, default: str = "now") -> datetime:
    t = when(value, name, default)
    assert t is not None
    return t


def instant(value: str | None, name: str) -> datetime | Now:
    """A time parameter of a whole-fabric question: `NOW` for the present (the default),
    taken when the answer is begun (api/heavy.py), else as `when` reads it."""
    if value is None or value == "now":
        return NOW
    return when_required(value, name)


def csv_response(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """Rows as CSV under a header, as the CLI's `-o csv` prints them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


def answer(obj: Any) -> Response:
    """The one JSON shape (`to_jsonable`), serialized once, without FastAPI's re-encoding."""
    return json_response(to_jsonable(obj))


async def heavy(request: Request, question: str, *args: Hashable) -> Response:
    """A whole-fabric question's answer from the worker processes (api/heavy.py)."""
    pending = request.app.state.heavy.ask(question, args)
    # Shielded: a client that goes away must not cancel the answer others joined.
    reply: Reply = await asyncio.shield(asyncio.wrap_future(pending))
    if reply.gzipped is None:
        return Response(reply.body, status_code=reply.status, media_type=reply.media_type)
    headers = {"Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(reply.gzipped, reply.status, headers, reply.media_type)
    return Response(reply.body, reply.status, headers, reply.media_type)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json")

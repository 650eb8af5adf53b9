"""Property-based requests generated from the OpenAPI spec: no input may get a 5xx.

Schemathesis reads `/api/openapi.json` and sends what it allows and what it
barely allows (odd strings, huge numbers, odd bodies) to every operation, with
a writer token so that the write path is exercised too. The example count is
bounded so the run stays short; raise `VTRAIL_FUZZ_EXAMPLES` for a longer one.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from api.story import record_story
from vtrail.api import Settings, create_app
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store

# Schemathesis collects the operations at import time, so the store is made then too.
_DIR = Path(tempfile.mkdtemp(prefix="vtrail-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_DB = record_story(_DIR / "vtrail.db")
_store = SqliteStore(_DB)
_, WRITER = token_store.create(_store, "writer", "fuzz")
_store.close()

app = create_app(Settings(db=_DB, max_body=256 * 1024))


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: object, value: object) -> bytes:
    # The spec says "a string of JSON Lines": send the generated string as it is.
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else b""


schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
EXAMPLES = int(os.environ.get("VTRAIL_FUZZ_EXAMPLES", "12"))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {WRITER}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: "
        f"{response.text[:300]}"
    )

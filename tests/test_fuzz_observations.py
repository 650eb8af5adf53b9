"""Any bytes at all, given to `vtrail ingest` or to `POST /api/observations`, are recorded
whole or refused in one line (exit 1, or a 4xx), never raise and never write in part.

The bytes are mostly valid observations spoiled the ways a hostile or broken
writer spoils them (bytes flipped, lines cut, deep nesting, huge numbers, lone
surrogates, an id twice), since random bytes rarely get past the first brace.
tests/fuzz/ holds an atheris harness for the same entry point (docs/fuzzing.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store
from vtrail.store.reads.stats import StatsReader
from vtrail.wire import ObservationError, check, parse_lines

WHEN = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ids = st.sampled_from(["vm:1", "vm:2", "host:a", "port:a/vnet0", "bridge:a/br0"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
attrs = st.dictionaries(
    st.text(max_size=6),
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6),
    max_size=4,
)


@st.composite
def observations(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["snapshot", "event", "event", "disconnect"]))
    o: dict[str, Any] = {
        "source": draw(st.sampled_from(["fuzz", "libvirt+test:///default@hv-a"])),
        "observed_at": (WHEN + timedelta(seconds=draw(st.integers(0, 3600)))).isoformat(),
        "kind": kind,
    }
    if kind == "disconnect":
        return o
    o["entities"] = [{"id": i, "attrs": draw(attrs)} for i in draw(st.lists(ids, max_size=3))]
    o["relations"] = [
        {"src": s, "rel": "runs_on", "dst": d}
        for s, d in draw(st.lists(st.tuples(ids, ids), max_size=2))
    ]
    o["samples"] = [
        {"entity": i, "metric": "rx_bytes", "value": v}
        for i, v in draw(st.lists(st.tuples(ids, st.integers(0, 2**64 - 1)), max_size=2))
    ]
    if kind == "event":
        o["gone"] = draw(st.lists(ids, max_size=1))
    return o


#: What replaces a number, a string or a value when a line is spoiled.
HUGE = [
    "1" + "0" * 400,
    "9" * 5000,
    "-" + "9" * 4301,
    "1e400",
    "-1e999",
    "NaN",
    "Infinity",
    "18446744073709551616",
    "-9223372036854775809",
    "1.5",
    "-0",
]
STRINGS = [
    '"\\ud800"',
    '"a\\udfffb"',
    '"\\ud83d\\ude00"',
    '"' + "x" * 70_000 + '"',
    '""',
    '"\\u0000"',
]
NUMBER = re.compile(rb"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


@st.composite
def spoiled(draw: st.DrawFn) -> bytes:
    """A valid observation's line, spoiled in one of the ways a hostile writer would."""
    o = draw(observations())
    how = draw(
        st.sampled_from(["as is", "flip", "cut", "nest", "number", "string", "twice", "bytes"])
    )
    if how == "twice" and o.get("entities"):
        o["entities"].append(dict(o["entities"][0], attrs={"other": 1}))
    if how == "twice" and o.get("relations"):
        o["relations"].append(o["relations"][0])
    line = json.dumps(o).encode()
    if how == "flip" and line:
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(line) - 1))
            line = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1 :]
    elif how == "cut":
        line = line[: draw(st.integers(0, len(line)))]
    elif how == "nest":
        depth = draw(st.sampled_from([31, 32, 33, 999, 20_000]))
        deep = (
            b"[" * depth + b"]" * depth
            if draw(st.booleans())
            else b'{"a":' * depth + b"1" + b"}" * depth
        )
        line = line.replace(b'"attrs": {', b'"attrs": {"deep": ' + deep + b", ", 1)
    elif how == "number":
        spots = list(NUMBER.finditer(line))
        if spots:
            m = draw(st.sampled_from(spots))
            line = line[: m.start()] + draw(st.sampled_from(HUGE)).encode() + line[m.end() :]
    elif how == "string":
        spots = list(STRING.finditer(line))
        m = draw(st.sampled_from(spots))
        line = line[: m.start()] + draw(st.sampled_from(STRINGS)).encode() + line[m.end() :]
    elif how == "bytes":
        at = draw(st.integers(0, len(line)))
        junk = draw(st.sampled_from([b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\x00", b"\n", b"\r"]))
        line = line[:at] + junk + line[at:]
    return line


contents = st.one_of(
    st.binary(max_size=64),
    st.lists(spoiled(), min_size=1, max_size=3).map(b"\n".join),
    st.lists(
        st.one_of(spoiled(), observations().map(lambda o: json.dumps(o).encode())), max_size=3
    ).map(lambda lines: b"[" + b",".join(lines) + b"]"),
)


def journal(db: Path) -> int:
    store = SqliteStore(db, readonly=True)
    try:
        return StatsReader(store).counts()["journal"]
    finally:
        store.close()


def parsed(content: bytes) -> int | None:
    """How many observations `ingest` would record, or None if it refuses the bytes."""
    try:
        found = [o for o, _ in parse_lines(content.split(b"\n"))]
    except ObservationError as e:
        assert "\n" not in str(e)
        return None
    for o in found:
        check(o)  # what the parser lets in, the in-process check accepts
    return len(found)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "vtrail.db"
    SqliteStore(path).close()
    return path


@FUZZ
@given(contents)
def test_ingest_records_or_refuses_in_one_line(db: Path, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(content)
    before = journal(db)
    done = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db)])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    after = journal(db)
    expected = parsed(content)
    if done.exit_code == 0:
        recorded = re.match(r"recorded ([\d,]+) observations \(([\d,]+) already known", done.stderr)
        assert recorded is not None, done.stderr
        n, known = (int(g.replace(",", "")) for g in recorded.groups())
        assert n + known == expected
        assert after - before == n  # all of the file
    else:
        assert done.exit_code == 1, done.output
        assert expected is None
        assert done.stderr.startswith("error: line ") and done.stderr.count("\n") == 1, done.stderr
        assert after == before  # none of it


@pytest.fixture(scope="module")
def api(db: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    store = SqliteStore(db)
    _, writer = token_store.create(store, "writer", "fuzz")
    store.close()
    with TestClient(create_app(Settings(db=db)), raise_server_exceptions=False) as c:
        yield c, {"Authorization": f"Bearer {writer}"}


@FUZZ
@given(contents)
def test_the_api_records_or_refuses_with_a_4xx(
    db: Path, api: tuple[TestClient, dict[str, str]], content: bytes
) -> None:
    c, auth = api
    before = journal(db)
    r = c.post("/api/observations", content=content, headers=auth)
    after = journal(db)
    if r.status_code == 200:
        body = r.json()
        assert after - before == body["observations"]  # all of the body
    else:
        assert 400 <= r.status_code < 500, r.text[:500]
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail
        assert after == before

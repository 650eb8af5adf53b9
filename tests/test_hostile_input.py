"""Hostile input (issue 16): every bad line gets one line naming its number and field, and
nothing is written; through `vtrail ingest`, `POST /api/observations`, `wire.check` and
`record --source file:` alike. The limits are docs/observations.md's "Limits"."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factory import at, ent, event, rel
from vtrail import limits
from vtrail.api import Settings, create_app
from vtrail.cli.main import app as cli
from vtrail.model import EntityObs, Observation, RelationObs, RelKey, SampleObs
from vtrail.recording.runner import Runner
from vtrail.recording.sources import parse_source
from vtrail.store import SqliteStore
from vtrail.store import tokens as token_store
from vtrail.store.reads.stats import StatsReader
from vtrail.wire import ObservationError, check

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
HEAD = (
    '{"source":"probe","observed_at":"' + NOW.isoformat().replace("+00:00", "Z") + '",'
    '"kind":"event",'
)
GOOD = (HEAD + '"entities":[{"id":"vm:1","attrs":{"name":"web-1"}}]}').encode()


def entity(attrs: str, eid: str = "vm:1") -> bytes:
    return (HEAD + '"entities":[{"id":"' + eid + '","attrs":' + attrs + "}]}").encode()


def value(v: str) -> bytes:
    return (HEAD + '"samples":[{"entity":"vm:1","metric":"rx_bytes","value":' + v + "}]}").encode()


PREFIX = '"entities":[{"id":"vm:'
DEEP = "[" * 100_000 + "]" * 100_000

#: The probe's lines (and the limits' edges), each with the one line it must get.
HOSTILE: dict[str, tuple[bytes, str]] = {
    "not UTF-8": (
        HEAD.encode() + b'"entities":[{"id":"vm:\xff\xfe"}]}',
        f"line 2: not UTF-8: byte 0xff at column {len(HEAD) + len(PREFIX) + 1}",
    ),
    "lone surrogate": (
        entity('{"name":"\\ud800"}'),
        "line 2: entities.0.attrs.name: a lone surrogate (\\ud800) is not Unicode text",
    ),
    "surrogate in an id": (
        entity("{}", eid="vm:\\udc00"),
        "line 2: entities.0.id: entity id 'vm:\\udc00': a lone surrogate",
    ),
    "nested 100,000 deep": (
        entity('{"x":' + DEEP + "}"),
        "line 2: entities.0.attrs.x: nested more than 32 arrays or objects deep",
    ),
    "nested 33 deep": (
        entity('{"x":' + "[" * 33 + "]" * 33 + "}"),
        "line 2: entities.0.attrs.x: nested more than 32 arrays or objects deep",
    ),
    "1 and 400 zeros": (
        value("1" + "0" * 400),
        "line 2: samples.0.value: integer 100000000000…0000 (401 digits) is out of range",
    ),
    "5,000 digits": (
        value("9" * 5000),
        "line 2: samples.0.value: integer 999999999999…9999 (5,000 digits) is out of range",
    ),
    "5,000 digits in an attribute": (
        entity('{"x":-' + "9" * 5000 + "}"),
        "line 2: entities.0.attrs.x: integer -99999999999…9999 (5,000 digits) is out of range",
    ),
    "beyond a double": (value("1e400"), "line 2: samples.0.value: inf is not a finite number"),
    "beyond a double in an attribute": (
        entity('{"load":-1e999}'),
        "line 2: entities.0.attrs.load: -inf is not a finite number",
    ),
    "NaN in an attribute": (entity('{"load":NaN}'), "line 2: not JSON: NaN is not a JSON number"),
    "Infinity": (value("Infinity"), "line 2: not JSON: Infinity is not a JSON number"),
    "beyond 2^64 in an attribute": (
        entity('{"x":' + str(2**64) + "}"),
        "line 2: entities.0.attrs.x: integer 18446744073709551616 is out of range",
    ),
    "a string too long": (
        entity('{"x":"' + "a" * 65_537 + '"}'),
        "line 2: entities.0.attrs.x: a string of 65,537 characters is longer than 65,536",
    ),
    "an id twice": (
        (
            HEAD + '"entities":[{"id":"vm:1","attrs":{"a":1}},{"id":"vm:1","attrs":{"a":2}}]}'
        ).encode(),
        "line 2: entities.1: entity vm:1 is listed twice (entities.0)",
    ),
    "a relation twice": (
        (
            HEAD + '"relations":[{"src":"vm:1","rel":"runs_on","dst":"host:a"},'
            '{"src":"vm:1","rel":"runs_on","dst":"host:a","attrs":{"x":1}}]}'
        ).encode(),
        "line 2: relations.1: relation vm:1 runs_on host:a is listed twice (relations.0)",
    ),
}

#: At the limits, not beyond them: recorded.
EDGES = [
    entity('{"x":' + "[" * 32 + "]" * 32 + "}"),
    entity('{"x":"' + "a" * 65_536 + '","' + "k" * 1_024 + '":1}', eid="vm:" + "a" * 511),
    entity('{"lo":' + str(-(2**63)) + ',"hi":' + str(2**64 - 1) + ',"f":1.7976931348623157e308}'),
    entity('{"pair":"\\ud83d\\ude00","text":"ünïcødé"}'),
    value(str(2**64 - 1)),
]


def counts(db: Path) -> dict[str, int]:
    store = SqliteStore(db, readonly=True)
    try:
        return StatsReader(store).counts()
    finally:
        store.close()


def ingest(db: Path, content: bytes) -> Any:
    path = db.with_suffix(".jsonl")
    path.write_bytes(content)
    return CliRunner().invoke(cli, ["ingest", str(path), "--db", str(db)])


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_ingest_refuses_in_one_line_and_writes_nothing(tmp_path: Path, case: str) -> None:
    line, says = HOSTILE[case]
    db = tmp_path / "vtrail.db"
    SqliteStore(db).close()
    before = counts(db)
    done = ingest(db, GOOD + b"\n" + line + b"\n")
    assert done.exit_code == 1, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert done.stderr.startswith(f"error: {says}"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.output
    assert counts(db) == before


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Path, dict[str, str]]]:
    db = tmp_path / "vtrail.db"
    store = SqliteStore(db)
    _, writer = token_store.create(store, "writer", "probe")
    store.close()
    with TestClient(create_app(Settings(db=db)), raise_server_exceptions=False) as c:
        yield c, db, {"Authorization": f"Bearer {writer}"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_api_answers_422_with_the_same_line_and_writes_nothing(
    api: tuple[TestClient, Path, dict[str, str]], case: str
) -> None:
    c, db, auth = api
    line, says = HOSTILE[case]
    before = counts(db)
    r = c.post("/api/observations", content=GOOD + b"\n" + line, headers=auth)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(says)
    assert counts(db) == before


def test_the_limits_themselves_are_recorded(
    api: tuple[TestClient, Path, dict[str, str]], tmp_path: Path
) -> None:
    c, _, auth = api
    for line in EDGES:
        r = c.post("/api/observations", content=line, headers=auth)
        assert r.status_code == 200, r.text[:300]
    done = ingest(tmp_path / "cli.db", b"\n".join(EDGES))
    assert done.exit_code == 0, done.output[:300]


def _nested(depth: int) -> list[Any]:
    inner: list[Any] = []
    for _ in range(depth - 1):
        inner = [inner]
    return inner


def _event(**parts: Any) -> Observation:
    return Observation("probe", at(1), "event", **parts)


#: What a collector could build by mistake, refused by `check` as the parser would.
IN_PROCESS: dict[str, tuple[Observation, str]] = {
    "nested 100,000 deep": (
        _event(entities=(ent("vm:1", x=_nested(100_000)),)),
        "entities.0.attrs.x: nested more than 32",
    ),
    "nested 33 deep": (
        _event(entities=(ent("vm:1", x=_nested(33)),)),
        "entities.0.attrs.x: nested",
    ),
    "surrogate in an attribute": (
        _event(entities=(ent("vm:1", name="eth\udcff"),)),
        "entities.0.attrs.name: a lone surrogate (\\udcff)",
    ),
    "surrogate in a name": (
        _event(entities=(ent("vm:1", **{"n\udcff": 1}),)),
        "entities.0.attrs: the name 'n\\udcff': a lone surrogate",
    ),
    "surrogate in an id": (
        _event(entities=(EntityObs("port:ns/eth\udcff", "port"),)),
        "entities.0.id: entity id 'port:ns/eth\\udcff': a lone surrogate",
    ),
    "surrogate in a source": (
        Observation("netlink:\udcff", at(1), "event"),
        "source: a lone surrogate (\\udcff)",
    ),
    "a string too long": (
        _event(relations=(RelationObs(RelKey("vm:1", "runs_on", "host:a"), {"x": "a" * 65_537}),)),
        "relations.0.attrs.x: a string of 65,537 characters",
    ),
    "beyond 2^64 in an attribute": (
        _event(entities=(ent("vm:1", x=[1, 2**64]),)),
        "entities.0.attrs.x.1: integer 18446744073709551616 is out of range",
    ),
    "a huge sample": (
        _event(samples=(SampleObs("vm:1", "m", 10**400),)),
        "samples.0.value: integer 100000000000…0000 (401 digits) is out of range",
    ),
    "an id twice": (
        _event(entities=(ent("vm:1", a=1), ent("vm:2"), ent("vm:1", a=2))),
        "entities.2: entity vm:1 is listed twice (entities.0)",
    ),
    "a relation twice": (
        _event(relations=(rel("vm:1", "runs_on", "host:a"), rel("vm:1", "runs_on", "host:a"))),
        "relations.1: relation vm:1 runs_on host:a is listed twice (relations.0)",
    ),
}


@pytest.mark.parametrize("case", sorted(IN_PROCESS))
def test_check_holds_in_process_observations_to_the_same_limits(case: str) -> None:
    o, says = IN_PROCESS[case]
    with pytest.raises(ObservationError) as err:
        check(o)
    message = str(err.value)
    assert says in message and "\n" not in message
    message.encode("utf-8")  # printable as it is: no surrogate of its own


def test_check_accepts_the_limits_themselves() -> None:
    o = event(
        "probe",
        1,
        ent("vm:1", x=_nested(limits.MAX_DEPTH), s="a" * limits.STRING_MAX, f=math.ulp(0.0)),
        ent("vm:" + "a" * 511, **{"k" * limits.NAME_MAX: limits.INT_MAX}),
    )
    assert check(o) is o


def test_record_from_a_file_skips_each_hostile_line_and_keeps_going(
    store: SqliteStore, tmp_path: Path
) -> None:
    path = tmp_path / "obs.jsonl"
    other = GOOD.replace(b'"vm:1"', b'"vm:2"').replace(b"web-1", b"web-2")
    bad = [line for line, _ in HOSTILE.values()]
    path.write_bytes(b"\n".join([GOOD, *bad, other]) + b"\n")
    runner = Runner(store, [parse_source(f"file:{path}")], interval=0.2)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while runner.stats().writer.recorded < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        st = runner.stats()
    finally:
        runner.stop()
    assert st.writer.recorded == 2 and st.writer.dropped == 0
    source = st.sources[0]
    assert source.last_error is not None and "\n" not in source.last_error
    assert f"line {len(bad) + 1}: " in source.last_error, source.last_error
    assert StatsReader(store).counts()["journal"] == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["show", "vm:1", "--at=-99999999999h"], "'-99999999999h' is out of range"),
        (["show", "vm:1", "--at=-3000000d"], "'-3000000d' is out of range"),
        (["show", "vm:1", "--at", "3000000 days ago"], "'3000000 days ago' is out of range"),
        (["history", "vm:1", "--from", "-99999999999999999999w"], "is out of range"),
        (["show", "vm:\udcff"], "'vm:\\udcff' is not UTF-8 text"),
        # --for: what was accepted before ends by itself, and the test fails
        (
            ["record", "--source", "file:x", "--for", "1s", "--interval", "99999999999999999d"],
            "range",
        ),
        (["record", "--source", "file:x", "--for", "1s", "--interval", "9999999w"], "365 days"),
    ],
)
def test_cli_arguments_out_of_range_get_one_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    db = tmp_path / "vtrail.db"
    ingest(db, GOOD)
    done = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert done.exit_code == 2, done.output
    assert done.stderr.startswith("error: ") and says in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_answers_are_json_whatever_was_recorded(
    api: tuple[TestClient, Path, dict[str, str]],
) -> None:
    """Item 2: what gets in prints as JSON; NaN and Infinity do not get in (above)."""
    c, db, auth = api
    extremes = (
        '{"lo":-9223372036854775808,"hi":18446744073709551615,"max":1.7976931348623157e308,'
        '"min":5e-324,"neg":-0.0,"text":"\\u0000\\"<\\u2028>"}'
    )
    body = b"\n".join(
        [
            entity(extremes),
            value("18446744073709551615"),
            value("1.7976931348623157e308").replace(b"rx_bytes", b"load"),
        ]
    )
    assert c.post("/api/observations", content=body, headers=auth).status_code == 200
    for args in (["show", "vm:1"], ["lifetime", "vm:1"], ["history", "vm:1"]):
        done = CliRunner().invoke(cli, [*args, "-o", "json", "--db", str(db)])
        assert done.exit_code == 0, done.output
        _strict_json(done.stdout)
    r = c.get("/api/show/vm:1", params={"at": "now"})
    assert r.status_code == 200, r.text
    assert str(2**64 - 1) in r.text  # exactly
    _strict_json(r.text)

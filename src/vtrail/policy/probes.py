"""The `probes:` part of a policy file: read and checked (`read_probes`), and written
back in the same form (`probe_document`), which is also how a probe is recorded.

A probe measures its targets from a vantage point, round after round:

    probes:
      - {name: web-to-db, from: {netns: h-web}, to: db, kind: icmp, every: 10s, count: 5}
      - {name: db-port, to: db, kind: tcp, port: 5432, every: 30s}
      - {name: web-health, to: {service: web}, kind: http, path: /health,
         degraded: {loss: 0.5, rtt: 4, baseline: 30m}}

Every refusal names its place like the rest of the file (`probes[0] (web-to-db):
to: unknown service 'dbb' ...`). The format is docs/policy.md's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any, cast

from vtrail.ids import host_id, parse_named
from vtrail.model import InvalidId, split_id
from vtrail.policy.model import (
    PROBE_KINDS,
    TARGET_KINDS,
    Degraded,
    Probe,
    ProbeKind,
    ProbeTo,
    TargetKind,
    Vantage,
    VantageKind,
)
from vtrail.policy.places import (
    At,
    described,
    is_name,
    known_names,
    quoted,
    read_address,
    read_count,
    read_entity_id,
    read_list,
    read_mapping,
    read_optional_text,
    read_text,
)
from vtrail.timeexpr import TimeParseError, parse_duration

_PROBE = (
    "name", "description", "from", "to", "kind", "every", "count", "port", "path", "timeout",
    "degraded",
)  # fmt: skip
_FROM = ("netns", "host")
_DEGRADED = ("loss", "rtt", "baseline")

#: How often a probe may run, at most and at least.
EVERY_MIN, EVERY_MAX = timedelta(seconds=1), timedelta(days=1)
#: Packets or connections in one round.
COUNT_MAX = 100
#: A round's packets (icmp) or connections are sent this far apart.
SPACING = timedelta(milliseconds=200)
#: When the file gives no `count`: several packets for icmp (loss and jitter need
#: them), one connection for tcp and http.
DEFAULT_COUNT: dict[str, int] = {"icmp": 5, "tcp": 1, "http": 1}
DEFAULT_HTTP_PORT = 80
DEFAULT_EVERY = timedelta(seconds=10)
DEFAULT_TIMEOUT = timedelta(seconds=1)

_UNITS = (
    ("w", timedelta(weeks=1)),
    ("d", timedelta(days=1)),
    ("h", timedelta(hours=1)),
    ("m", timedelta(minutes=1)),
    ("s", timedelta(seconds=1)),
    ("ms", timedelta(milliseconds=1)),
)


def duration_text(d: timedelta) -> str:
    """`d` in the largest unit that says it exactly: `10s`, `10m`, `250ms`."""
    if not d:
        return "0s"
    for name, unit in _UNITS:
        if d % unit == timedelta(0):
            return f"{d // unit}{name}"
    return f"{d // timedelta(microseconds=1)}us"


def _duration(value: object, at: At, lo: timedelta, hi: timedelta) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            found = timedelta(seconds=value)
        except OverflowError:
            raise at.bad(f"{value} seconds is out of range") from None
    elif isinstance(value, str):
        try:
            found = parse_duration(value)
        except TimeParseError as e:
            raise at.bad(str(e)) from None
    else:
        raise at.bad(f"expected a duration (10s, 1m, 500ms), got {described(value)}")
    if not lo <= found <= hi:
        raise at.bad(
            f"{duration_text(found)} is out of range: from {duration_text(lo)} "
            f"to {duration_text(hi)}"
        )
    return found


def _number(value: object, at: At, lo: float, hi: float, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise at.bad(f"expected {what}, got {described(value)}")
    if not lo <= value <= hi:
        raise at.bad(f"{value} is out of range: from {lo:g} to {hi:g}")
    return float(value)


def _one_of(m: Mapping[str, Any], keys: tuple[str, ...], at: At, what: str) -> str:
    given = [k for k in keys if k in m]
    if len(given) != 1:
        said = f"{len(given)} ({', '.join(given)})" if given else "none"
        raise at.bad(f"{what} takes exactly one of {', '.join(keys)}; got {said}")
    return given[0]


def _vantage(value: object, at: At) -> Vantage:
    m = read_mapping(value, at, _FROM, "a vantage point ({netns: NAME} or {host: NAME})")
    kind = _one_of(m, _FROM, at, "from")
    name = read_text(m[kind], at.key(m, kind))
    if kind == "host":
        if name.partition(":")[0] == "host":  # written as its id
            name = parse_named(name, "host")
        try:
            split_id(host_id(name))
        except InvalidId:
            raise at.key(m, kind).bad(f"{quoted(name)} is not a host name") from None
    elif not is_name(name):
        # It names a file under /run/netns: no '/', no '..'.
        raise at.key(m, kind).bad(
            f"{quoted(name)} is not a namespace name: letters, digits, '.', '_' and '-'"
        )
    return Vantage(cast(VantageKind, kind), name)


def _address(value: object, at: At) -> str:
    return str(read_address(value, at))


def _to(
    value: object, at: At, services: Collection[str] | None, domains: Collection[str] | None
) -> ProbeTo:
    """What the probe measures; `services` and `domains` None when they are not known
    (a probe read back from the store, which was checked when it was applied)."""

    def named(kind: str, v: object, where: At, known: Collection[str] | None) -> ProbeTo:
        name = read_text(v, where)
        if not is_name(name):
            raise where.bad(f"{quoted(name)} is not a {kind} name")
        if known is not None and name not in known:
            what = f"{kind}s"
            raise where.bad(f"unknown {kind} {quoted(name)} {known_names(name, known, what)}")
        return ProbeTo(cast(TargetKind, kind), (name,))

    if isinstance(value, str):
        return named("service", value, at, services)
    m = read_mapping(value, at, TARGET_KINDS, "a service's name, or a mapping")
    kind = _one_of(m, TARGET_KINDS, at, "to")
    where = at.key(m, kind)
    if kind == "service":
        return named(kind, m[kind], where, services)
    if kind == "domain":
        return named(kind, m[kind], where, domains)
    read = read_entity_id if kind == "ids" else _address
    names = read_list(m[kind], where, "entity ids" if kind == "ids" else "addresses", read)
    if not names:
        raise where.bad(f"{kind} names at least one")
    return ProbeTo(cast(TargetKind, kind), names)


def _degraded(value: object, at: At) -> Degraded:
    m = read_mapping(value, at, _DEGRADED, "a mapping (loss, rtt, baseline)")
    d = Degraded()
    return Degraded(
        _number(m["loss"], at.key(m, "loss"), 0, 1, "a ratio (0.2)") if "loss" in m else d.loss,
        _number(m["rtt"], at.key(m, "rtt"), 1, 1000, "a multiple (3)") if "rtt" in m else d.rtt,
        _duration(m["baseline"], at.key(m, "baseline"), EVERY_MIN, timedelta(days=7))
        if "baseline" in m
        else d.baseline,
    )


def read_probe(
    value: object,
    at: At,
    services: Collection[str] | None = None,
    domains: Collection[str] | None = None,
) -> Probe:
    """One probe of the list, checked whole."""
    if isinstance(value, dict):
        at = at.named(value.get("name"))
    m = read_mapping(value, at, _PROBE, "a mapping (name, to, kind, ...)")
    if "name" not in m:
        raise at.bad("a probe needs a name")
    name = m["name"]
    if not is_name(name):
        raise at.key(m, "name").bad(
            f"{quoted(name)} is not a name: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, at most 64 characters"
        )
    if "to" not in m:
        raise at.bad(
            "a probe needs to: a service, {domain: NAME}, {ids: [...]} or {addresses: [...]}"
        )
    to = _to(m["to"], at.key(m, "to"), services, domains)
    kind = read_text(m.get("kind", "icmp"), at.key(m, "kind"))
    if kind not in PROBE_KINDS:
        known = known_names(kind, PROBE_KINDS, "known")
        raise at.key(m, "kind").bad(f"unknown probe kind {quoted(kind)} {known}")
    vantage = _vantage(m["from"], at.key(m, "from")) if "from" in m else None
    every = DEFAULT_EVERY
    if "every" in m:
        every = _duration(m["every"], at.key(m, "every"), EVERY_MIN, EVERY_MAX)
    count = DEFAULT_COUNT[kind]
    if "count" in m:
        count = read_count(m["count"], at.key(m, "count"), 1, COUNT_MAX)
    port = None
    if "port" in m:
        if kind == "icmp":
            raise at.key(m, "port").bad("an icmp probe has no port")
        port = read_count(m["port"], at.key(m, "port"), 1, 65535)
    elif kind == "tcp":
        raise at.bad("a tcp probe needs a port")
    elif kind == "http":
        port = DEFAULT_HTTP_PORT
    path = None
    if "path" in m:
        if kind != "http":
            raise at.key(m, "path").bad(f"only an http probe has a path, not {kind}")
        path = read_text(m["path"], at.key(m, "path"))
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise at.key(m, "path").bad(f"{quoted(path)} is not a path: it starts with '/'")
    elif kind == "http":
        path = "/"
    timeout = min(DEFAULT_TIMEOUT, every / 2)
    if "timeout" in m:
        timeout = _duration(m["timeout"], at.key(m, "timeout"), timedelta(milliseconds=1), every)
    # A round must end before the next begins, or rounds would pile up on a slow target.
    needs = timeout + SPACING * (count - 1)
    if needs >= every:
        raise at.bad(
            f"a round takes up to {duration_text(needs)} ({count} x {duration_text(SPACING)} "
            f"apart, then timeout {duration_text(timeout)}): more than every "
            f"{duration_text(every)}; lower count or timeout, or probe less often"
        )
    degraded = _degraded(m["degraded"], at.key(m, "degraded")) if "degraded" in m else Degraded()
    return Probe(
        name, to, cast(ProbeKind, kind), vantage, every, count, port, path, timeout, degraded,
        read_optional_text(m, "description", at),
    )  # fmt: skip


def read_probes(
    listed: object, where: At, services: Collection[str], domains: Collection[str]
) -> dict[str, Probe]:
    """The `probes:` list, by name (each name once)."""
    if listed is None:
        return {}
    if not isinstance(listed, list):
        raise where.bad(f"expected a list of probes, got {described(listed)}")
    probes: dict[str, Probe] = {}
    for i, value in enumerate(listed):
        probe = read_probe(value, where.item(listed, i), services, domains)
        if probe.name in probes:
            first = list(probes).index(probe.name)
            raise (
                where.item(listed, i)
                .named(probe.name)
                .bad(f"the probe name {probe.name!r} is taken by probes[{first}]")
            )
        probes[probe.name] = probe
    return probes


# -- written back ----------------------------------------------------------------------


def probe_document(p: Probe) -> dict[str, Any]:
    """The probe in the file's form, every value said (defaults included), so that a
    policy shown says what runs."""
    doc: dict[str, Any] = {"name": p.name}
    if p.vantage is not None:
        doc["from"] = {p.vantage.kind: p.vantage.name}
    if p.to.kind == "service":
        doc["to"] = p.to.names[0]
    elif p.to.kind == "domain":
        doc["to"] = {"domain": p.to.names[0]}
    else:
        doc["to"] = {p.to.kind: list(p.to.names)}
    doc |= {"kind": p.kind, "every": duration_text(p.every), "count": p.count}
    if p.port is not None:
        doc["port"] = p.port
    if p.path is not None:
        doc["path"] = p.path
    doc["timeout"] = duration_text(p.timeout)
    d = p.degraded
    doc["degraded"] = {"loss": d.loss, "rtt": d.rtt, "baseline": duration_text(d.baseline)}
    if p.description is not None:
        doc["description"] = p.description
    return doc

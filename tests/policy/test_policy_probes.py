"""The policy's probes: the issue's shape read with its defaults, every fault refused in
one line naming the place, and a probe written back (as a file, as an entity, as a
diff) read back the same."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from vtrail.cli.main import app
from vtrail.ids import KINDS
from vtrail.policy.diff import changed_keys, changes
from vtrail.policy.document import to_yaml
from vtrail.policy.load import PolicyError, parse_policy
from vtrail.policy.model import Degraded, Domain, Policy, Probe, ProbeTo, Selector, Service, Vantage
from vtrail.policy.record import from_attrs, to_observation
from vtrail.timeexpr import parse_time

PROBES = """\
services:
  web: {members: {kind: vm, name: "web-*"}}
  db:  {members: {kind: vm, name: "db-*"}}
domains:
  rack-1: {hosts: [hv-a]}
probes:
  - {name: web-to-db, from: {netns: h-web}, to: db, kind: icmp, every: 10s, count: 5}
  - {name: db-port, to: db, kind: tcp, port: 5432, every: 30s}
  - {name: web-health, to: web, kind: http, path: /health, every: 30s}
  - name: rack
    from: {host: hv-a}
    to: {domain: rack-1}
    timeout: 500ms
    degraded: {loss: 0.5, rtt: 4, baseline: 30m}
  - {name: raw, to: {addresses: [10.0.0.1, "fd00::1"]}, every: 1m}
  - {name: some, to: {ids: ["vm:6695eb01"]}, kind: tcp, port: 22, count: 3}
"""


def parse(text: str) -> Policy:
    return parse_policy(text, "policy.yaml")


def test_the_issues_probes_are_read_with_their_defaults() -> None:
    p = parse(PROBES)
    assert list(p.probes) == ["web-to-db", "db-port", "web-health", "rack", "raw", "some"]
    assert p.probes["web-to-db"] == Probe(
        "web-to-db", ProbeTo("service", ("db",)), "icmp", Vantage("netns", "h-web"),
        timedelta(seconds=10), 5, timeout=timedelta(seconds=1),
    )  # fmt: skip
    tcp = p.probes["db-port"]
    assert (tcp.kind, tcp.port, tcp.count, tcp.vantage, tcp.every) == (
        "tcp", 5432, 1, None, timedelta(seconds=30),
    )  # fmt: skip
    http = p.probes["web-health"]
    assert (http.port, http.path, http.count) == (80, "/health", 1)
    assert tcp.degraded == http.degraded == Degraded(0.2, 3.0, timedelta(minutes=10))
    rack = p.probes["rack"]
    assert rack.to == ProbeTo("domain", ("rack-1",))
    assert rack.vantage == Vantage("host", "hv-a")
    assert rack.timeout == timedelta(milliseconds=500)
    assert rack.degraded == Degraded(0.5, 4.0, timedelta(minutes=30))
    assert p.probes["raw"].to == ProbeTo("addresses", ("10.0.0.1", "fd00::1"))
    assert p.probes["some"].to == ProbeTo("ids", ("vm:6695eb01",))


def test_probes_are_a_list() -> None:
    with pytest.raises(PolicyError) as e:
        parse("probes: {a: 1}\n")
    assert str(e.value) == "policy.yaml:1: probes: expected a list of probes, got a mapping"


def test_a_policy_without_probes_has_none() -> None:
    assert parse("services: {web: {members: {kind: vm}}}\n").probes == {}
    assert "probes" not in to_yaml(parse("{}\n"))


L = "policy.yaml:7: probes[0] (web-to-db): "
BAD = [
    ("to: db, kind: icmp", "to: dbb, kind: icmp",
     L + "to: unknown service 'dbb' (did you mean 'db'? services: db, web)"),
    ("every: 10s, count: 5", "every: 10 sec0nds, count: 5",
     L + "every: unknown unit 'nds' in duration '10 sec0nds' (us, ms, s, m, h, d, w, or their "
        "names: 5 minutes)"),
    ("every: 10s, count: 5", "every: 0s, count: 5", L + "every: 0s is out of range: from 1s to 1d"),
    ("every: 10s, count: 5", "every: [10s], count: 5",
     L + "every: expected a duration (10s, 1m, 500ms), got a list"),
    ("port: 5432, ", "", "policy.yaml:8: probes[1] (db-port): a tcp probe needs a port"),
    ("port: 5432", "port: 70000",
     "policy.yaml:8: probes[1] (db-port): port: 70000 is out of range: from 1 to 65535"),
    ("count: 5}", "count: 0}", L + "count: 0 is out of range: from 1 to 100"),
    ("count: 5}", "count: 5, cnt: 5}",
     L + "cnt: unknown key 'cnt' (did you mean 'count'? allowed: count, degraded, description, "
     "every, from, kind, name, path, port, timeout, to)"),
    ("name: raw", "name: db-port",
     "policy.yaml:15: probes[4] (db-port): the probe name 'db-port' is taken by probes[1]"),
    ("{name: web-to-db, ", "{", "policy.yaml:7: probes[0]: a probe needs a name"),
    ("kind: icmp", "kind: udp",
     L + "kind: unknown probe kind 'udp' (known: http, icmp, tcp)"),
    ("kind: icmp", "kind: icmp, port: 7", L + "port: an icmp probe has no port"),
    ("kind: tcp, port: 5432", "kind: tcp, port: 5432, path: /x",
     "policy.yaml:8: probes[1] (db-port): path: only an http probe has a path, not tcp"),
    ("path: /health", "path: health",
     "policy.yaml:9: probes[2] (web-health): path: 'health' is not a path: it starts with '/'"),
    ("from: {netns: h-web}", "from: {netns: h-web, host: hv-a}",
     L + "from: from takes exactly one of netns, host; got 2 (netns, host)"),
    ("from: {netns: h-web}", "from: {netns: ../h}",
     L + "from.netns: '../h' is not a namespace name: letters, digits, '.', '_' and '-'"),
    ("to: {domain: rack-1}", "to: {domain: rack-2}",
     "policy.yaml:12: probes[3] (rack): to.domain: unknown domain 'rack-2' (did you mean "
     "'rack-1'? domains: rack-1)"),
    ("to: {domain: rack-1}", "to: {domain: rack-1, service: web}",
     "policy.yaml:12: probes[3] (rack): to: to takes exactly one of service, domain, ids, "
     "addresses; got 2 (service, domain)"),
    ("10.0.0.1, ", "10.0.0.300, ",
     "policy.yaml:15: probes[4] (raw): to.addresses[0]: '10.0.0.300' is not an IP address"),
    ('"fd00::1"', "10.0.0.1",
     "policy.yaml:15: probes[4] (raw): to.addresses[1]: '10.0.0.1' is listed twice"),
    ('["vm:6695eb01"]', '["VM 1"]',
     "policy.yaml:16: probes[5] (some): to.ids[0]: entity id 'VM 1' is not of the form kind:key "
     "(lowercase kind, a colon, then a non-empty key)"),
    ("loss: 0.5", "loss: 1.5",
     "policy.yaml:14: probes[3] (rack): degraded.loss: 1.5 is out of range: from 0 to 1"),
    ("rtt: 4", "rtt: x4",
     "policy.yaml:14: probes[3] (rack): degraded.rtt: expected a multiple (3), got the text 'x4'"),
    ("timeout: 500ms", "timeout: 10s",
     "policy.yaml:10: probes[3] (rack): a round takes up to 10800ms (5 x 200ms apart, then "
     "timeout 10s): more than every 10s; lower count or timeout, or probe less often"),
    ("timeout: 500ms", "timeout: 11s",
     "policy.yaml:13: probes[3] (rack): timeout: 11s is out of range: from 1ms to 10s"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "line"), BAD)
def test_a_bad_probe_is_refused_in_one_line_naming_the_place(old: str, new: str, line: str) -> None:
    assert old in PROBES
    with pytest.raises(PolicyError) as e:
        parse(PROBES.replace(old, new, 1))
    assert str(e.value) == line


# -- written back, read back -------------------------------------------------------------

_durations = st.sampled_from([timedelta(seconds=s) for s in (10, 30, 60, 90, 3600)])


@st.composite
def probes(draw: st.DrawFn) -> Probe:
    kind = draw(st.sampled_from(["icmp", "tcp", "http"]))
    to = draw(
        st.sampled_from(
            [
                ProbeTo("service", ("web",)),
                ProbeTo("domain", ("rack-1",)),
                ProbeTo("ids", ("vm:a", "host:hv-a")),
                ProbeTo("addresses", ("10.0.0.1",)),
            ]
        )
    )
    vantage = draw(
        st.none() | st.builds(Vantage, st.sampled_from(["netns", "host"]), st.just("h-1"))
    )
    port = draw(st.integers(1, 65535)) if kind != "icmp" else None
    path = draw(st.sampled_from(["/", "/health"])) if kind == "http" else None
    degraded = Degraded(draw(st.floats(0, 1)), draw(st.floats(1, 1000)), draw(_durations))
    description = draw(st.none() | st.just("why"))
    return Probe(
        draw(st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z")), to, kind, vantage, draw(_durations),
        draw(st.integers(1, 20)), port, path,
        draw(st.sampled_from([timedelta(milliseconds=250), timedelta(seconds=1)])),
        degraded, description,
    )  # fmt: skip


def _with(ps: list[Probe]) -> Policy:
    return Policy(
        {"web": Service("web", Selector("vm", "web-*"))},
        {"rack-1": Domain("rack-1", ("hv-a",))},
        {},
        {p.name: p for p in ps},
    )


QUICK = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@QUICK
@given(st.lists(probes(), unique_by=lambda p: p.name, max_size=4))
def test_probes_recorded_and_shown_read_back_exactly(ps: list[Probe]) -> None:
    p = _with(ps)
    o = to_observation(p, parse_time("2026-11-20T03:00Z"))
    assert from_attrs((e.id, e.attrs) for e in o.entities) == p
    assert parse(to_yaml(p)) == p


def test_a_probe_is_an_entity_of_its_own_kind_saying_every_value() -> None:
    assert "probe" in KINDS
    o = to_observation(parse(PROBES), parse_time("2026-11-20T03:00Z"))
    by_id = {e.id: (e.kind, dict(e.attrs)) for e in o.entities}
    assert by_id["probe:web-to-db"] == (
        "probe",
        {
            "name": "web-to-db", "from": {"netns": "h-web"}, "to": "db", "kind": "icmp",
            "every": "10s", "count": 5, "timeout": "1s",
            "degraded": {"loss": 0.2, "rtt": 3.0, "baseline": "10m"},
        },
    )  # fmt: skip


def test_a_recorded_probe_that_is_no_probe_is_refused() -> None:
    with pytest.raises(PolicyError) as e:
        from_attrs([("probe:x", {"name": "x", "to": "db", "kind": "udp"})])
    assert str(e.value) == (
        "probe:x as recorded is no policy's: probe:x (x): kind: unknown probe kind 'udp' "
        "(known: http, icmp, tcp)"
    )


def test_a_changed_probe_is_diffed_key_by_key() -> None:
    old = parse(PROBES)
    new = parse(
        PROBES.replace("count: 5}", "count: 3}").replace("  - {name: db-port", "  - {name: db-p2")
    )
    found = {(c.part, c.name, c.change) for c in changes(old, new)}
    assert found == {
        ("probe", "web-to-db", "changed"),
        ("probe", "db-port", "removed"),
        ("probe", "db-p2", "added"),
    }
    (changed,) = [c for c in changes(old, new) if c.change == "changed"]
    assert changed_keys(changed) == [("count", 5, 3)]


# -- through the CLI, on a real store -------------------------------------------------------


@pytest.mark.both_stores
def test_probes_are_applied_shown_and_diffed_by_the_cli(tmp_path: Path, db_location: str) -> None:
    db = db_location

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--db", db], env={"COLUMNS": "200"})

    first, second = tmp_path / "p1.yaml", tmp_path / "p2.yaml"
    first.write_text(PROBES)
    second.write_text(PROBES.replace("count: 5}", "count: 3}"))
    applied = run("policy", "apply", str(first), "-o", "json")
    assert applied.exit_code == 0, applied.output
    t1 = json.loads(applied.stdout)["at"]
    added = {(c["part"], c["name"]) for c in json.loads(applied.stdout)["changes"]}
    assert ("probe", "web-to-db") in added and ("probe", "raw") in added
    assert json.loads(applied.stdout)["probes"] == 6
    shown = run("policy", "show", "--at", t1)
    assert shown.exit_code == 0, shown.output
    assert parse(shown.stdout) == parse(PROBES)
    assert "probes:" in shown.stdout and "baseline: 10m" in shown.stdout
    again = run("policy", "apply", str(second))
    assert again.exit_code == 0, again.output
    assert "6 probes" in " ".join(again.stdout.split())
    diff = run("policy", "diff", "--from", t1)
    assert diff.exit_code == 0, diff.output
    assert "web-to-db" in diff.stdout and "count: 5 → 3" in diff.stdout

"""Compliance on real stores: each rule kind holding and broken, exact interval edges, the
violation between two polls, the VM that lived 20 s, membership over time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from api.story import DB, WEB, record_story
from api.story import at as minute
from factory import T0, at, ent, event, rel, snap
from vtrail.model import Observation
from vtrail.policy.model import Domain, Policy, Rule, RuleKind, Selector, Service
from vtrail.query.state import BadWindow
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.triage import check, membership
from vtrail.triage.answer import RuleCheck
from vtrail.triage.rules import EVALUATE, Breach, Context

pytestmark = pytest.mark.both_stores

SRC = "libvirt@fabric"
HOSTS = ("hv-a", "hv-b", "hv-c")


def vm(name: str) -> str:
    return f"vm:{name}"


def fleet(
    seconds: float, placement: dict[str, str], names: dict[str, str] | None = None
) -> Observation:
    """A snapshot of the whole fabric: every host, and each VM on its host."""
    items: list[object] = [ent(f"host:{h}", hostname=h) for h in HOSTS]
    for key, host in placement.items():
        name = (names or {}).get(key, key)
        items += [ent(vm(key), name=name, state="running"), rel(vm(key), "runs_on", f"host:{host}")]
    return snap(SRC, seconds, *items)


def move(seconds: float, key: str, old: str, new: str) -> Observation:
    """A migration as libvirt's event says it: the VM's host changes at one instant."""
    return event(
        SRC,
        seconds,
        rel(vm(key), "runs_on", f"host:{new}"),
        gone_relations=((vm(key), "runs_on", f"host:{old}"),),
    )


def record(store: SqliteStore, *observations: Observation) -> None:
    Recorder(store).record(list(observations))


def service(name: str, glob: str) -> Service:
    return Service(name, Selector(kind="vm", name=glob))


SERVICES = {
    "db": service("db", "db-*"),
    "web": service("web", "web-*"),
    "cache": service("cache", "cache-*"),
}
DOMAINS = {
    "rack-1": Domain("rack-1", hosts=("hv-a", "hv-b")),
    "rack-2": Domain("rack-2", hosts=("hv-c",)),
}


def policy(*rules: Rule) -> Policy:
    return Policy(SERVICES, DOMAINS, {r.name: r for r in rules})


def one(answer_rules: list[RuleCheck]) -> RuleCheck:
    assert len(answer_rules) == 1
    return answer_rules[0]


def at_instant(store: SqliteStore, p: Policy, seconds: float) -> RuleCheck:
    return one(check(store, p, "test", at=at(seconds)).rules)


def over(store: SqliteStore, p: Policy, a: float, b: float) -> RuleCheck:
    return one(check(store, p, "test", t_from=at(a), t_to=at(b)).rules)


# -- each kind, holding and broken -------------------------------------------------------

APART = {"db-1": "hv-a", "db-2": "hv-b", "web-1": "hv-a", "web-2": "hv-b", "cache-1": "hv-a"}

#: kind, services, hosts, the placement that breaks it, the members and reason it gives.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, str], list[str], str]] = {
    "anti-affinity": (
        ("db",),
        (),
        {"db-2": "hv-a"},
        ["vm:db-1", "vm:db-2"],
        "db-1 and db-2 both on hv-a",
    ),
    "affinity": (
        ("cache", "web"),
        (),
        {"cache-1": "hv-c"},
        ["vm:cache-1"],
        "cache-1 on hv-c, apart from web-1 and web-2 on hv-a",
    ),
    "host-affinity": (
        ("db",),
        ("hv-a", "hv-b"),
        {"db-2": "hv-c"},
        ["vm:db-2"],
        "db-2 on hv-c, not on hv-a or hv-b",
    ),
    "host-anti-affinity": (
        ("web",),
        ("hv-c",),
        {"web-2": "hv-c"},
        ["vm:web-2"],
        "web-2 on hv-c, which the rule excludes",
    ),
    "same-domain": (
        ("web",),
        (),
        {"web-2": "hv-c"},
        ["vm:web-2"],
        "web-2 is outside rack-1, where web-1 is",
    ),
}
HOLDING = {
    "anti-affinity": APART,
    "affinity": {**APART, "web-2": "hv-a"},
    "host-affinity": APART,
    "host-anti-affinity": APART,
    "same-domain": APART,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_rule_kind_holds_and_is_broken(store: SqliteStore, kind: RuleKind) -> None:
    services, hosts, breaking, members, reason = KINDS[kind]
    good = HOLDING[kind]
    record(store, fleet(0, good), fleet(60, {**good, **breaking}))
    p = policy(Rule("r", kind, services, hosts))
    holding = at_instant(store, p, 30)
    assert (holding.holds, holding.members, holding.reason, holding.violations) == (
        True,
        [],
        None,
        [],
    )
    broken = at_instant(store, p, 60)
    assert (broken.holds, broken.members, broken.reason) == (False, members, reason)
    assert [v.members for v in broken.violations] == [members]
    assert broken.violations[0].t_from == at(60) and broken.violations[0].t_to is None


def test_max_hops_counts_router_hops_on_the_path_at_t(tmp_path: Path) -> None:
    """The story: web-1 and db-1 are one router apart, until web-1's NIC is moved to a
    bridge with no uplink at minute 20 and back at minute 30."""
    store = SqliteStore(record_story(tmp_path / "story.db"))
    services = {"web": service("web", "web-*"), "db": service("db", "db-*")}

    def hops(limit: int) -> Policy:
        return Policy(services, {}, {"near": Rule("near", "max-hops", ("web", "db"), hops=limit)})

    one_hop = one(check(store, hops(1), "t", at=minute(12)).rules)
    assert one_hop.holds
    none_allowed = one(check(store, hops(0), "t", at=minute(12)).rules)
    assert not none_allowed.holds and none_allowed.members == [WEB, DB]
    assert none_allowed.reason == "web-1 to db-1: 1 router hop, at most 0"
    cut = one(check(store, hops(1), "t", at=minute(25)).rules)
    assert not cut.holds and cut.reason is not None and "no path" in cut.reason
    window = one(check(store, hops(1), "t", t_from=minute(2), t_to=minute(40)).rules)
    assert [(v.t_from, v.t_to, v.members) for v in window.violations] == [
        (minute(20), minute(30), [WEB, DB])
    ]
    store.close()


def test_a_domain_of_bridges_holds_what_is_plugged_into_them(tmp_path: Path) -> None:
    store = SqliteStore(record_story(tmp_path / "story.db"))
    both = Service("both", Selector(kind="vm", ids=(WEB, DB)))
    p = Policy(
        {"both": both},
        {"lan": Domain("lan", bridges=("br-web", "hv-a/br-db"))},
        {"together": Rule("together", "same-domain", ("both",))},
    )
    window = one(check(store, p, "t", t_from=minute(2), t_to=minute(40)).rules)
    assert [(v.t_from, v.t_to, v.members, v.reason) for v in window.violations] == [
        (minute(20), minute(30), [WEB], "web-1 is outside lan, where db-1 is")
    ]
    assert window.holds
    store.close()


# -- intervals -------------------------------------------------------------------------


def test_a_violation_runs_from_the_change_that_began_it_to_the_one_that_ended_it(
    store: SqliteStore,
) -> None:
    began, ended = 10.000123, 40.5
    record(
        store,
        fleet(0, APART),
        move(began, "db-2", "hv-b", "hv-a"),
        move(ended, "db-2", "hv-a", "hv-b"),
    )
    rule = over(store, policy(Rule("apart", "anti-affinity", ("db",))), 0, 60)
    assert rule.holds
    [v] = rule.violations
    assert (v.t_from, v.t_to, v.in_force_at_start) == (at(began), at(ended), False)
    assert v.t_from == T0 + timedelta(seconds=10, microseconds=123)
    assert (v.members, v.place, v.reason) == (
        ["vm:db-1", "vm:db-2"],
        "host:hv-a",
        "db-1 and db-2 both on hv-a",
    )


def test_a_30_second_violation_between_two_polls_is_found(store: SqliteStore) -> None:
    record(
        store,
        fleet(0, APART),
        move(15, "db-2", "hv-b", "hv-a"),
        move(45, "db-2", "hv-a", "hv-b"),
        fleet(60, APART),
    )
    p = policy(Rule("apart", "anti-affinity", ("db",)))
    assert at_instant(store, p, 0).holds and at_instant(store, p, 60).holds
    assert not at_instant(store, p, 30).holds
    [v] = over(store, p, 0, 60).violations
    assert v.t_to is not None and (v.t_to - v.t_from).total_seconds() == 30


def test_a_vm_that_lived_20_seconds_breaks_the_rule_for_20_seconds(store: SqliteStore) -> None:
    record(
        store,
        fleet(0, APART),
        event(SRC, 20, ent(vm("db-3"), name="db-3"), rel(vm("db-3"), "runs_on", "host:hv-a")),
        event(SRC, 40, gone=(vm("db-3"),)),
        fleet(60, APART),
    )
    p = policy(Rule("apart", "anti-affinity", ("db",)))
    [v] = over(store, p, 0, 60).violations
    assert (v.t_from, v.t_to, v.members) == (at(20), at(40), ["vm:db-1", "vm:db-3"])
    members = membership(store, p, "db", at(0), at(60)).members
    assert [(m.entity, m.t_from, m.t_to) for m in members] == [
        ("vm:db-1", at(0), None),
        ("vm:db-2", at(0), None),
        ("vm:db-3", at(20), at(40)),
    ]


def test_a_violation_open_at_the_start_and_the_end_says_so(store: SqliteStore) -> None:
    record(store, fleet(0, {**APART, "db-2": "hv-a"}))
    [v] = over(store, policy(Rule("apart", "anti-affinity", ("db",))), 10, 20).violations
    assert (v.t_from, v.t_to, v.in_force_at_start) == (at(10), None, True)


def test_membership_follows_arrivals_and_renames(store: SqliteStore) -> None:
    record(
        store,
        fleet(0, {"web-1": "hv-a", "web-2": "hv-a"}),
        fleet(30, {"web-1": "hv-a", "web-2": "hv-a", "web-3": "hv-b"}),
        fleet(50, {"web-1": "hv-a", "web-2": "hv-a", "web-3": "hv-b"}, {"web-2": "old-2"}),
    )
    found = membership(store, policy(), "web", at(10), at(60)).members
    assert [(m.entity, m.t_from, m.t_to, m.in_force_at_start) for m in found] == [
        ("vm:web-1", at(10), None, True),
        ("vm:web-2", at(10), at(50), True),
        ("vm:web-3", at(30), None, False),
    ]
    # The rename takes web-2 out of the rule's reach from then on, and web-3 in.
    rule = over(store, policy(Rule("apart", "anti-affinity", ("web",))), 10, 60)
    assert [(v.t_from, v.t_to, v.members) for v in rule.violations] == [
        (at(10), at(50), ["vm:web-1", "vm:web-2"])
    ]


def test_a_rule_is_checked_against_history_recorded_before_it_existed(
    store: SqliteStore,
) -> None:
    """Retroactive: the history knows nothing of the policy; the rule still has answers."""
    record(
        store,
        fleet(0, APART),
        move(100, "web-2", "hv-b", "hv-c"),
        move(200, "web-2", "hv-c", "hv-b"),
    )
    written_today = policy(Rule("web-off-c", "host-anti-affinity", ("web",), hosts=("hv-c",)))
    [v] = over(store, written_today, 0, 300).violations
    assert (v.t_from, v.t_to, v.members) == (at(100), at(200), ["vm:web-2"])


def test_a_change_that_moves_the_members_apart_splits_the_violation(store: SqliteStore) -> None:
    """A violation is one set of members breaking the rule in one place: when a third
    joins them, the first ends and a wider one begins, at the same instant."""
    record(
        store,
        fleet(0, {"db-1": "hv-a", "db-2": "hv-a", "db-3": "hv-b"}),
        move(10, "db-3", "hv-b", "hv-a"),
    )
    rule = over(store, policy(Rule("apart", "anti-affinity", ("db",))), 0, 20)
    assert [(v.t_from, v.t_to, v.members) for v in rule.violations] == [
        (at(0), at(10), ["vm:db-1", "vm:db-2"]),
        (at(10), None, ["vm:db-1", "vm:db-2", "vm:db-3"]),
    ]
    assert rule.reason == "db-1, db-2 and db-3 all on hv-a"


def test_a_vm_that_runs_nowhere_breaks_no_placement_rule(store: SqliteStore) -> None:
    record(
        store,
        fleet(0, {"db-1": "hv-a"}),
        event(SRC, 1, ent(vm("db-2"), name="db-2", state="shutoff")),
    )
    assert at_instant(store, policy(Rule("apart", "anti-affinity", ("db",))), 2).holds


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "a check is at an instant (--at) or over a window (--from, --to)"),
        ({"at": at(1), "t_from": at(0), "t_to": at(2)}, "not both"),
        ({"t_from": at(2), "t_to": at(1)}, "before it starts"),
    ],
)
def test_a_check_is_at_an_instant_or_over_a_window(
    store: SqliteStore, kwargs: dict[str, datetime], message: str
) -> None:
    record(store, fleet(0, APART))
    with pytest.raises(BadWindow, match=re.escape(message)):
        check(store, policy(), "t", **kwargs)


def test_a_selector_by_attribute_or_id_follows_the_versions(store: SqliteStore) -> None:
    record(
        store,
        fleet(0, {"db-1": "hv-a", "db-2": "hv-b"}),
        event(SRC, 10, ent(vm("db-2"), name="db-2", state="shutoff")),
        event(SRC, 20, ent(vm("db-2"), name="db-2", state="running")),
    )
    running = Service("up", Selector(kind="vm", attrs=(("state", "running"),)))
    named = Service("two", Selector(ids=(vm("db-2"),)))
    p = Policy({"up": running, "two": named})
    found = membership(store, p, "up", at(0), at(30)).members
    assert [(m.entity, m.t_from, m.t_to) for m in found] == [
        ("vm:db-1", at(0), None),
        ("vm:db-2", at(0), at(10)),
        ("vm:db-2", at(20), None),
    ]
    found = membership(store, p, "two", at(0), at(30)).members
    assert [(m.entity, m.t_from, m.t_to) for m in found] == [("vm:db-2", at(0), None)]


def test_the_walk_evaluates_only_the_rules_a_change_touches(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves = [
        move(10 + i, "db-2", *(("hv-b", "hv-c") if i % 2 == 0 else ("hv-c", "hv-b")))
        for i in range(20)
    ]
    record(store, fleet(0, APART), *moves)
    asked: list[str] = []
    plain = EVALUATE["anti-affinity"]

    def counted(rule: Rule, cx: Context) -> list[Breach]:
        asked.append(rule.name)
        return plain(rule, cx)

    monkeypatch.setitem(EVALUATE, "anti-affinity", counted)
    p = policy(
        Rule("db-apart", "anti-affinity", ("db",)), Rule("web-apart", "anti-affinity", ("web",))
    )
    check(store, p, "t", t_from=at(0), t_to=at(60))
    # Once each at the start; then the db rule at each of its member's 20 moves, the web
    # rule never again.
    assert asked.count("web-apart") == 1
    assert asked.count("db-apart") == 21

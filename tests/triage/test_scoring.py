"""The suspects' scoring (docs/triage.md): each part alone, the weights, and the ranking
of changes read from a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory import at, ent, event, rel, snap
from vtrail.policy.load import parse_policy
from vtrail.policy.model import TriageSettings
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore
from vtrail.timeexpr import to_us
from vtrail.triage.suspects import MAX_HOPS, gather, rank, score

DEFAULT = TriageSettings()


def test_a_change_on_the_path_at_the_onset_of_the_likeliest_kind_scores_one() -> None:
    value, parts = score(DEFAULT, 0, 0, "moved")
    assert value == 1.0 and (parts.time, parts.distance, parts.kind) == (1.0, 1.0, 1.0)


def test_time_proximity_halves_every_half_life() -> None:
    halves = [score(DEFAULT, s, 0, "moved")[1].time for s in (0, 60, 120, 600)]
    assert halves == [1.0, 0.5, 0.25, pytest.approx(2**-10, abs=1e-4)]
    # A change after the onset is not in the window; one at it is as close as can be.
    assert score(DEFAULT, -5, 0, "moved")[1].time == 1.0


def test_distance_halves_each_hop_and_is_nothing_past_the_horizon() -> None:
    parts = [score(DEFAULT, 0, h, "moved")[1].distance for h in range(MAX_HOPS + 2)]
    assert parts[: MAX_HOPS + 1] == [0.5**h for h in range(MAX_HOPS + 1)]
    assert parts[MAX_HOPS + 1] == 0.0
    assert score(DEFAULT, 0, None, "moved")[1].distance == 0.0


def test_the_score_is_the_weighted_mean_of_its_parts() -> None:
    value, parts = score(DEFAULT, 60, 1, "changed")
    expected = (0.4 * 0.5 + 0.4 * 0.5 + 0.2 * 0.5) / 1.0
    assert value == pytest.approx(expected)
    only_time = TriageSettings(time=1, distance=0, kind=0)
    assert score(only_time, 60, None, "policy")[0] == pytest.approx(parts.time)


def test_the_policy_sets_the_weights_of_kinds() -> None:
    settings = parse_policy("triage: {weights: {kinds: {changed: 1, moved: 0.1}}}").triage
    assert settings.kind_weight("changed") == 1.0 and settings.kind_weight("moved") == 0.1
    assert settings.kind_weight("route") == DEFAULT.kind_weight("route")
    assert score(settings, 0, 0, "changed")[0] > score(settings, 0, 0, "moved")[0]


def _store(tmp_path: Path) -> SqliteStore:
    """Two bridges, a port on the first; at 600 s the port moves to the second, an
    unrelated VM migrates and a bridge far away changes; at 100 s the first bridge
    changed; a ghost lived from 300 to 350 s."""
    store = SqliteStore(tmp_path / "vtrail.db")
    r = Recorder(store)
    base = [
        ent("bridge:sw/br0", name="br0", stp=False),
        ent("bridge:sw/br1", name="br1"),
        ent("bridge:far/brx", name="brx", mtu=1500),
        ent("port:sw/p1", ifname="p1"),
        ent("vm:other", name="other"),
        ent("host:hv-a"),
        ent("host:hv-b"),
    ]
    r.record([snap("t", 0, *base, rel("port:sw/p1", "port_of", "bridge:sw/br0"),
                   rel("vm:other", "runs_on", "host:hv-a"))])  # fmt: skip
    r.record([event("t", 100, ent("bridge:sw/br0", name="br0", stp=True))])
    r.record([event("t", 300, ent("bridge:far/tmp", name="tmp"))])
    r.record([event("t", 350, gone=("bridge:far/tmp",))])
    r.record(
        [
            event(
                "t",
                600,
                ent("bridge:far/brx", name="brx", mtu=9000),
                rel("port:sw/p1", "port_of", "bridge:sw/br1"),
                rel("vm:other", "runs_on", "host:hv-b"),
                gone_relations=(
                    ("port:sw/p1", "port_of", "bridge:sw/br0"),
                    ("vm:other", "runs_on", "host:hv-a"),
                ),
            )
        ]
    )
    return store


def test_the_change_on_the_path_just_before_the_onset_ranks_first(tmp_path: Path) -> None:
    store = _store(tmp_path)
    onset = to_us(at(610))
    # The path crossed the port and the first bridge; the rest is far from it.
    hops = {"port:sw/p1": 0, "bridge:sw/br0": 0, "bridge:sw/br1": 1}
    changes, names, total = gather(store, DEFAULT, to_us(at(0)), onset, hops, 10)
    kinds = {(c.entity, c.kind) for c in changes}
    assert ("port:sw/p1", "moved") in kinds and ("vm:other", "moved") in kinds
    assert ("bridge:far/tmp", "ghost") in kinds and ("bridge:sw/br0", "changed") in kinds
    where = {"port:sw/p1": "hop 2 of a → b", "bridge:sw/br0": "hop 3 of a → b"}.get
    ranked = rank(changes, names, DEFAULT, onset, hops, where, "loss began", 10)
    first = ranked.suspects[0]
    assert (first.entity, first.kind, first.hops) == ("port:sw/p1", "moved", 0)
    assert first.reason == (
        "port p1 moved from bridge br0 to bridge br1, 10 s before loss began; hop 2 of a → b"
    )
    order = [s.entity for s in ranked.suspects]
    # The migration at the same instant is far; the bridge on the path changed long before.
    assert order.index("port:sw/p1") < order.index("vm:other")
    assert order.index("port:sw/p1") < order.index("bridge:sw/br0")
    ghost = next(s for s in ranked.suspects if s.entity == "bridge:far/tmp")
    assert ghost.kind == "ghost" and ghost.hops is None
    assert ghost.reason.startswith("bridge tmp lived 50 s and vanished (a ghost)")
    assert ranked.total == len({(c.entity, c.t) for c in changes})
    # Versions begun or ended (br0 twice, brx twice, the ghost twice) and relations moved.
    assert total == 6 + 4


def test_far_changes_too_old_to_rank_are_not_read(tmp_path: Path) -> None:
    store = _store(tmp_path)
    onset = to_us(at(610))
    hops = {"port:sw/p1": 0, "bridge:sw/br0": 0}
    changes, _, total = gather(store, DEFAULT, to_us(at(0)), onset, hops, 1)
    entities = {c.entity for c in changes}
    # The last minute's far changes are read; the ghost, five minutes older, could not
    # outrank the port that moved on the path 10 s before the onset.
    assert {"port:sw/p1", "bridge:far/brx", "vm:other"} <= entities
    assert "bridge:far/tmp" not in entities
    assert total == 10


def test_the_changes_of_one_thing_at_one_instant_are_one_suspect(tmp_path: Path) -> None:
    store = _store(tmp_path)
    onset = to_us(at(610))
    changes, names, _ = gather(store, DEFAULT, to_us(at(500)), onset, {}, 100)
    ranked = rank(changes, names, DEFAULT, onset, {}, lambda _e: None, "loss began", 100)
    keys = [(s.entity, s.at) for s in ranked.suspects]
    assert len(keys) == len(set(keys))
    brx = next(s for s in ranked.suspects if s.entity == "bridge:far/brx")
    assert brx.changes == ["bridge brx changed: mtu 1500 → 9000"]
    assert brx.reason.endswith("far from the affected paths")

"""bench/peers.py at its quick size: vtrail answers exactly, and Prometheus's wrong
answers (its lookback's double count, its ghosts of vanished VMs) are really counted."""

from __future__ import annotations

import itertools
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def peers(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    import peers

    return peers


@pytest.fixture
def questions(peers: Any) -> Any:
    import peers_questions

    return peers_questions


def test_an_answer_is_judged_by_what_held_at_the_instant(questions: Any) -> None:
    where, as_set = questions.judge_where, questions.judge_set
    assert where(("hv-001", "running"), [("hv-001", "running")]) is None
    assert where(None, []) is None
    # A migration inside the lookback: the old host's series is still there beside the new.
    both = [("hv-000", "running"), ("hv-001", "running")]
    assert where(("hv-001", "running"), both) == "in two places or states at once"
    assert where(None, [("hv-000", "running")]) == "shown after it vanished"
    assert where(("hv-001", "paused"), [("hv-001", "running")]) == "stale host or state"
    assert where(("hv-001", "running"), []) == "not seen yet"
    assert as_set({"vm-1", "vm-2"}, ["vm-2", "vm-1"]) is None
    assert as_set({"vm-1"}, ["vm-1", "vm-2"]) == "lists a VM it should not"
    assert as_set({"vm-1", "vm-2"}, ["vm-1"]) == "misses a VM"


def test_drawn_each_side_is_asked_after_each_other_alike_and_in_turns_not(peers: Any) -> None:
    """Who is asked right before whom, over many questions. In turns, `v` always comes
    after a Prometheus, after `t` twice as often as after `p`; drawn, every ordered
    pair of sides comes up about as often."""
    sides = ["v", "p", "t"]
    pairs = [(a, b) for a in sides for b in sides if a != b]

    def follows(drawn: Any) -> Counter[tuple[str, str]]:
        asked = [s for k in range(3_000) for s in peers.turns(sides, k, drawn)]
        return Counter(itertools.pairwise(asked))

    in_turns = follows(None)
    assert in_turns[("t", "v")] > 1.9 * in_turns[("p", "v")]
    assert in_turns[("v", "v")] == 0
    drawn = follows(random.Random(peers.ORDER_SEED))
    assert max(drawn[p] for p in pairs) < 1.2 * min(drawn[p] for p in pairs)
    assert peers.turns(sides, 0, random.Random(1)) == peers.turns(sides, 0, random.Random(1))


def test_the_history_holds_what_the_lookback_gets_wrong(peers: Any, questions: Any) -> None:
    h = peers.build(200, 10, 2)
    kinds = {c.what for c in h.changes}
    assert kinds == {"migrate", "state", "vanish", "create", "short"}
    lives = [s[-1].end - s[0].start for s in h.spans.values() if s[-1].end < h.end]
    assert any(life < questions.LOOKBACK_MS for life in lives)
    c = next(c for c in h.changes if c.what == "migrate")
    before, after = h.at(c.vm, c.at - 1), h.at(c.vm, c.at)
    assert before is not None and after is not None
    assert before[0] == c.host_before != after[0]
    assert c.vm in h.on_host(after[0], c.at) and c.vm not in h.on_host(before[0], c.at)
    assert c.vm in h.changed(c.at - 1, c.at)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package (prometheus, promtool) is not installed; "
    "scripts/install.sh installs it, so CI has it",
)
def test_the_quick_run_finds_vtrail_exact_and_prometheus_double_counting(
    peers: Any, tmp_path: Path
) -> None:
    r = peers.run(peers.QUICK, tmp_path, quiet=True)
    size = peers.QUICK
    for side in (r.vtrail, r.prometheus):
        assert {k: t.asked for k, t in side.items()} == {
            "where": size.where,
            "host": size.host,
            "diff": size.diff,
        }
    # Over HTTP and in process alike.
    for side in (r.vtrail, r.sides[peers.SIDES[3]]):
        assert {k: dict(t.wrong) for k, t in side.items()} == {
            "where": {},
            "host": {},
            "diff": {},
        }
    where, host = r.prometheus["where"].wrong, r.prometheus["host"].wrong
    assert where["in two places or states at once"] > 0
    assert where["shown after it vanished"] > 0
    assert host["lists a VM it should not"] > 0
    assert r.prometheus["diff"].wrongs > 0
    assert r.samples > 0 and all(t.body for t in r.prometheus.values())
    # Asked again in runs: the one-entity questions, each once, vtrail still exact.
    for side in peers.SIDES[:3]:
        assert {k: t.asked for k, t in r.runs[side].items()} == {
            "where": size.where,
            "host": size.host,
        }
    assert {k: t.wrongs for k, t in r.runs[peers.SIDES[0]].items()} == {"where": 0, "host": 0}
    assert r.runs[peers.SIDES[1]]["where"].wrongs == r.prometheus["where"].wrongs
    # One at a time, vtrail mostly follows another server; twenty at a time, itself.
    once, runs = r.vtrail["where"], r.runs[peers.SIDES[0]]["where"]
    assert len(once.after(True)) + len(once.after(False)) == size.where
    assert len(once.after(False)) > len(once.after(True))
    assert len(runs.after(True)) > 0.9 * size.where


def test_an_answer_is_told_by_the_side_that_answered_before_it(peers: Any) -> None:
    t = peers.Tally(ms=[1.0, 2.0, 3.0], after_itself=[False, True, False])
    assert t.after(True) == [2.0] and t.after(False) == [1.0, 3.0]

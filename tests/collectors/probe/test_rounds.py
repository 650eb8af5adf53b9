"""A round's figures from its packets' outcomes: loss, RTTs, jitter, and which samples
they make (pure: no network)."""

from __future__ import annotations

import pytest

from factory import at
from vtrail.collectors.probe.rounds import ProbeSpec, round_stats, samples, source_name


def test_every_packet_answered_is_no_loss_and_its_rtts() -> None:
    s = round_stats([10.0, 12.0, 11.0, 15.0, 12.0])
    assert (s.sent, s.received, s.loss, s.ok) == (5, 5, 0.0, True)
    assert (s.rtt_min, s.rtt_max) == (10.0, 15.0)
    assert s.rtt_avg == pytest.approx(12.0)
    # |12-10| + |11-12| + |15-11| + |12-15| = 10, over 4 differences
    assert s.jitter == pytest.approx(2.5)


def test_a_lost_packet_counts_in_loss_and_is_skipped_by_jitter() -> None:
    s = round_stats([10.0, None, 30.0, None, 10.0])
    assert s.loss == pytest.approx(0.4)
    assert s.rtt_avg == pytest.approx(50 / 3)
    # Between consecutive answers: |30-10| + |10-30|, over 2
    assert s.jitter == pytest.approx(20.0)


def test_a_steady_path_has_no_jitter_and_one_answer_none() -> None:
    assert round_stats([5.0, 5.0, 5.0]).jitter == 0.0
    one = round_stats([None, 7.0])
    assert (one.loss, one.rtt_avg, one.jitter, one.ok) == (0.5, 7.0, None, True)


def test_nothing_answered_is_loss_one_not_ok_and_no_rtt() -> None:
    s = round_stats([None, None, None])
    assert (s.loss, s.ok, s.rtt_avg, s.rtt_min, s.rtt_max, s.jitter) == (
        1.0, False, None, None, None, None,
    )  # fmt: skip
    found = samples("vm:db-1", s, at(0))
    assert [(x.metric, x.value) for x in found] == [("probe.loss", 1.0), ("probe.ok", 0.0)]
    assert {x.type for x in found} == {"gauge"}


def test_the_samples_of_a_round_are_gauges_on_the_target_at_the_rounds_instant() -> None:
    found = samples("vm:db-1", round_stats([1.0, 3.0]), at(5))
    assert {(x.entity, x.ts, x.type) for x in found} == {("vm:db-1", at(5), "gauge")}
    assert {x.metric: x.value for x in found} == {
        "probe.loss": 0.0, "probe.ok": 1.0, "probe.rtt_ms": 2.0, "probe.rtt_min_ms": 1.0,
        "probe.rtt_max_ms": 3.0, "probe.jitter_ms": 2.0,
    }  # fmt: skip


def test_the_source_names_the_probe_and_its_vantage() -> None:
    spec = ProbeSpec("web-to-db", "icmp", "h-web", 10, 5, 1)
    assert source_name(spec, "hv-a") == "probe:web-to-db@netns:h-web"
    assert source_name(ProbeSpec("p", "tcp", None, 10, 1, 1, 22), "hv-a") == "probe:p@host:hv-a"

"""The policy's `triage:` section: read and checked like the other sections, recorded
with the policy and read back, shown so that it applies again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vtrail.policy.document import to_yaml
from vtrail.policy.load import PolicyError, parse_policy
from vtrail.policy.model import CHANGE_KINDS, TriageSettings
from vtrail.policy.record import TRIAGE_ID, from_attrs, to_observation

SECTION = "triage: {weights: {time: 0.5, kinds: {moved: 0.9}}, window: 30m, half-life: 90}\n"


def test_the_section_sets_what_it_names_and_leaves_the_rest() -> None:
    t = parse_policy(SECTION).triage
    assert (t.time, t.distance, t.kind, t.window, t.half_life) == (0.5, 0.4, 0.2, 1800.0, 90.0)
    assert t.kind_weight("moved") == 0.9
    assert t.kind_weight("route") == CHANGE_KINDS["route"]
    assert parse_policy("{}").triage == TriageSettings()


def test_it_is_recorded_with_the_policy_and_read_back() -> None:
    p = parse_policy("services: {web: {members: {kind: vm}}}\n" + SECTION)
    o = to_observation(p, datetime(2026, 11, 20, tzinfo=UTC))
    assert TRIAGE_ID in {e.id for e in o.entities}
    assert from_attrs((e.id, e.attrs) for e in o.entities) == p
    assert parse_policy(to_yaml(p)) == p
    # The defaults are not recorded: a policy without the section records as before.
    plain = to_observation(parse_policy("{}"), datetime(2026, 11, 20, tzinfo=UTC))
    assert plain.entities == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("triage: {weights: {time: 2}}", "p.yaml:1: triage: weights.time: 2 is out of range"),
        ("triage: {weights: {time: 0, distance: 0, kind: 0}}", "weights: the weights time"),
        ("triage: {weights: {kinds: {moves: 1}}}", "unknown key 'moves' (did you mean 'moved'?"),
        ("triage: {weights: {kinds: {moved: yes}}}", "weights.kinds.moved: expected a number"),
        ("triage: {window: 0}", "triage: window: 0 is out of range: from 1 s"),
        ("triage: {window: forever}", "triage: window: cannot read duration 'forever'"),
        ("triage: {half-life: true}", "triage: half-life: expected a duration"),
        ("triage: {wind: 1h}", "unknown key 'wind' (did you mean 'window'?"),
        ("triage: [1]", "triage: expected a mapping (weights, window, half-life)"),
    ],
)
def test_a_bad_section_is_refused_in_one_line(text: str, says: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(text, "p.yaml")
    assert says in str(e.value) and "\n" not in str(e.value)

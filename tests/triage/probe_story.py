"""The API tests' story (api/story.py) with a probe: `web-to-db` from web-1 to db-1.

It probes every 30 s, five seconds past each half minute, and its results are
ingested as any monitor's would be: gauge samples on db-1 from the source
`probe:web-to-db@web-1`. At minute 20 web-1's port is moved to `br-iso`, a
bridge with no uplink, and back at minute 30: the rounds from 20:05 to 29:35
lose everything, and the one at 30:05 is good again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from api.story import DB, apply_story_policy, at, story_lines
from vtrail.recording.ingest import ingest_lines
from vtrail.store import open_store
from vtrail.timeexpr import iso

SOURCE = "probe:web-to-db@web-1"
#: The round instants, in minutes, and the first bad and first good again.
ROUNDS = [m / 2 + 5 / 60 for m in range(80)]
FIRST_BAD = 20 + 5 / 60
GOOD_AGAIN = 30 + 5 / 60
CULPRIT = "port:hv-b/vnet1"


def probe_lines(rounds: list[float] = ROUNDS) -> list[str]:
    lines = []
    for m in rounds:
        bad = FIRST_BAD <= m < GOOD_AGAIN
        samples = [
            {"entity": DB, "metric": "probe.loss", "value": 1.0 if bad else 0.0, "type": "gauge"},
            {"entity": DB, "metric": "probe.ok", "value": 0 if bad else 1, "type": "gauge"},
        ]
        if not bad:
            samples.append(
                {
                    "entity": DB,
                    "metric": "probe.rtt_ms",
                    "value": 0.4 + (m % 3) / 10,
                    "type": "gauge",
                }
            )
        lines.append(
            json.dumps(
                {"source": SOURCE, "observed_at": iso(at(m)), "kind": "event", "samples": samples}
            )
        )
    return lines


_P = TypeVar("_P", Path, str)


def record_probe_story(path: _P) -> _P:
    """The story and its probe, with the story's policy applied at its start, in the
    store at `path` (a file, or a PostgreSQL URL)."""
    store = open_store(path)
    try:
        ingest_lines(store, [*story_lines(), *probe_lines()])
    finally:
        store.close()
    apply_story_policy(path, 0)
    return path

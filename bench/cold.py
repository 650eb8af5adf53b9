"""What a short read costs `vtrail serve` with its caches warm, and cold.

    python bench/cold.py            # the history of bench/peers.py (about a minute)
    python bench/cold.py --quick    # a small one (seconds)

A `where` asked right after another server's answer meets caches that server
and the client left: bench/hop.py measured the same `vtrail serve` 0.05 of
Prometheus's median slower asked after Prometheus than after another vtrail.
This times, in this process, the body of the short read (api/short_reads.py:
parameters, the statement, the answer and its JSON) for each `where` and each
`show` of a host of bench/peers.py, twice in turns: once right after the
previous read (warm, the baseline), and once after 8 MiB have been written
through, more than this machine's L2 cache, as another process's work would
evict it (cold). Figures: p50 and p90 in µs, and cold over warm.

The cold reads are colder than a server's: a change that cut 15 to 35 µs
here did not show over HTTP (docs/performance.md, "Cold caches"). Measure a
change there too, with `bench/hop.py --code REV`.
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from peers import command_line
from peers_history import build
from peers_questions import Size, questions, vtrail_request
from peers_servers import vtrail_store
from serve import interpreter, pct
from vtrail.api.deps import Settings, Stores
from vtrail.api.short_reads import SHOW, WHERE, ShortReads

#: Written through between two cold reads: more than a core's L2 (1 MiB here).
EVICT = 8 << 20
KINDS = {"where": WHERE, "host": SHOW}


def evict(buf: bytearray) -> None:
    for i in range(0, len(buf), 64):
        buf[i] = 1


def run(size: Size, work: Path, rounds: int = 3) -> dict[tuple[str, str], list[float]]:
    """µs per read, by kind of question and by warm or cold; both answer alike."""
    h = build(size.vms, size.hosts, size.hours)
    db = work / "vtrail.db"
    vtrail_store(h, db).close()
    stores = Stores(db)
    # The requests' timers are not what is measured here.
    metrics: Any = SimpleNamespace(requests=SimpleNamespace(labels=lambda *_: None))
    reads = ShortReads(stores, Settings(db=db, read_token=False), metrics)
    buf = bytearray(EVICT)
    times: dict[tuple[str, str], list[float]] = {}
    gc.freeze()  # as `vtrail serve` does
    try:
        for q in questions(h, size):
            if q.kind not in KINDS:
                continue
            path, params = vtrail_request(q)
            scope = {"path": path, "query_string": urlencode(params).encode(), "headers": []}
            bodies = set()
            for _ in range(rounds):
                for state in ("warm", "cold"):
                    if state == "cold":
                        evict(buf)
                    t = time.perf_counter_ns()
                    bodies.add(reads.body(KINDS[q.kind], scope))
                    times.setdefault((q.kind, state), []).append(
                        (time.perf_counter_ns() - t) / 1000
                    )
            if len(bodies) != 1 or None in bodies:
                raise SystemExit(f"{path} {params}: answered {len(bodies)} ways, or declined")
    finally:
        gc.unfreeze()
        stores.close()
    return times


def report(times: dict[tuple[str, str], list[float]]) -> None:
    print(f"python: {interpreter()}")
    print(f"\n{'short read':<22} {'caches':<6} {'p50 µs':>8} {'p90 µs':>8}  cold / warm")
    for (kind, state), us in times.items():
        warm = statistics.median(times[(kind, "warm")])
        print(
            f"{'where' if kind == 'where' else 'show of a host':<22} {state:<6} "
            f"{pct(us, 50):>8.1f} {pct(us, 90):>8.1f}  {statistics.median(us) / warm:>10.2f}"
        )


def main() -> None:
    command_line(__doc__ or "", lambda size, work, _: report(run(size, work)), prometheus=False)


if __name__ == "__main__":
    main()

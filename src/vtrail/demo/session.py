"""One demo run: build the fabric, record it while the story plays, take it down.

`DemoSession` is a context manager so that whatever happens (an error, a
Ctrl-C) the recorder is stopped and everything the fabric made is removed.
The fidelity test drives the same session as `vtrail demo`. `prepare` writes
into the store before recording starts (`vtrail demo` records the fabric's
policy there, its probes' vantages named for this run's namespaces), while it
is still the store's only writer. `probes`, when given, says which probes are
in force: they run as the `probe` source of the recording, as `vtrail record`
runs a policy's probes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vtrail.demo import fabric as fab
from vtrail.demo.churn import INITIAL, Change, Churn, Story
from vtrail.recording.runner import Runner, RunnerStats, SourceGroup, SourceSpec
from vtrail.recording.sources import ProbeSet, probe_source
from vtrail.store import Store, open_store

log = logging.getLogger(__name__)

#: How long the sources get to connect and take their first snapshot.
CONNECT_TIMEOUT = 20.0


class DemoSession:
    def __init__(
        self,
        db: Path,
        *,
        interval: float,
        network: bool | None = None,
        ovs: bool | None = None,
        prepare: Callable[[Store, fab.Fabric], object] = lambda _store, _fabric: None,
        probes: ProbeSet | None = None,
    ) -> None:
        self.db = db
        self.interval = interval
        self.network = network
        self.ovs = ovs
        self.prepare = prepare
        self.probes = probes
        #: How many probes ran from the start.
        self.probe_count = 0
        self.fabric: fab.Fabric | None = None
        self.names: fab.Names | None = None
        self.store: Store | None = None
        self.runner: Runner | None = None
        self.stop = threading.Event()
        self.stats: RunnerStats | None = None
        self.leftovers: list[str] = []
        #: How many sources the recording started with (members of groups included).
        self.source_count = 0
        self.problems: list[str] = []

    def __enter__(self) -> DemoSession:
        try:
            if fab.is_root():
                self.leftovers = fab.remove_leftovers()
            self.fabric = fab.build(INITIAL, network=self.network, ovs=self.ovs)
            self.names = self.fabric.names
            self.store = open_store(self.db, cache_mib=8)
            self.prepare(self.store, self.fabric)
            self.runner = Runner(self.store, self._sources(), interval=self.interval)
            self.runner.start()
            self._await_sources()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sources(self) -> list[SourceSpec | SourceGroup]:
        assert self.fabric is not None
        out = self.fabric.sources()
        if self.probes is not None and self.fabric.network:
            self.probe_count = len(self.probes())
            if self.probe_count:
                out.append(probe_source(self.probes, every=self.interval))
        return out

    def expected_sources(self) -> int:
        f = self.fabric
        assert f is not None
        return (
            len(f.hosts)
            + len(f.namespaces)
            + (1 if f.ovs_sock is not None else 0)
            + self.probe_count
        )

    def _await_sources(self) -> None:
        """Start the story only once every source has taken its first snapshot."""
        assert self.runner is not None
        want = self.expected_sources()
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while time.monotonic() < deadline:
            st = self.runner.stats()
            if sum(1 for s in st.sources if s.connected and s.snapshots) >= want:
                self.source_count = len(st.sources)
                self.runner.flush()
                return
            time.sleep(0.1)
        down = [f"{s.uri}: {s.last_error}" for s in self.runner.stats().sources if not s.connected]
        raise fab.FabricError(f"sources did not connect in {CONNECT_TIMEOUT:.0f} s: {down}")

    def play(self, seconds: float, on_change: Callable[[Change], None]) -> Story:
        """Run the story over about `seconds`, then let one more snapshot in."""
        assert self.fabric is not None and self.runner is not None
        # The stray VM lives half an interval, just after a snapshot: never in one.
        churn = Churn(
            self.fabric, 1.0, on_change, self.stop, stray=self.interval / 2, snapshot=self.snapshot
        )
        churn.pace = max(0.5, seconds / (len(churn.steps()) + 1))
        story = churn.run()
        self.runner.reconcile_now()
        self.runner.flush()
        return story

    def snapshot(self, timeout: float = 5.0) -> None:
        """Have every libvirt host take its snapshot now, and wait until each has: the
        next is then a whole interval away."""
        assert self.runner is not None
        taken = {
            s.uri: s.snapshots for s in self.runner.stats().sources if s.uri.startswith("libvirt")
        }
        self.runner.reconcile_now()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            now = {s.uri: s.snapshots for s in self.runner.stats().sources}
            if all(now.get(uri, 0) > n for uri, n in taken.items()):
                return
            time.sleep(0.02)

    def finish(self) -> RunnerStats:
        """Take the network down while still recording (its end is history), then stop."""
        assert self.fabric is not None and self.runner is not None
        had_network = bool(self.fabric.namespaces)
        self.problems += self.fabric.dismantle()
        if had_network:
            self._await_retirement()
        self.stats = self.runner.stop()
        self.runner = None
        return self.stats

    def _await_retirement(self, timeout: float = 5.0) -> None:
        """Until the netlink fleets have noticed every namespace is gone."""
        assert self.runner is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(s.uri.startswith("netlink:") for s in self.runner.stats().sources):
                break
            time.sleep(0.1)
        self.runner.flush()

    def close(self) -> None:
        """Stop recording and remove everything; safe to call twice, and after `finish()`."""
        if self.runner is not None:
            self.stats = self.runner.stop()
            self.runner = None
        if self.fabric is not None:
            self.problems += self.fabric.teardown()
            self.fabric = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.names is not None and fab.is_root():
            mine = set(self.names.all_namespaces())
            self.problems += [
                f"namespace {ns} still exists" for ns in fab.list_netns() if ns in mine
            ]

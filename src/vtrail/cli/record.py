"""`vtrail record`: record live sources into the store, with a live status."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, TypeVar

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from vtrail.cli.common import DbOption, err_console, esc, fail, open_store
from vtrail.cli.push import SPOOL_MAX, check_push, push_writer, spool_line
from vtrail.collectors.libraries import MissingLibrary
from vtrail.collectors.probe.rounds import ProbeSpec, Target, Targets
from vtrail.policy.model import Probe
from vtrail.policy.probes import SPACING
from vtrail.recording.push import PushStats
from vtrail.recording.runner import Runner, RunnerStats, SourceStatus
from vtrail.recording.sources import FORMS, PROBE, BadSource, parse_sources
from vtrail.recording.spool import default_spool
from vtrail.store import Store, StoreError, default_path, factory
from vtrail.timeexpr import TimeParseError, parse_duration
from vtrail.triage.policy_at import policy_at
from vtrail.triage.probe_targets import probe_targets

T = TypeVar("T")

#: The longest --interval or --for taken.
_SECONDS_MAX = 365 * 86400
#: Observations per second are averaged over this many seconds.
RATE_WINDOW = 5.0


def _seconds(text: str, what: str) -> float:
    try:
        s = parse_duration(text).total_seconds()
    except TimeParseError as e:
        fail(f"{what}: {e}", 2)
    if s <= 0:
        fail(f"{what} must be more than zero, not {text!r}", 2)
    if s > _SECONDS_MAX:
        # Beyond what a thread can wait for: the watch would die of it.
        fail(f"{what} must be at most 365 days, not {text!r}", 2)
    return s


class Rates:
    """Observations per second per source, over the last `RATE_WINDOW` seconds."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[tuple[float, int]]] = {}

    def update(self, stats: RunnerStats) -> dict[str, float]:
        now = time.monotonic()
        out = {}
        for s in stats.sources:
            q = self._seen.setdefault(s.uri, deque())
            q.append((now, s.observations))
            while len(q) > 2 and now - q[1][0] >= RATE_WINDOW:
                q.popleft()
            t0, n0 = q[0]
            out[s.uri] = (s.observations - n0) / (now - t0) if now > t0 else 0.0
        return out


def _state(s: SourceStatus) -> Text:
    if s.connected:
        return Text("● connected", style="green")
    if s.last_error:
        return Text("○ retrying", style="red")
    return Text("◌ connecting", style="yellow")


def status_table(stats: RunnerStats, rates: dict[str, float]) -> Table:
    w = stats.writer
    mean_ms = 1000 * w.latency_sum_s / w.latency_count if w.latency_count else 0.0
    table = Table(
        title=f"vtrail record — up {_clock(stats.uptime_s)}",
        caption=(
            f"{w.recorded:,} observations recorded · {w.rows_written:,} rows · "
            f"{w.samples:,} samples · queue {w.queued} · latency {mean_ms:.0f} ms mean"
            + spool_line(w)
            + (f" · [red]writer: {esc(w.error)}[/]" if w.error else "")
            + "  —  Ctrl-C stops and flushes"
        ),
        title_justify="left",
        caption_justify="left",
        expand=False,
    )
    table.add_column("source")
    table.add_column("state")
    table.add_column("obs/s", justify="right")
    table.add_column("observations", justify="right")
    table.add_column("last observed")
    table.add_column("last error", overflow="fold", max_width=60)
    for s in sorted(stats.sources, key=lambda s: s.uri):
        err = Text("")
        if s.last_error:
            when = f" ({_ago(s.last_error_at)})" if s.last_error_at else ""
            style = "dim" if s.connected else "red"
            err = Text(_unprefixed(s.last_error, s) + when, style=style)
        table.add_row(
            esc(s.source or s.uri),
            _state(s),
            f"{rates.get(s.uri, 0.0):.1f}",
            f"{s.observations:,}",
            _ago(s.last_observed_at) if s.last_observed_at else "",
            err,
        )
    if not stats.sources:
        table.add_row("(looking for sources)", "", "", "", "", "")
    return table


def _ago(t: datetime | None) -> str:
    if t is None:
        return ""
    secs = (datetime.now(UTC) - t).total_seconds()
    return f"{secs:.1f} s ago" if secs < 60 else f"{_clock(secs)} ago"


def _unprefixed(error: str, s: SourceStatus) -> str:
    """Errors usually start with the source's name, which the row already shows."""
    for name in (s.source, s.uri):
        if name and error.startswith(f"{name}: "):
            return error.removeprefix(f"{name}: ")
    return error


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop`; a second one exits at once (the last batch may be lost)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            err_console.print("[red]forced exit[/]: the observations still queued are lost")
            os._exit(128 + signum)
        stop.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def run_until(
    runner: Runner,
    stop: threading.Event,
    deadline: float | None,
    show: Callable[[RunnerStats], None],
    every: float = 0.5,
) -> set[str]:
    """Call `show` every `every` seconds until `stop` is set or `deadline` passes.

    Returns every source seen meanwhile (namespaces come and go).
    """
    seen: set[str] = set()
    while not stop.is_set():
        st = runner.stats()
        seen.update(s.uri for s in st.sources)
        show(st)
        wait = every if deadline is None else min(every, deadline - time.monotonic())
        if wait <= 0:
            break
        stop.wait(wait)
    return seen


class ChangeLog:
    """Without a terminal (systemd, a pipe): one line per source state change."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[bool, str | None]] = {}

    def __call__(self, stats: RunnerStats) -> None:
        for s in stats.sources:
            now = (s.connected, s.last_error)
            if self._last.get(s.uri) != now:
                self._last[s.uri] = now
                word = "connected"
                if not s.connected:
                    word = f"down: {_unprefixed(s.last_error, s)}" if s.last_error else "connecting"
                line = f"{s.source or s.uri}: {word}"
                err_console.print(esc(line), highlight=False, soft_wrap=True)


class PolicyProbes:
    """The probes of the policy in force, read from the store at each look, for the
    probe source (which cannot read a policy itself). It reads through a read-only
    connection of its own, one thread at a time: the recorder's is the writer's."""

    def __init__(self, path: Path, hostname: str | None = None) -> None:
        self.path = path
        self.hostname = hostname or socket.gethostname()
        self._lock = threading.Lock()
        self._reader: Store | None = None
        self._current: dict[str, Probe] = {}

    def _read(self, question: Callable[[Store], T]) -> T:
        with self._lock:
            if self._reader is None:
                self._reader = factory.open_store(self.path, readonly=True, cache_mib=8)
            return question(self._reader)

    def in_force(self) -> dict[str, Probe]:
        """The probes this machine runs: a probe from another host is that host's. None
        before the store exists."""
        if not Path(self.path).exists():
            return {}
        probes = self._read(lambda store: policy_at(store, datetime.now(UTC))).probes
        return {
            n: p
            for n, p in probes.items()
            if p.vantage is None or p.vantage.kind == "netns" or p.vantage.name == self.hostname
        }

    def __call__(self) -> list[tuple[ProbeSpec, Targets]]:
        self._current = self.in_force()
        return [(spec(p), self._targets(p.name)) for p in self._current.values()]

    def _targets(self, name: str) -> Targets:
        def at(instant: datetime) -> list[Target]:
            # The probe as last read: a `to` changed in the policy is followed.
            p = self._current.get(name)
            if p is None:
                return []
            space = p.vantage.name if p.vantage is not None else self.hostname
            found = self._read(lambda store: probe_targets(store, p, instant, space))
            return [Target(e, a) for e, a in found]

        return at

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


def spec(p: Probe) -> ProbeSpec:
    """A policy's probe as the prober takes it: plain values."""
    netns = p.vantage.name if p.vantage is not None and p.vantage.kind == "netns" else None
    return ProbeSpec(
        p.name, p.kind, netns, p.every.total_seconds(), p.count, p.timeout.total_seconds(),
        p.port, p.path, SPACING.total_seconds(),
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Record")
    def record(
        source: Annotated[
            list[str],
            typer.Option("--source", "-s", help=f"What to record (repeat for several): {FORMS}."),
        ],
        interval: Annotated[
            str, typer.Option("--interval", help="Full snapshot every ... (reconciles misses).")
        ] = "10s",
        duration: Annotated[
            str | None,
            typer.Option(
                "--for", help="Stop after this long (e.g. 30s, 2h); default: until stopped."
            ),
        ] = None,
        no_probes: Annotated[
            bool,
            typer.Option(
                "--no-probes",
                help="Do not run the probes of the policy in force (run by default when it "
                "has some; --source probe runs them alone).",
            ),
        ] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live status.")] = False,
        push: Annotated[
            str | None,
            typer.Option(
                "--push",
                metavar="URL",
                help="Send to the `vtrail serve` at URL instead of a local store.",
            ),
        ] = None,
        token: Annotated[
            str | None,
            typer.Option(
                "--token",
                envvar="VTRAIL_TOKEN",
                help="With --push: a writer token of that server (default: $VTRAIL_TOKEN).",
                show_default=False,
            ),
        ] = None,
        spool: Annotated[
            Path | None,
            typer.Option(
                "--spool",
                metavar="DIR",
                help="With --push: where batches wait for the server "
                "(default: ~/.local/state/vtrail/spool).",
                show_default=False,
            ),
        ] = None,
        spool_max: Annotated[
            int,
            typer.Option(
                "--spool-max",
                min=1,
                metavar="BYTES",
                help="With --push: the spool's bound; when full, the sources wait.",
            ),
        ] = SPOOL_MAX,
        db: DbOption = None,
    ) -> None:
        """Record live sources until stopped (Ctrl-C or SIGTERM flush and exit cleanly).

        The probes of the policy in force (`vtrail policy apply`) run too, as a source
        of their own (`--source probe`), when it has some: each probe measures its
        service, domain or addresses from its vantage namespace, round after round,
        and a policy applied while recording is followed.

        With --push, what the sources see is sent to a central `vtrail serve`
        (docs/scale.md), through a spool on disk that keeps it while the server is
        away; the probes of a policy are not run (the policy is the server's)."""
        asked = list(source)
        if push is not None:
            if PROBE in asked:
                fail("--source probe cannot be pushed: the policy it follows is the server's", 2)
            check_push(push, token)
        probes = PolicyProbes(db or default_path())
        try:
            if push is None and not no_probes and PROBE not in asked and probes.in_force():
                asked.append(PROBE)
        except StoreError as e:
            fail(str(e))
        try:
            specs = parse_sources(asked, probes)
        except BadSource as e:
            probes.close()
            fail(str(e), 2)
        except MissingLibrary as e:
            probes.close()
            fail(str(e))
        every = _seconds(interval, "--interval")
        deadline = time.monotonic() + _seconds(duration, "--for") if duration else None
        if push is not None:
            assert token is not None
            writer = push_writer(push, token, spool or default_spool(), spool_max)
            st, seen = _run(Runner(writer, specs, interval=every), deadline, quiet, probes)
            err_console.print(esc(summary(st, seen, push)), highlight=False, soft_wrap=True)
            return
        # A recorder runs for weeks: a small page cache keeps its memory flat.
        with open_store(db, readonly=False, cache_mib=8) as store:
            st, seen = _run(Runner(store, specs, interval=every), deadline, quiet, probes)
        err_console.print(esc(summary(st, seen, store.path)), highlight=False, soft_wrap=True)


def _run(
    runner: Runner, deadline: float | None, quiet: bool, probes: PolicyProbes
) -> tuple[RunnerStats, set[str]]:
    """Run until stopped or `deadline`, showing the status; the last stats and every
    source seen."""
    stop = threading.Event()
    seen: set[str] = set()
    rates = Rates()
    with stop_on_signals(stop):
        runner.start()
        try:
            if quiet:
                seen = run_until(runner, stop, deadline, lambda _s: None)
            elif err_console.is_terminal:
                with Live(console=err_console, auto_refresh=False, transient=False) as live:

                    def show(st: RunnerStats) -> None:
                        live.update(status_table(st, rates.update(st)), refresh=True)

                    seen = run_until(runner, stop, deadline, show)
            else:
                seen = run_until(runner, stop, deadline, ChangeLog())
        finally:
            err_console.print("stopping: flushing what was observed …")
            st = runner.stop()
            probes.close()
    return st, seen


def summary(st: RunnerStats, seen: set[str], into: Path | str) -> str:
    """The last line: what was recorded (or pushed), from how many sources, and where."""
    w = st.writer
    n = len(seen | {x.uri for x in st.sources})
    pushing = isinstance(w, PushStats)
    line = (
        f"{'pushed' if pushing else 'recorded'} {w.recorded:,} observations from {n} "
        f"source{'s' if n != 1 else ''} in {_clock(st.uptime_s)} "
        f"({w.rows_written:,} rows, {w.samples:,} samples"
        + (f", {w.dropped:,} refused: {w.error}" if w.dropped else "")
    )
    if isinstance(w, PushStats) and w.spooled:
        line += f", {w.spooled:,} left in the spool"
    return line + f") {'to' if pushing else 'into'} {into}"

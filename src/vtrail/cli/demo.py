"""`vtrail demo`: build a real little fabric, record it churning, and tour the record."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.text import Text

from vtrail.cli.common import console, err_console, fail
from vtrail.collectors.libraries import MissingLibrary, require
from vtrail.demo import POLICY
from vtrail.policy.load import load_policy
from vtrail.policy.model import Policy, Vantage
from vtrail.recording.recorder import Recorder
from vtrail.store import Store, store_files
from vtrail.triage import policy_at
from vtrail.triage.derive import derivers
from vtrail.triage.policy_at import Applied

if TYPE_CHECKING:
    from vtrail.demo.fabric import Fabric
    from vtrail.demo.session import DemoSession

QUICK_SECONDS = 30.0
STORE_PREFIX = "vtrail-demo-store-"


@contextmanager
def interrupts_become_keyboardinterrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C does: through the cleanup."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextmanager
def uninterruptible(message: str) -> Iterator[None]:
    """While cleaning up, Ctrl-C only says to wait: an aborted cleanup leaves things behind."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        err_console.print(f"[yellow]{message}[/]")

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _intro(network: bool, ovs_why: str | None, seconds: float, db: Path) -> None:
    console.print("[bold]vtrail demo[/]: a small fabric that churns while vtrail records it.")
    console.print("  • three libvirt hosts (test driver): hv-a, hv-b, hv-c, with VMs across them")
    console.print(
        "  • a policy for them (services, diagnostic domains, placement rules), "
        "which the story breaks twice"
    )
    if network:
        console.print(
            "  • network namespaces as hosts, a switch namespace with two Linux bridges and "
            "veth ports, a router namespace forwarding between them"
        )
        console.print(
            "  • a probe pinging from one namespace to another every 2 s, and an incident: "
            "a replug that cuts its path, among decoys"
        )
        console.print(
            "  • an Open vSwitch bridge (private ovsdb-server + vswitchd, userspace datapath)"
            if ovs_why is None
            else f"  • no Open vSwitch bridge: {ovs_why}"
        )
    else:
        console.print(
            "  [yellow]• not root: the network part (namespaces, bridges, a router, OVS) is "
            "skipped; run as root for all of it[/]"
        )
    console.print(
        f"  The story takes about {seconds / 60:.1f} min; everything is removed afterwards "
        f"(also on Ctrl-C). Store: {db}\n"
    )


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Record")
    def demo(
        minutes: Annotated[
            float, typer.Option("--minutes", help="How long the story runs.", min=0.2)
        ] = 2.5,
        quick: Annotated[
            bool, typer.Option("--quick", help=f"A {QUICK_SECONDS:.0f} s story (for a try).")
        ] = False,
        keep: Annotated[bool, typer.Option("--keep", help="Keep the store to explore.")] = False,
        db: Annotated[
            Path | None,
            typer.Option("--db", help="Record into this new store (kept). Default: a temp file."),
        ] = None,
    ) -> None:
        """Build a real fabric on this machine, record it churning, then tour the record."""
        seconds = QUICK_SECONDS if quick else minutes * 60
        if db is not None and db.exists():
            fail(f"{db} exists; the demo records into a new store (pick another --db)", 2)
        path = db or Path(tempfile.mkdtemp(prefix=STORE_PREFIX)) / "demo.db"
        keep = keep or db is not None
        # Imported here: libvirt and the collectors are not every command's business.
        try:
            require("libvirt")
            from vtrail.demo.fabric import FabricError, is_root, ovs_available
            from vtrail.demo.session import DemoSession

            network = is_root()
            if network:
                require("netlink")
        except MissingLibrary as e:
            fail(str(e))
        ovs_why = ovs_available()
        _intro(network, ovs_why, seconds, path)
        interval = 2.0 if seconds <= 60 else 5.0

        code = 0
        # The policy's probes run as `vtrail record` runs them: read from the store.
        from vtrail.cli.record import PolicyProbes

        probes = PolicyProbes(path)
        with interrupts_become_keyboardinterrupt():
            session = DemoSession(path, interval=interval, prepare=prepare_store, probes=probes)
            try:
                _run(session, seconds, path)
            except KeyboardInterrupt:
                err_console.print("\n[yellow]interrupted[/]: cleaning up …")
                code = 130
            except FabricError as e:
                err_console.print(f"[bold red]error:[/] {e}")
                code = 1
            except Exception as e:  # a failing step: say what, then clean up all the same
                err_console.print(f"[bold red]error:[/] {type(e).__name__}: {e}")
                code = 1
            finally:
                with uninterruptible("cleaning up, please wait …"):
                    session.close()
                    probes.close()
                    if not keep:
                        _remove_store(path)
        for p in session.problems:
            err_console.print(f"[red]could not clean up:[/] {p}")
        if session.leftovers:
            err_console.print(f"removed what an earlier run left: {', '.join(session.leftovers)}")
        _epilogue(path, keep)
        if code:
            raise typer.Exit(code)


def fabric_policy(fabric: Fabric) -> Policy:
    """The shipped policy for this run of the fabric: a probe's vantage `{netns: h1}` is
    this run's h1 namespace (`vtXXXX-h1`). Without namespaces (not root) it has no probes:
    there is nowhere to run them from."""
    policy = load_policy(POLICY)
    if not fabric.network:
        return replace(policy, probes={})
    probes = {
        name: replace(p, vantage=Vantage("netns", fabric.names.ns(p.vantage.name)))
        if p.vantage is not None and p.vantage.kind == "netns"
        else p
        for name, p in policy.probes.items()
    }
    return replace(policy, probes=probes)


def apply_policy(store: Store, fabric: Fabric) -> Applied:
    """Record the fabric's policy as `vtrail policy apply` does."""
    recorder = Recorder(store)
    return policy_at.apply(
        store, fabric_policy(fabric), datetime.now(UTC), lambda o: recorder.record([o])
    )


def prepare_store(store: Store, fabric: Fabric) -> None:
    """What the demo does to its store before recording: derive membership, and put
    the fabric's policy in force."""
    # Recorded like any store `vtrail record` writes: membership is derived as it goes.
    store.derivers = derivers()
    a = apply_policy(store, fabric)
    probes = f", {a.probes} probe{'s' if a.probes > 1 else ''}" if a.probes else ""
    console.print(
        f"the fabric's policy is in force: {a.services} services, {a.domains} domains, "
        f"{a.rules} rules{probes}"
    )
    console.print(f"  [dim]$ vtrail policy apply {POLICY}[/]", highlight=False, soft_wrap=True)
    if a.probes:
        console.print(
            f"  [dim](its probes' vantage h1 is this run's {fabric.names.ns('h1')})[/]",
            highlight=False,
        )


def _run(session: DemoSession, seconds: float, path: Path) -> None:
    from vtrail.cli.demo_tour import tour
    from vtrail.demo.churn import Change

    with session:
        start = time.monotonic()
        console.print(f"recording {session.source_count} sources; the story begins:")

        def status() -> Text:
            r = session.runner
            recorded = r.stats().writer.recorded if r else 0
            done = time.monotonic() - start
            return Text(
                f"  {done:5.0f} s / {seconds:.0f} s   {recorded:,} observations recorded",
                style="dim",
            )

        with Live(get_renderable=status, console=console, transient=True) as live:

            def show(c: Change) -> None:
                live.console.print(f"  {time.monotonic() - start:5.1f} s  {c.describe()}")

            story = session.play(seconds, show)
        console.print("the story is over; taking the network down (recorded too) …")
        stats = session.finish()
        w = stats.writer
        console.print(
            f"recorded {w.recorded:,} observations ({w.rows_written:,} rows, "
            f"{w.samples:,} counter readings) from {session.source_count} sources"
        )
        tour(console, path, story, datetime.now(UTC), session.interval)


def _epilogue(path: Path, keep: bool) -> None:
    console.print()
    if keep:
        console.print(f"The store is kept at {path}. Explore it:")
        console.print(f"  export VTRAIL_DB={path}")
        console.print(
            "  vtrail stats;  vtrail where web-1 --at '-2m';  vtrail ghosts --from '-10m'"
        )
        console.print("  vtrail policy show;  vtrail check --from '-10m'")
        console.print("  vtrail health files --from '-10m'")
        return
    console.print("Everything the demo made is gone. `vtrail demo --keep` keeps the store.")


def _remove_store(path: Path) -> None:
    for stale in store_files(path):
        stale.unlink(missing_ok=True)
    if path.parent.name.startswith(STORE_PREFIX):
        shutil.rmtree(path.parent, ignore_errors=True)

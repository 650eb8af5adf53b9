"""The two servers bench/peers.py asks: Prometheus on a backfilled TSDB, and `vtrail serve`.

Both listen on loopback only, in a temporary folder, and are stopped by the caller.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx2

from peers_history import History
from serve import free_port
from vtrail.recording.recorder import Recorder
from vtrail.store import SqliteStore

#: The Debian package's binaries; promtool comes with prometheus.
BINARIES = ("prometheus", "promtool")


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def vtrail_store(h: History, path: Path) -> SqliteStore:
    """The history recorded through vtrail's recorder, in batches as a collector hands them."""
    store = SqliteStore(path)
    rec = Recorder(store)
    for k in range(0, len(h.observations), 10_000):
        # Setup, not a figure: the history is made here and known good, so it skips validation.
        rec.record(h.observations[k : k + 10_000], validated=True)
    return store


def backfill(h: History, work: Path) -> tuple[Path, int]:
    """The history's scrapes written into a Prometheus TSDB by promtool; the TSDB and samples."""
    text, tsdb = work / "vm_info.om", work / "tsdb"
    samples = h.write_openmetrics(text)
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(text), str(tsdb)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"promtool could not backfill {text}: {done.stderr.strip()[-400:]}")
    text.unlink()
    return tsdb, samples


def prometheus_server(
    tsdb: Path, work: Path, lookback: str = "5m"
) -> tuple[subprocess.Popen[bytes], str]:
    """Prometheus on the backfilled TSDB, scraping nothing, keeping every block, with an
    instant query looking `lookback` back for a series' last sample (its default: 5m)."""
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    addr = f"127.0.0.1:{port}"
    log_path = work / f"prometheus-{lookback}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                # Retention counts back from the newest block, so the whole history is kept.
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address={addr}",
                f"--query.lookback-delta={lookback}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx2.get(f"http://{addr}/-/ready", timeout=1).status_code == 200:
                return proc, addr
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    tail = log_path.read_text(errors="replace")[-400:]
    raise SystemExit(f"prometheus did not become ready on {addr}: {tail}")

"""Three collectors in three network namespaces push to one server in a fourth, over veth
pairs on a bridge; one collector's link is cut for a while (its veth taken down) and
brought back. Every observation arrives exactly once, and the history equals a serial
recording of the same observations.

Real parts throughout: namespaces, veths, a bridge, `vtrail serve` and three
`vtrail record --push` processes, each following a file the test writes to.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from collectors.netlink.netlink_lab import SKIP_REASON, Lab
from push.served import (
    append,
    env,
    journaled,
    observations,
    serial_history,
    store_history,
    vtrail,
    wait_until,
    writer_token,
)

pytestmark = [pytest.mark.root, pytest.mark.slow]

PORT = 8421
ROUNDS, PER_ROUND = 6, 40


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def probe(ns: str, code: str) -> str:
    """Run Python `code` in namespace `ns`; what it prints."""
    done = subprocess.run(
        in_ns(ns, *vtrail()[:1], "-c", code),
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip()


def test_three_collectors_push_through_a_cut_link_and_lose_nothing(tmp_path: Path) -> None:
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    lab = Lab()
    procs: list[subprocess.Popen[str]] = []
    try:
        srv = lab.ns("srv")
        lab.ip(srv, "link add br0 type bridge")
        lab.ip(srv, "addr add 10.77.0.1/24 dev br0")
        lab.ip(srv, "link set br0 up")
        hosts = {}
        for k in (1, 2, 3):
            ns = lab.ns(f"c{k}")
            port, end = f"{lab.tag}-p{k}", f"{lab.tag}-c{k}"
            subprocess.run(["ip", "link", "add", port, "type", "veth", "peer", "name", end],
                           check=True)  # fmt: skip
            subprocess.run(["ip", "link", "set", port, "netns", srv], check=True)
            subprocess.run(["ip", "link", "set", end, "netns", ns], check=True)
            lab.ip(srv, f"link set {port} master br0 up")
            lab.ip(ns, f"addr add 10.77.0.{k + 1}/24 dev {end}")
            lab.ip(ns, f"link set {end} up")
            hosts[k] = (ns, port)

        db = tmp_path / "central.db"
        token = writer_token(db)
        server = subprocess.Popen(
            in_ns(srv, *vtrail("serve", "--db", str(db), "--host", "10.77.0.1",
                               "--port", str(PORT))),
            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(server)
        up = f"import socket; socket.create_connection(('10.77.0.1', {PORT}), 1); print('up')"
        assert wait_until(lambda: probe(hosts[1][0], up) == "up", 60, 0.5), "no server"

        feeds = {k: tmp_path / f"feed-{k}.jsonl" for k in hosts}
        for f in feeds.values():
            f.touch()
        spools = {k: tmp_path / f"spool-{k}" for k in hosts}
        for k, (ns, _) in hosts.items():
            procs.append(
                subprocess.Popen(
                    in_ns(
                        ns,
                        *vtrail(
                            "record",
                            "--source",
                            f"file:{feeds[k]}",
                            "--push",
                            f"http://10.77.0.1:{PORT}",
                            "--token",
                            token,
                            "--spool",
                            str(spools[k]),
                            "--quiet",
                        ),
                    ),
                    env=env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

        written: dict[int, list[object]] = {k: [] for k in hosts}
        cut = hosts[2][1]
        for r in range(ROUNDS):
            if r == 2:
                lab.ip(srv, f"link set {cut} down")
            for k in hosts:
                obs = observations(f"hv-{k}", r * PER_ROUND, PER_ROUND)
                append(feeds[k], obs)
                written[k].extend(obs)
            time.sleep(1.0)
            if r == 3:
                # Cut off, the collector kept its batches on disk.
                assert wait_until(lambda: len(list(spools[2].glob("*.jsonl"))) >= 2, 20)
                assert journaled(db).get("push@hv-2", 0) < len(written[2])
                lab.ip(srv, f"link set {cut} up")

        total = ROUNDS * PER_ROUND
        want = {f"push@hv-{k}": total for k in hosts}
        assert wait_until(lambda: journaled(db) == want, 90, 0.5), journaled(db)
        assert wait_until(lambda: not any(list(s.glob("*.jsonl")) for s in spools.values()), 30)

        for p in procs[1:]:
            p.send_signal(signal.SIGTERM)
        for p in procs[1:]:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert f"pushed {total:,} observations" in err, err

        # Exactly once: no observation reached the recorder twice, re-sent batches included.
        metrics = probe(
            hosts[1][0],
            (
                f"import httpx2; print(httpx2.get('http://10.77.0.1:{PORT}/metrics', headers="
                f"{{'Authorization': 'Bearer {token}'}}).text)"
            ),
        )
        dup = [
            x for x in metrics.splitlines() if x.startswith("vtrail_observations_duplicate_total ")
        ]
        assert dup == ["vtrail_observations_duplicate_total 0.0"], dup
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        lab.close()
    everything = [o for k in sorted(written) for o in written[k]]
    assert store_history(db) == serial_history(tmp_path, everything)  # type: ignore[arg-type]

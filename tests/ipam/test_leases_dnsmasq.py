"""Leases are a source: a real dnsmasq serves DHCP in one network namespace to a real
client (busybox udhcpc) in another, `vtrail record --source leases:PATH` follows its
lease file, and `vtrail ipam who` names the client that leased the address, and when
the lease ended (dnsmasq's `dhcp_release` ends it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrail.cli.main import app

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces"),
    pytest.mark.skipif(
        not all(shutil.which(x) for x in ("dnsmasq", "dhcp_release", "busybox")),
        reason="needs dnsmasq, dhcp_release and busybox (scripts/install.sh installs them)",
    ),
]

SERVER, CLIENT = "vt-ipam-dhs", "vt-ipam-dhc"
CLIENT_MAC = "02:00:5e:77:00:09"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture
def wire() -> Iterator[None]:
    for ns in (SERVER, CLIENT):
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", "dh-s", "netns", SERVER, "type", "veth",
           "peer", "name", "dh-c", "netns", CLIENT)  # fmt: skip
        sh("ip", "-n", CLIENT, "link", "set", "dh-c", "address", CLIENT_MAC)
        sh("ip", "-n", SERVER, "addr", "add", "10.77.0.1/24", "dev", "dh-s")
        for ns, dev in ((SERVER, "dh-s"), (CLIENT, "dh-c")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield
    finally:
        for ns in (SERVER, CLIENT):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


#: What udhcpc runs on each state: the address put on the interface, so that a release
#: has an address to be sent from.
SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
"""


def udhcpc(script: Path, *extra: str) -> None:
    # -q: quit once it has a lease.
    sh("ip", "netns", "exec", CLIENT, "busybox", "udhcpc", "-i", "dh-c", "-n", "-q", "-t", "5",
       "-T", "1", "-s", str(script), "-x", "hostname:client-9", *extra)  # fmt: skip


def test_a_real_dnsmasq_lease_is_recorded_with_its_client_and_its_end(
    wire: None, tmp_path: Path
) -> None:
    leases, db = tmp_path / "dnsmasq.leases", tmp_path / "v.db"
    leases.touch()
    script = tmp_path / "udhcpc.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    dnsmasq = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            SERVER,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=dh-s",
            "--bind-interfaces",
            "--dhcp-authoritative",
            "--dhcp-range=10.77.0.50,10.77.0.60,1h",
            f"--dhcp-leasefile={leases}",
            f"--pid-file={tmp_path / 'dnsmasq.pid'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    record = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from vtrail.cli.main import main; main()",
            "record",
            "-s",
            f"leases:{leases}?space=dhcp-lab",
            "--for",
            "12s",
            "--interval",
            "1s",
            "--db",
            str(db),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(3)
        udhcpc(script)
        deadline = time.monotonic() + 5
        while CLIENT_MAC not in leases.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert CLIENT_MAC in leases.read_text()
        time.sleep(2)
        # The server's own release tool: busybox's release is sent from an address
        # dnsmasq does not answer on a bare veth.
        client_id = leases.read_text().split()[4]
        sh("ip", "netns", "exec", SERVER, "dhcp_release", "dh-s", "10.77.0.50", CLIENT_MAC,
           client_id)  # fmt: skip
        deadline = time.monotonic() + 5
        while CLIENT_MAC in leases.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert CLIENT_MAC not in leases.read_text()
        out, _ = record.communicate(timeout=30)
        assert record.returncode == 0, out.decode()
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(5)
        if record.poll() is None:
            record.kill()

    done = CliRunner().invoke(app, ["ipam", "who", "10.77.0.50", "--db", str(db), "-o", "json"])
    assert done.exit_code == 0, done.output
    holders = json.loads(done.stdout)["holders"]
    assert [(h["entity"], h["how"], h["id"], h["detail"]) for h in holders] == [
        (f"mac:{CLIENT_MAC}", "leased", "ip:10.77.0.50@dhcp-lab", "client-9")
    ]
    # Leased, then released: the holding has both ends.
    assert holders[0]["to"] is not None and holders[0]["from"] < holders[0]["to"]
    by_mac = CliRunner().invoke(app, ["ipam", "who", CLIENT_MAC, "--db", str(db), "-o", "json"])
    assert [h["entity"] for h in json.loads(by_mac.stdout)["holders"]] == ["ip:10.77.0.50@dhcp-lab"]

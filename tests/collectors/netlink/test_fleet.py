"""Source strings, and what needs no namespace of ours."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vtrail.collectors.netlink import (
    NamespaceGone,
    NetlinkCollector,
    NetlinkFleet,
    NetlinkSourceSpec,
    parse_source_uri,
)

HOST = socket.gethostname()


@pytest.mark.parametrize(
    ("uri", "spec"),
    [
        ("netlink", NetlinkSourceSpec(None)),
        ("netlink:", NetlinkSourceSpec(None)),
        ("netlink:*", NetlinkSourceSpec(None)),
        ("netlink:blue", NetlinkSourceSpec("blue")),
        ("netlink:qrouter-*", NetlinkSourceSpec("qrouter-*")),
        (f"netlink:blue@{HOST}", NetlinkSourceSpec("blue", HOST)),
        (f"netlink:{HOST}", NetlinkSourceSpec(HOST)),
    ],
)
def test_parse_source_uri(uri: str, spec: NetlinkSourceSpec) -> None:
    assert parse_source_uri(uri) == spec


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("libvirt+qemu:///system", "not a netlink source"),
        ("netlinks:blue", "not a netlink source"),
        ("netlink:a/b", "bad network namespace name"),
        ("netlink:..", "bad network namespace name"),
        ("netlink:blue@not-this-host.invalid", "can only record this machine"),
    ],
)
def test_parse_source_uri_refuses(uri: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_source_uri(uri)


def test_a_collector_source_string_parses_back() -> None:
    assert parse_source_uri(f"netlink:vtt-x@{HOST}").namespace == "vtt-x"


def test_a_missing_namespace_is_gone_and_never_created(tmp_path: Path) -> None:
    with pytest.raises(NamespaceGone, match="does not exist"):
        NetlinkCollector("vtt-missing", netns_dir=str(tmp_path))
    assert not (tmp_path / "vtt-missing").exists()


def test_a_plain_file_is_not_a_namespace(tmp_path: Path) -> None:
    # `ip netns add` creates the file a moment before it mounts the namespace on it.
    (tmp_path / "vtt-half").touch()
    with pytest.raises(NamespaceGone, match="not a mounted network namespace"):
        NetlinkCollector("vtt-half", netns_dir=str(tmp_path))
    fleet = NetlinkFleet(netns_dir=str(tmp_path), include_root=False)
    assert fleet.scan().added == ()


def test_the_fleet_of_an_empty_directory_has_just_the_root(tmp_path: Path) -> None:
    fleet = NetlinkFleet(netns_dir=str(tmp_path / "none-yet"))
    try:
        (root,) = fleet.scan().added
        assert root.is_root and root.source == f"netlink:{HOST}@{HOST}"
        assert fleet.scan().added == () and fleet.scan().removed == ()
    finally:
        fleet.close()

"""The enum tables match the installed libvirt bindings; the --source syntax parses."""

from __future__ import annotations

import libvirt
import pytest

from vtrail.collectors.libvirt import default_host, enums, parse_source_uri, source_name


def constants(prefix: str) -> dict[int, str]:
    """libvirt's `PREFIX_NAME = value` constants as `{value: "name"}`."""
    return {
        value: name.removeprefix(prefix).lower()
        for name, value in vars(libvirt).items()
        if name.startswith(prefix) and isinstance(value, int) and not name.endswith("_LAST")
    }


def assert_table(table: dict[int, str], prefix: str, renames: dict[str, str] | None = None) -> None:
    expected = constants(prefix)
    assert expected, prefix
    for value, word in expected.items():
        assert table[value] == (renames or {}).get(word, word), (prefix, value)


def test_states_and_reasons_match_libvirt() -> None:
    words = ["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed"]
    states = {getattr(libvirt, f"VIR_DOMAIN_{w.upper()}"): w for w in [*words, "pmsuspended"]}
    assert states == enums.STATES
    assert_table(enums.STATE_REASONS[libvirt.VIR_DOMAIN_RUNNING], "VIR_DOMAIN_RUNNING_")
    assert_table(enums.STATE_REASONS[libvirt.VIR_DOMAIN_PAUSED], "VIR_DOMAIN_PAUSED_")
    assert_table(enums.STATE_REASONS[libvirt.VIR_DOMAIN_SHUTOFF], "VIR_DOMAIN_SHUTOFF_")


def test_events_match_libvirt() -> None:
    for value, word in enums.EVENTS.items():
        assert getattr(libvirt, f"VIR_DOMAIN_EVENT_{word.upper()}") == value
    assert enums.STOPPED == libvirt.VIR_DOMAIN_EVENT_STOPPED
    assert enums.UNDEFINED_RENAMED == libvirt.VIR_DOMAIN_EVENT_UNDEFINED_RENAMED
    assert_table(enums.EVENT_DETAILS[enums.STARTED], "VIR_DOMAIN_EVENT_STARTED_")
    # Renamed so a paused domain's event and its later state reason agree.
    assert_table(
        enums.EVENT_DETAILS[enums.SUSPENDED],
        "VIR_DOMAIN_EVENT_SUSPENDED_",
        {"paused": "user", "migrated": "migration"},
    )
    assert_table(enums.EVENT_DETAILS[enums.RESUMED], "VIR_DOMAIN_EVENT_RESUMED_")
    assert_table(enums.EVENT_DETAILS[enums.STOPPED], "VIR_DOMAIN_EVENT_STOPPED_")
    assert (
        enums.NET_DEFINED,
        enums.NET_UNDEFINED,
        enums.NET_STARTED,
        enums.NET_STOPPED,
    ) == (
        libvirt.VIR_NETWORK_EVENT_DEFINED,
        libvirt.VIR_NETWORK_EVENT_UNDEFINED,
        libvirt.VIR_NETWORK_EVENT_STARTED,
        libvirt.VIR_NETWORK_EVENT_STOPPED,
    )


def test_stopped_details_are_shutoff_reasons() -> None:
    """After `stopped/<detail>` a snapshot reports the same `state_reason` word."""
    shutoff = set(enums.STATE_REASONS[libvirt.VIR_DOMAIN_SHUTOFF].values())
    assert set(enums.EVENT_DETAILS[enums.STOPPED].values()) <= shutoff


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("libvirt+test:///tmp/hv-a.xml@hv-a", ("test:///tmp/hv-a.xml", "hv-a")),
        ("libvirt+test:///default", ("test:///default", None)),
        ("libvirt+qemu:///system@hv1.example.net", ("qemu:///system", "hv1.example.net")),
        # An @ in the authority is a user, not a host suffix.
        ("libvirt+qemu+ssh://root@hv-a/system", ("qemu+ssh://root@hv-a/system", None)),
        ("libvirt+qemu+ssh://root@hv-a/system@hv-a", ("qemu+ssh://root@hv-a/system", "hv-a")),
        ("libvirt+qemu+ssh://root@hv-a", ("qemu+ssh://root@hv-a", None)),
        (
            "libvirt+qemu+tls://hv-a/system?keyfile=/k.pem@hv-a",
            ("qemu+tls://hv-a/system?keyfile=/k.pem", "hv-a"),
        ),
    ],
)
def test_parse_source_uri(spec: str, expected: tuple[str, str | None]) -> None:
    assert parse_source_uri(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("test:///default", "libvirt\\+URI"),
        ("libvirt+test:///default@", "bad host name ''"),
        ("libvirt+test:///default@a b", "bad host name 'a b'"),
        ("libvirt+default", "not a libvirt URI"),
    ],
)
def test_parse_source_uri_refuses(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_source_uri(spec)


def test_source_name_round_trips() -> None:
    uri, host = "qemu+ssh://root@hv-a/system", "hv-a"
    assert parse_source_uri(source_name(uri, host)) == (uri, host)


@pytest.mark.parametrize(
    ("uri", "reported", "local", "expected"),
    [
        # libvirt made an FQDN of this machine's dotless name: use the name netlink uses.
        ("qemu:///system", "hv1.example.net", "hv1", "hv1"),
        ("test:///tmp/hv.xml", "hv1", "hv1", "hv1"),
        ("qemu:///system", "hv1.example.net", "hv1.example.net", "hv1.example.net"),
        # Another machine's answer is kept, even when its first label matches ours.
        ("qemu+ssh://root@hv1/system", "hv1.example.net", "hv1", "hv1.example.net"),
        ("qemu:///system", "other.example.net", "hv1", "other.example.net"),
    ],
)
def test_default_host(uri: str, reported: str, local: str, expected: str) -> None:
    assert default_host(uri, reported, local) == expected

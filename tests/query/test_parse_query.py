"""What a user typed is an address, or not: `spaces.parse_query` tells them apart.

Most of what is typed (ids, VM names) is told apart by its first character,
before `ipaddress` is asked; these hold the line on both sides of that test.
"""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from vtrail.query.spaces import parse_query

ADDRESSES = {
    "10.0.0.1": ("10.0.0.1", None),
    " 10.0.0.1 ": ("10.0.0.1", None),
    "10.0.0.1/24": ("10.0.0.1", None),
    "10.0.0.1@ns-a": ("10.0.0.1", "ns-a"),
    "10.0.0.1@ ns-a ": ("10.0.0.1", "ns-a"),
    "::1": ("::1", None),
    "::ffff:10.0.0.1": ("::ffff:10.0.0.1", None),
    "fe80::1%eth0": ("fe80::1%eth0", None),
    "FE80::1": ("fe80::1", None),
    "dead:beef::1@web-1": ("dead:beef::1", "web-1"),
    "2001:db8::/64": ("2001:db8::", None),
}

NOT_ADDRESSES = [
    "",
    "vm:web-1",
    "web-1",
    "db-1",
    "cafe",
    "abc.def",
    "beef:",
    "1.2.3.4.5",
    "10.0.0.256",
    "52:54:00:12:34:56",
    "@ns-a",
]


@pytest.mark.parametrize("text", sorted(ADDRESSES))
def test_every_form_of_an_address_is_read(text: str) -> None:
    address, space = ADDRESSES[text]
    assert parse_query(text) == (ip_address(address), space)


@pytest.mark.parametrize("text", NOT_ADDRESSES)
def test_what_is_no_address_is_none(text: str) -> None:
    assert parse_query(text) is None

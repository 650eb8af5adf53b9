"""Fixtures: a vantage and a target namespace, joined, removed after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.netlink.netlink_lab import SKIP_REASON, Lab
from collectors.probe.probe_lab import join


@pytest.fixture
def lab() -> Iterator[Lab]:
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    made = Lab()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def pair(lab: Lab) -> tuple[str, str]:
    """(vantage, target) namespaces on one veth pair."""
    vantage, target = lab.ns("v"), lab.ns("t")
    join(lab, vantage, target)
    return vantage, target

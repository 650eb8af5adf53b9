"""Fixtures: a vantage and a target namespace, joined, removed after each test."""

from __future__ import annotations

import pytest

from collectors.netlink.netlink_lab import Lab
from collectors.probe.probe_lab import join


@pytest.fixture
def pair(lab: Lab) -> tuple[str, str]:
    """(vantage, target) namespaces on one veth pair."""
    vantage, target = lab.ns("v"), lab.ns("t")
    join(lab, vantage, target)
    return vantage, target

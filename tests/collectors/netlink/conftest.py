"""Fixtures: real network namespaces, removed after each test whatever happens."""

from __future__ import annotations

import pytest

from collectors.netlink.netlink_lab import Fabric, Lab, build_fabric


@pytest.fixture
def fabric(lab: Lab) -> Fabric:
    return build_fabric(lab)

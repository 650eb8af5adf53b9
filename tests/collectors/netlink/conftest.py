"""Fixtures: real network namespaces, removed after each test whatever happens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.netlink.netlink_lab import SKIP_REASON, Fabric, Lab, build_fabric


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
def fabric(lab: Lab) -> Fabric:
    return build_fabric(lab)

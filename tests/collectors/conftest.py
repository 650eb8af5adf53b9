"""Fixtures the collectors' tests share: a lab of real network namespaces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.netlink.netlink_lab import SKIP_REASON, Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    """Real network namespaces, removed after each test whatever happens."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    made = Lab()
    try:
        yield made
    finally:
        made.close()

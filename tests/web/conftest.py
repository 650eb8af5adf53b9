"""One Chromium for every browser test of the run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from web.chromium import SKIP, chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if SKIP is not None:
        pytest.skip(SKIP)
    with chromium() as driver:
        yield driver

"""The pools view, in a real browser: the toolbar's Pools button opens it, and each pool
is drawn with what was allocated and in use over the window, as `/api/ipam/usage`
counts it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ipam.fabric import ago, apply_pools, holds
from stores import STORES, module_location
from vtrail.ipam.allocate import allocate
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from web.chromium import By, load, needs_chromium, serving, shot, wait

pytestmark = needs_chromium


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db = module_location(request, tmp_path_factory, "ipam")
    store = open_store(db)
    recorder = Recorder(store)
    apply_pools(recorder, at=ago(3))
    holds(recorder, "netlink:blue", "port:blue/eth0", "10.0.3.2", "blue", ago(2), None)
    allocate(store, recorder, "lab", "vm:web", 3)
    store.close()
    with serving(db) as url:
        yield url


def now_counts(browser: Any, pool: str) -> dict[str, str]:
    found: dict[str, str] = browser.execute_script(
        "const f = document.querySelector(`figure.pool[data-pool='${arguments[0]}']`);"
        "if (!f) return {};"
        "return Object.fromEntries([...f.querySelectorAll('[data-now]')]"
        ".map(b => [b.dataset.now, b.textContent]));",
        pool,
    )
    return found


def test_the_pools_view_plots_each_pool(server: str, browser: Any) -> None:
    load(browser, server)
    browser.find_element(By.ID, "pools-open").click()
    wait(lambda: now_counts(browser, "lab") != {}, "the lab pool drawn")
    # 10.0.3.2 observed, then 10.0.3.3-5 allocated: 3 allocated, 1 in use, 249 free.
    assert now_counts(browser, "lab") == {"allocated": "3", "observed": "1", "free": "249"}
    pools = browser.execute_script(
        "return [...document.querySelectorAll('figure.pool')].map(f => f.dataset.pool)"
    )
    assert pools == ["lab", "lab6", "macs", "one"]
    lines = browser.find_elements(By.CSS_SELECTOR, "figure.pool[data-pool='lab'] polyline")
    assert [x.get_attribute("data-series") for x in lines] == ["allocated", "observed"]
    # The allocated line ends higher than it starts: it rose within the window.
    points = lines[0].get_attribute("points").split()
    assert float(points[-1].split(",")[1]) < float(points[0].split(",")[1])
    shot(browser, "page-pools.png")

"""The usage view, in a real browser: the toolbar's Usage button opens it, and each owner
or service is drawn with what it was allocated and used over the window, as
`/api/account` counts it (the accounting story, accounting/story.py, recorded so
that it ends an hour ago)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select

from accounting.story import ended, observations
from factory import T0
from stores import STORES, module_location
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from vtrail.triage.derive import derivers
from web.chromium import By, load, needs_chromium, serving, shot, wait

pytestmark = needs_chromium


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db = module_location(request, tmp_path_factory, "usage")
    # The story's ten hours, moved to end an hour ago, within the view's window; its VMs
    # end with it.
    shift = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=11) - T0
    store = open_store(db)
    store.derivers = derivers()
    Recorder(store).record(
        [
            dataclasses.replace(o, observed_at=o.observed_at + shift)
            for o in [*observations(), *ended()]
        ]
    )
    store.close()
    with serving(db) as url:
        yield url


def shown(browser: Any) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('figure.usage')].map(f => "
        "[f.dataset.key, Object.fromEntries([...f.querySelectorAll('[data-now]')]"
        ".map(b => [b.dataset.now, b.textContent]))]));"
    )
    return found


def test_the_usage_view_charts_each_owner_and_service(server: str, browser: Any) -> None:
    load(browser, server)
    browser.find_element(By.ID, "usage-open").click()
    wait(lambda: "alice" in shown(browser), "the owners drawn")
    # By owner (story.py): db-1 is alice's, web-1 team-web's, batch-1 nobody's.
    assert shown(browser) == {
        "alice": {"vcpu_hours": "32", "cpu_hours": "7.56", "memory_gib_hours": "64", "cost": "47"},
        "team-web": {
            "vcpu_hours": "20", "cpu_hours": "4.75", "memory_gib_hours": "40", "cost": "25",
        },
        "(none)": {"vcpu_hours": "10", "cpu_hours": "12", "memory_gib_hours": "20", "cost": "10"},
    }  # fmt: skip
    # Bars against the largest figure shown, alice's 32 vCPU-hours.
    widths = browser.execute_script(
        "return [...document.querySelectorAll(`figure.usage[data-key='(none)'] rect`)]"
        ".map(r => [r.dataset.series, Number(r.getAttribute('width'))])"
    )
    assert widths == [["vcpu_hours", 360 * 10 / 32], ["cpu_hours", 360 * 12 / 32]]
    Select(browser.find_element(By.ID, "usage-by")).select_by_value("service")
    wait(lambda: "web" in shown(browser), "the services drawn")
    assert {k: v["vcpu_hours"] for k, v in shown(browser).items()} == {
        "db": "32", "web": "20", "(none)": "10",
    }  # fmt: skip
    shot(browser, "page-usage.png")

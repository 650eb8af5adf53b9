"""Provisioning rules in the page's rules panel, in a real browser: a VM that ran an
uncertified image for 20 seconds is listed under "Who may run what" while it ran, beside
the placement rules, and the panel says every rule holds once it is gone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from factory import at
from provisioning.story import record_story
from provisioning.test_admit import record_policy
from stores import STORES, recorded
from web.chromium import By, busy, load, needs_chromium, serving, wait

pytestmark = needs_chromium

POLICY = """
services: {web: {members: {kind: vm, name: "web-*"}}}
rules: [{name: web-apart, anti-affinity: web}]
provisioning:
  rules:
    - {name: certified-only, certified: true}
    - {name: web-debian, owners: team-web, images: "debian*"}
"""


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db = recorded(request, tmp_path_factory, "page-provisioning", record_story)
    record_policy(db, POLICY, seconds=0)
    with serving(db) as url:
        yield url


def panel_at(browser: Any, url: str, seconds: float) -> Any:
    load(browser, f"{url}/#at={at(seconds).isoformat()}")
    iso = at(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    wait(
        lambda: (
            browser.execute_script("return document.getElementById('rules').dataset.at") == iso
            and not busy(browser)
        ),
        f"the rules panel at {iso}",
    )
    return browser.find_element(By.ID, "rules")


def test_provisioning_rules_are_listed_in_the_rules_panel(server: str, browser: Any) -> None:
    panel = panel_at(browser, server, 110)
    group = panel.find_element(By.CSS_SELECTOR, ".provisioning")
    assert group.find_element(By.TAG_NAME, "h4").text == "Who may run what"
    broken = group.find_elements(By.CSS_SELECTOR, "li.violated")
    assert [li.get_attribute("data-rule") for li in broken] == ["certified-only", "web-debian"]
    assert "ghost-1 runs scratch@0, which is not certified" in broken[0].text
    assert [
        a.get_attribute("data-ent") for a in broken[0].find_elements(By.CSS_SELECTOR, "a.ent")
    ] == ["vm:ghost-1"]
    # The placement rule is listed apart, outside the provisioning group.
    assert "web-apart" in panel.find_element(By.CSS_SELECTOR, ":scope > .holding").text


def test_once_the_vm_is_gone_every_rule_holds(server: str, browser: Any) -> None:
    panel = panel_at(browser, server, 130)
    assert "Every rule holds at this instant." in panel.text
    assert "certified-only" in panel.find_element(By.CSS_SELECTOR, ".provisioning .holding").text

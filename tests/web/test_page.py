"""The page in a real browser (Debian's chromium, driven by chromedriver) over the demo story.

The server runs in this process on a free loopback port; the browser clicks the
time slider where a person would and reads the drawing back from Cytoscape
(web/chromium.py). The story has no policy recorded: the rules panel says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from api.story import DB, GHOST, MINUTES, T0, WEB, at, record_story
from stores import STORES, recorded
from web import chromium
from web.chromium import By, load, needs_chromium, panel_text, serving, shot, wait

pytestmark = needs_chromium


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with serving(recorded(request, tmp_path_factory, "story", record_story)) as url:
        yield url


def slide_to(browser: Any, when: datetime) -> None:
    chromium.slide_to(browser, when, T0, MINUTES)


def box_of(browser: Any, eid: str) -> str | None:
    """The host or namespace box the node is drawn inside (by geometry, not by data)."""
    result: str | None = browser.execute_script(
        """
        const cy = window.vtrail.graph.cy;
        const n = cy.getElementById(arguments[0]);
        if (!n.length) return null;
        const p = n.position();
        const inside = cy.nodes('[?box]').filter((b) => {
          const bb = b.boundingBox({ includeLabels: false });
          return p.x > bb.x1 && p.x < bb.x2 && p.y > bb.y1 && p.y < bb.y2;
        });
        return inside.length === 1 ? inside.id() : null;
        """,
        eid,
    )
    return result


def present(browser: Any, eid: str) -> bool:
    return bool(
        browser.execute_script(
            "return window.vtrail.graph.cy.getElementById(arguments[0]).length > 0", eid
        )
    )


def slider_time(browser: Any) -> float:
    return float(browser.execute_script("return window.vtrail.state.t")) / 1000


def test_moving_the_slider_moves_the_migrated_vm(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(2).isoformat()}")
    assert box_of(browser, WEB) == "host:hv-a"
    shot(browser, "page-before-migration.png")
    slide_to(browser, at(15))
    assert abs(slider_time(browser) - at(15).timestamp()) < 30
    assert box_of(browser, WEB) == "host:hv-b"
    assert "03:1" in browser.find_element(By.ID, "clock-time").text
    slide_to(browser, at(3))
    assert box_of(browser, WEB) == "host:hv-a"


def test_a_counter_two_sources_read_is_carried_once(server: str, browser: Any) -> None:
    # A veth port's rx polled by its own collector and, at its end, read whole by its
    # peer's: the page counts the series read last, as `Lifetime.read_last` does.
    load(browser, f"{server}/#at={at(1).isoformat()}")
    counters = [
        {"metric": "rx_bytes", "total": 666_762, "last_at": "2026-12-04T11:29:31.753782Z"},
        {"metric": "rx_bytes", "total": 721_558, "last_at": "2026-12-04T11:29:32.706132Z"},
        {"metric": "tx_bytes", "total": 722_724, "last_at": "2026-12-04T11:29:32.701297Z"},
        {"metric": "rx_packets", "total": 508, "last_at": "2026-12-04T11:29:32.706132Z"},
    ]
    carried = browser.execute_async_script(
        "const [counters, done] = arguments;"
        "import('/static/js/panel.js').then((m) => done(m.carriedBytes(counters)));",
        counters,
    )
    assert carried == 721_558 + 722_724


def test_the_ghost_bridge_appears_only_inside_its_lifetime(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(1).isoformat()}")
    assert not present(browser, GHOST)
    slide_to(browser, at(6))
    assert present(browser, GHOST)
    classes = browser.execute_script(
        "return window.vtrail.graph.cy.getElementById(arguments[0]).classes()", GHOST
    )
    assert "ghost" in classes
    # The panel lists it among the window's ghosts, with what it carried: born between
    # two snapshots, it counted from zero, so its first 40 MB count too.
    ghosts = panel_text(browser)
    assert "br-tmp" in ghosts and "carried 80.0 MB" in ghosts
    shot(browser, "page-ghost.png")
    slide_to(browser, at(9))
    assert not present(browser, GHOST)


def test_a_path_between_two_vms_is_highlighted(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(12).isoformat()}")
    browser.find_element(By.ID, "path-a").send_keys("web-1")
    browser.find_element(By.ID, "path-b").send_keys("db-1")
    browser.find_element(By.ID, "path-go").click()
    wait(
        lambda: browser.execute_script("return window.vtrail.graph.cy.$('node.onpath').length") > 0,
        "the path to be drawn",
    )
    on = set(browser.execute_script("return window.vtrail.graph.cy.$('.onpath').map(e => e.id())"))
    assert {WEB, DB, "router:rtr", "bridge:hv-b/br-web", "bridge:hv-a/br-db"} <= on
    assert "port:hv-b/vx-web|peer|port:hv-a/vx-web" in on or (
        "port:hv-a/vx-web|peer|port:hv-b/vx-web" in on
    )
    dimmed = browser.execute_script("return window.vtrail.graph.cy.getElementById(arguments[0])"
                                    ".hasClass('dim')", "vm:33333333-3333-4333-8333-333333333333")  # fmt: skip
    assert dimmed
    panel = panel_text(browser)
    assert "Reachable" in panel and "route 10.0.2.0/24 connected dev r-db" in panel
    shot(browser, "page-path.png")
    # Drag time to when its NIC sat on the isolated bridge: the path breaks there.
    slide_to(browser, at(25))
    wait(lambda: "No path." in panel_text(browser), "the broken path")
    broken = browser.execute_script(
        "return window.vtrail.graph.cy.$('.breakpoint').map(e => e.id())"
    )
    assert broken == ["bridge:hv-b/br-iso"]
    shot(browser, "page-path-broken.png")


def search(browser: Any, text: str, expect: str) -> str:
    box = browser.find_element(By.ID, "search")
    box.clear()
    box.send_keys(text)
    wait(
        lambda: (
            expect
            in browser.execute_script("return document.getElementById('search-results').innerText")
        ),
        "search results",
    )
    box.send_keys("\n")
    wait(lambda: expect in panel_text(browser) and "HISTORY" in panel_text(browser), "details")
    return panel_text(browser)


def test_search_finds_by_ip_and_mac_and_shows_the_story(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(12).isoformat()}")
    panel = search(browser, "10.0.2.20", "ip:10.0.2.20")
    assert "prefixlen" in panel
    panel = search(browser, "52:54:00:00:02:20", "port:hv-a/vnet1")
    assert "tx_bytes" in panel and "900 B/s" in panel  # its counters, as rates
    assert browser.execute_script(
        "return window.vtrail.graph.cy.getElementById(arguments[0]).selected()", "port:hv-a/vnet1"
    )
    search(browser, "web-1", WEB)
    shot(browser, "page-entity.png")


def test_without_a_policy_the_rules_panel_says_so_in_one_line(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(12).isoformat()}")
    rules = browser.find_element(By.ID, "rules")
    wait(lambda: rules.get_attribute("data-at") is not None, "the rules panel")
    line = rules.find_element(By.CSS_SELECTOR, ".none")
    assert line.text == "No policy was in force at this instant."
    # One line high, and the API's whole line (how to record one) under the pointer.
    assert line.size["height"] < 24
    why = line.get_attribute("title")
    assert why.startswith("no policy was in force at 2026-11-20T03:12:00")
    assert "vtrail policy apply FILE" in why
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1]; window.vtrail.state.band.then(done);"
    )
    assert browser.execute_script("return window.vtrail.bar.violations") == []

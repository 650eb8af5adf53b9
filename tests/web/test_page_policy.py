"""The policy on the page, in a real browser: the rules panel follows the slider across a
violation's start and end, the slider's band shows the violations, and the drawing is
coloured by service or by domain.

The story (tests/api/story.py) with its policy (tests/api/story-policy.yaml) recorded at
minute 1: web-1's NIC is cut off from the router from minute 20 to minute 30, so
`web-near-db` (at most one router hop from web-1 to db-1) is violated over [20, 30);
web-1 leaves db-1's host at minute 10 for good, so `web-with-db` and `one-rack` are
violated from then to the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from api.story import DB, MINUTES, T0, WEB, apply_story_policy, at, record_story
from stores import STORES, recorded
from web import chromium
from web.chromium import By, busy, load, needs_chromium, panel_text, redraws, serving, shot, wait

pytestmark = needs_chromium

#: The violation the panel is watched across.
T1, T2 = at(20), at(30)
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db = recorded(request, tmp_path_factory, "policy", record_story)
    apply_story_policy(db, derived=True)
    with serving(db) as url:
        yield url


def iso_ms(when: datetime) -> str:
    """An instant as the page writes it (`Date.toISOString`)."""
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def violated(browser: Any) -> list[str]:
    names: list[str] = browser.execute_script(
        "return [...document.querySelectorAll('#rules li.violated')].map(li => li.dataset.rule)"
    )
    return sorted(names)


def rules_at(browser: Any) -> str | None:
    found: str | None = browser.execute_script(
        "return document.getElementById('rules').dataset.at || null"
    )
    return found


def settled(browser: Any, when: datetime) -> None:
    """Wait until the rules panel speaks of `when` and nothing is being redrawn."""
    wait(lambda: rules_at(browser) == iso_ms(when) and not busy(browser), f"rules at {when}")


def drag_to(browser: Any, when: datetime) -> None:
    """Put the slider exactly at `when` as a drag does (its value, then an input event),
    and wait for the page to have redrawn there."""
    before = redraws(browser)
    browser.execute_script(
        "const s = document.getElementById('slider'); s.value = String(arguments[0]);"
        "s.dispatchEvent(new Event('input', { bubbles: true }));",
        int(when.timestamp() * 1000),
    )
    wait(lambda: redraws(browser) > before, "a redraw after the drag")
    settled(browser, when)


def test_the_rules_panel_follows_the_slider_across_a_violation(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(15).isoformat()}")
    settled(browser, at(15))
    assert violated(browser) == ["one-rack", "web-with-db"]
    # Clicking the track inside [T1, T2), as a person would.
    chromium.slide_to(browser, at(25), T0, MINUTES)
    wait(lambda: "web-near-db" in violated(browser), "web-near-db violated at minute 25")
    item = browser.find_element(By.CSS_SELECTOR, "#rules li[data-rule='web-near-db']")
    assert "web-1 to db-1: no path" in item.text
    assert [a.text for a in item.find_elements(By.CSS_SELECTOR, "a.ent")] == ["web-1", "db-1"]
    shot(browser, "page-rules.png")
    # The edges, to the second the slider steps by: before T1, at T1, before T2, at T2.
    for when, broken in ((T1 - SECOND, False), (T1, True), (T2 - SECOND, True), (T2, False)):
        drag_to(browser, when)
        assert ("web-near-db" in violated(browser)) is broken, when
        assert {"one-rack", "web-with-db"} <= set(violated(browser))
    drag_to(browser, at(5))
    assert violated(browser) == []
    assert "Every rule holds" in browser.find_element(By.ID, "rules").text


def test_a_member_in_the_rules_panel_selects_it(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(25).isoformat()}")
    settled(browser, at(25))
    link = browser.find_element(
        By.CSS_SELECTOR, f"#rules li[data-rule='web-near-db'] a.ent[data-ent='{DB}']"
    )
    link.click()
    wait(lambda: "db-1" in panel_text(browser) and "HISTORY" in panel_text(browser), "db-1")
    assert browser.execute_script(
        "return window.vtrail.graph.cy.getElementById(arguments[0]).selected()", DB
    )


def test_the_side_panel_lists_membership_as_relations(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(25).isoformat()}")
    settled(browser, at(25))
    browser.find_element(
        By.CSS_SELECTOR, f"#rules li[data-rule='web-near-db'] a.ent[data-ent='{WEB}']"
    ).click()
    wait(lambda: "member_of" in panel_text(browser), "web-1's membership in the side panel")
    text = panel_text(browser)
    assert "in_domain" in text
    # Membership is shown by colour on the drawing, never as an edge to every member.
    drawn, shown = browser.execute_script(
        "const e = window.vtrail.graph.cy.edges('[rel = \"member_of\"]');"
        "return [e.length, e.filter(':visible').length]"
    )
    assert drawn > 0 and shown == 0, (drawn, shown)


_RED = """
    const bar = window.vtrail.bar;
    const c = document.getElementById('ticks');
    const dpr = window.devicePixelRatio || 1;
    const g = c.getContext('2d');
    const x = (ms) => Math.round((((ms - bar.lo) / (bar.hi - bar.lo)) * (c.clientWidth - 16) + 8) * dpr);
    // Whether the band's pixel at device column `col` is red (one violation or more).
    const red = (col) => {
      const [r, gr, b, a] = g.getImageData(col, Math.round(25 * dpr), 1, 1).data;
      return a > 100 && r > 150 && gr < 120 && b < 120;
    };
"""


def band_pixels(browser: Any, moments: list[datetime]) -> list[bool]:
    """Whether the slider's band is red at each instant, read from the canvas's pixels."""
    found: list[bool] = browser.execute_script(
        _RED + "return arguments[0].map((ms) => red(x(ms)));",
        [int(m.timestamp() * 1000) for m in moments],
    )
    return found


def band_width(browser: Any, around: datetime) -> float:
    """How many CSS pixels of solid red the band has within 10 of `around`."""
    found: float = browser.execute_script(
        _RED + "let n = 0; const at = x(arguments[0]);"
        "for (let col = at - 10 * dpr; col <= at + 10 * dpr; col++) if (red(col)) n++;"
        "return n / dpr;",
        int(around.timestamp() * 1000),
    )
    return found


def test_the_slider_shows_the_violations_as_a_band(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(15).isoformat()}")
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1]; window.vtrail.state.band.then(done);"
    )
    spans = browser.execute_script("return window.vtrail.bar.violations")
    near = [(a, b) for a, b, rule in spans if rule == "web-near-db"]
    assert near == [(T1.timestamp() * 1000, T2.timestamp() * 1000)]
    # Still open at the window's end: it reaches the end.
    hi = browser.execute_script("return window.vtrail.bar.hi")
    assert any(rule == "web-with-db" and b == hi for _, b, rule in spans)
    # Nothing broken before minute 10; broken from then on, to the window's end.
    assert band_pixels(browser, [at(3), at(8), at(12), at(25), at(39.9)]) == [
        False,
        False,
        True,
        True,
        True,
    ]
    # A violation of two seconds still gets a sliver one can find.
    browser.execute_script(
        "window.vtrail.bar.setViolations([[arguments[0], arguments[0] + 2000, 'short']])",
        int(at(5).timestamp() * 1000),
    )
    assert band_width(browser, at(5)) >= 3 and band_width(browser, at(3)) == 0


def colour_by(browser: Any, value: str) -> None:
    browser.execute_script(
        "const s = document.getElementById('colour-by'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));",
        value,
    )


def style(browser: Any, eid: str, prop: str) -> str:
    found: str = browser.execute_script(
        "return window.vtrail.graph.cy.getElementById(arguments[0]).style(arguments[1])",
        eid,
        prop,
    )
    return found.replace(" ", "")


def swatch(browser: Any, group: str) -> str:
    """The border colour of the legend's swatch for `group`, as `rgb(r,g,b)`."""
    found: str = browser.execute_script(
        "const i = document.querySelector(`#groups [data-group='${arguments[0]}'] .sw`);"
        "return i ? getComputedStyle(i).borderTopColor : null;",
        group,
    )
    return found.replace(" ", "")


def test_the_drawing_is_coloured_by_service_or_by_domain(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(25).isoformat()}")
    settled(browser, at(25))
    bridge = "bridge:hv-a/br-db"
    plain_vm, plain_bridge = (
        style(browser, WEB, "border-color"),
        style(browser, bridge, "border-color"),
    )
    assert browser.find_element(By.ID, "groups").get_attribute("hidden")

    colour_by(browser, "services")
    legend = browser.find_element(By.ID, "groups").text
    assert "Services" in legend and all(s in legend for s in ("web", "db", "app"))
    web, db = swatch(browser, "web"), swatch(browser, "db")
    assert web != db
    assert style(browser, WEB, "border-color") == web != plain_vm
    assert style(browser, DB, "border-color") == db
    # What is in no service stays as it is.
    assert style(browser, bridge, "border-color") == plain_bridge
    shot(browser, "page-services.png")

    colour_by(browser, "domains")
    # At minute 25 web-1 runs on hv-b (rack-b), db-1 on hv-a (rack-a), whose box is coloured.
    assert style(browser, WEB, "border-color") == swatch(browser, "rack-b")
    assert style(browser, DB, "border-color") == swatch(browser, "rack-a")
    assert style(browser, "host:hv-a", "border-color") == swatch(browser, "rack-a")
    # The colours follow the slider: before minute 10 web-1 ran on hv-a, in rack-a.
    drag_to(browser, at(5))
    assert style(browser, WEB, "border-color") == swatch(browser, "rack-a")
    assert "colour=domains" in browser.current_url

    colour_by(browser, "")
    assert style(browser, WEB, "border-color") == plain_vm
    assert browser.find_element(By.ID, "groups").get_attribute("hidden")

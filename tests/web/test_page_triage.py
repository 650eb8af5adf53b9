"""The triage view on the page, in a real browser, over the probe story
(tests/triage/probe_story.py): web-1's port is replugged onto an isolated bridge at
minute 20, and the probe from web-1 to db-1 loses everything from the round at 20:05
to the one at 30:05.

The view is asked first where nothing is wrong, then at minute 25, so a view that did
not follow its answers would keep showing the first one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.story import DB, WEB, at
from stores import STORES, recorded
from triage.probe_story import CULPRIT, SOURCE, record_probe_story
from web.chromium import (
    By,
    busy,
    load,
    needs_chromium,
    panel_text,
    redraws,
    serving,
    shot,
    wait,
)

pytestmark = needs_chromium

#: The rounds at minute 25's triage: from the record's start (03:00:05) to 03:24:35,
#: every 30 s; the ten from 20:05 on lost everything.
ROUNDS, LOST = 50, 10


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with serving(recorded(request, tmp_path_factory, "tpage", record_probe_story)) as url:
        yield url


def iso_ms(minute: float) -> str:
    """An instant as the page writes it (`Date.toISOString`)."""
    return at(minute).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def view(browser: Any) -> dict[str, Any]:
    """What the triage view shows: its question, its state, and what it read."""
    found: dict[str, Any] = browser.execute_script(
        """
        const out = document.getElementById('triage-out');
        const q = (s) => [...out.querySelectorAll(s)];
        return {
          open: !document.getElementById('triage').hidden,
          key: out.dataset.key || null,
          state: out.dataset.state || null,
          onset: (out.querySelector('.onset') || {}).innerText || null,
          error: (out.querySelector('.t-error') || {}).innerText || null,
          suspects: q('.suspects li').map((li) => li.dataset.ent),
          first: q('.t-hops tr.first').map((tr) => [
            Number(tr.dataset.hop), ...[...tr.querySelectorAll('a.ent')].map((a) => a.dataset.ent)]),
          broken: q('.t-hops td.broken a.ent').map((a) => a.dataset.ent),
          probes: q('.probe').map((p) => p.dataset.source),
          loss: q('.probe .pchart[data-metric="probe.loss"] circle').map((c) => Number(c.dataset.v)),
          // Where the dots of each loss landed on the screen: [loss, top, width].
          dots: q('.probe .pchart[data-metric="probe.loss"] circle').map((c) => {
            const r = c.getBoundingClientRect();
            return [Number(c.dataset.v), r.top, r.width];
          }),
          rtt: q('.probe .pchart[data-metric="probe.rtt_ms"] circle').length,
        };
        """
    )
    return found


def ask(browser: Any, a: str, b: str = "") -> None:
    """Type the question into the view and ask it at the slider's instant, as a person
    would; wait for the answer (and its charts) or the refusal."""
    if not view(browser)["open"]:
        browser.find_element(By.ID, "triage-open").click()
    for field, text in (("triage-a", a), ("triage-b", b)):
        box = browser.find_element(By.ID, field)
        box.clear()
        if text:
            box.send_keys(text)
    before = view(browser)["key"]
    browser.find_element(By.ID, "triage-go").click()
    wait(
        lambda: view(browser)["key"] != before and view(browser)["state"] in ("charted", "error"),
        f"the triage of {a} {b}",
    )


def test_triage_of_a_service_names_the_replug_and_leads_to_it(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={iso_ms(5)}")
    ask(browser, "db")
    calm = view(browser)
    assert calm["key"] == f"db@{iso_ms(5)}"
    assert calm["onset"] == (
        "No probe was degraded in the 1 h before: the onset is the instant asked, 03:05:00."
    )
    assert calm["first"] == [] and CULPRIT not in calm["suspects"][:1]
    assert calm["loss"] and not any(calm["loss"])

    # The slider to minute 25, as a drag leaves it, and the same question again.
    before = redraws(browser)
    browser.execute_script(
        "const s = document.getElementById('slider'); s.value = String(arguments[0]);"
        "s.dispatchEvent(new Event('input', { bubbles: true }));",
        int(at(25).timestamp() * 1000),
    )
    wait(lambda: redraws(browser) > before and not busy(browser), "a redraw at minute 25")
    ask(browser, "db")
    seen = view(browser)
    assert seen["key"] == f"db@{iso_ms(25)}"
    assert seen["onset"].startswith("Loss began at 03:20:05")
    assert "last healthy round 03:19:35" in seen["onset"]
    assert seen["suspects"][0] == CULPRIT
    # The first hop that differs: web-1's port stood on br-web before, on br-iso at the
    # onset, where the path broke.
    assert seen["first"] == [[4, "bridge:hv-b/br-web", "bridge:hv-b/br-iso"]]
    assert seen["broken"] == ["bridge:hv-b/br-iso"]
    # A dot per round: lossless ones at 0, the ten since 20:05 at 1; RTT only when it answered.
    assert seen["probes"] == [SOURCE]
    assert len(seen["loss"]) == ROUNDS and seen["loss"].count(1) == LOST
    assert seen["rtt"] == ROUNDS - LOST
    lost = [top for v, top, width in seen["dots"] if v == 1 and width > 0]
    kept = [top for v, top, width in seen["dots"] if v == 0 and width > 0]
    assert len(lost) == LOST and len(kept) == ROUNDS - LOST and max(lost) < min(kept)
    assert f"triage=db%40{iso_ms(25).replace(':', '%3A')}" in browser.current_url

    # The first suspect: the slider goes to its instant, and it is picked there.
    browser.find_element(By.CSS_SELECTOR, "#triage-out .suspects li").click()
    wait(
        lambda: (
            browser.execute_script("return window.vtrail.bar.value()") == at(20).timestamp() * 1000
            and not busy(browser)
            and "vnet1" in panel_text(browser)
        ),
        "the slider at the replug and the port picked",
    )
    assert browser.execute_script(
        "return window.vtrail.graph.cy.getElementById(arguments[0]).selected()", CULPRIT
    )
    assert browser.find_element(By.ID, "clock-time").text.startswith("2026-11-20 03:20:00")
    # The answer stays the one asked at minute 25.
    assert view(browser)["key"] == f"db@{iso_ms(25)}"
    # Tall enough for the paths, the suspects and the charts together.
    browser.set_window_size(1600, 1500)
    try:
        browser.execute_script("document.getElementById('triage-out').scrollTop = 0")
        shot(browser, "page-triage.png")
    finally:
        browser.set_window_size(1600, 960)


def test_the_url_keeps_the_question(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={iso_ms(20)}&triage=web-1,db-1@{iso_ms(25)}")
    wait(lambda: view(browser)["state"] == "charted", "the triage from the URL")
    seen = view(browser)
    assert seen["key"] == f"web-1,db-1@{iso_ms(25)}"
    assert seen["suspects"][0] == CULPRIT
    assert seen["first"] == [[4, "bridge:hv-b/br-web", "bridge:hv-b/br-iso"]]
    assert browser.find_element(By.ID, "triage-b").get_attribute("value") == "db-1"
    # web-1's port on hv-a, gone when it left at minute 10: picked at its last second.
    gone = "port:hv-a/vnet0"
    browser.find_element(By.CSS_SELECTOR, f"#triage-out .suspects li[data-ent='{gone}']").click()
    wait(
        lambda: (
            browser.execute_script(
                "return window.vtrail.graph.cy.getElementById(arguments[0]).selected()", gone
            )
            and not busy(browser)
        ),
        "the port that vanished, picked",
    )
    assert (
        browser.execute_script("return window.vtrail.bar.value()")
        == at(10).timestamp() * 1000 - 1000
    )
    browser.find_element(By.ID, "triage-close").click()
    wait(lambda: "triage=" not in browser.current_url, "the question out of the URL")
    assert view(browser)["key"] is None and view(browser)["suspects"] == []
    # A link whose question is not one: said in one line, nothing asked.
    load(browser, f"{server}/#at={iso_ms(20)}&triage=db")
    assert view(browser)["open"] and view(browser)["key"] is None
    assert browser.find_element(By.ID, "triage-hint").text == (
        "The link's triage=db is not a question: WHAT or A,B, then @ and an instant."
    )


def test_two_entities_from_the_drawing(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={iso_ms(25)}&sel={WEB}")
    wait(lambda: "Triage from here" in panel_text(browser), "web-1's panel")
    browser.find_element(By.CSS_SELECTOR, "#panel button[data-act='triage']").click()
    assert browser.find_element(By.ID, "triage-a").get_attribute("value") == WEB
    browser.find_element(By.ID, "triage-b").send_keys("db-1")
    before = view(browser)["key"]
    browser.find_element(By.ID, "triage-go").click()
    wait(lambda: view(browser)["key"] != before and view(browser)["state"] == "charted", "A B")
    seen = view(browser)
    assert seen["suspects"][0] == CULPRIT and seen["loss"].count(1) == LOST
    # The affected member's name links to it.
    assert browser.find_elements(By.CSS_SELECTOR, f"#triage-out .affected a[data-ent='{DB}']")


def test_what_cannot_be_answered_is_said_in_one_line(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={iso_ms(25)}")
    ask(browser, "db")
    assert view(browser)["suspects"]
    ask(browser, "dbx")
    seen = view(browser)
    assert seen["state"] == "error" and seen["suspects"] == [] and seen["probes"] == []
    assert seen["error"].startswith(
        "'dbx' is neither a service nor a domain of the policy in force"
    )
    assert "\n" not in seen["error"]
    ask(browser, "web-1", "nothere")
    assert (
        view(browser)["error"]
        == "nothing recorded matches 'nothere' (a VM, NIC, MAC, IP or namespace)"
    )
    # web has no probe: the onset is the instant asked, and its member has no series.
    ask(browser, "web")
    seen = view(browser)
    assert "the onset is the instant asked, 03:25:00" in seen["onset"]
    assert seen["probes"] == [] and seen["first"] == []
    text = browser.find_element(By.CSS_SELECTOR, "#triage-out .t-probes").text
    assert text == "No probe results for web-1 in the window."
    # Nothing asked: said under the form, and the answer shown stays.
    browser.find_element(By.ID, "triage-a").clear()
    browser.find_element(By.ID, "triage-go").click()
    assert browser.find_element(By.ID, "triage-hint").text == (
        "Give a service or a domain, or one or two entities."
    )
    assert "the onset is the instant asked" in view(browser)["onset"]

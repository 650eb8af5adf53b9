"""The page in a real browser (Debian's chromium, driven by chromedriver) over the demo story.

The server runs in this process on a free loopback port; the browser clicks the
time slider where a person would and reads the drawing back from Cytoscape.
Screenshots go to a temporary folder; `VTRAIL_SCREENSHOTS=docs/img` refreshes the
ones the docs show (or names any other folder).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.story import DB, GHOST, MINUTES, T0, WEB, at, record_story
from vtrail.api import Settings, create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
webdriver: Any = None
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
except ImportError:  # pragma: no cover - reported by the skip below
    pass

SKIP = None
if webdriver is None:
    SKIP = "selenium is not installed (pip install selenium)"
elif not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    SKIP = "Debian's chromium and chromium-driver are not installed"
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

SHOTS = Path(
    os.environ.get("VTRAIL_SCREENSHOTS") or Path(tempfile.gettempdir()) / "vtrail-screenshots"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = record_story(tmp_path_factory.mktemp("story") / "vtrail.db")
    port = free_port()
    config = uvicorn.Config(
        create_app(Settings(db=db)), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    opts = Options()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="vtrail-chromium-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,960",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def load(browser: Any, url: str) -> None:
    browser.get("about:blank")  # a new hash alone would not reload the page
    browser.get(url)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];window.vtrail.ready.then(() => done(true));"
    )


def redraws(browser: Any) -> int:
    return int(browser.execute_script("return window.vtrail.perf.redraws.length"))


def slide_to(browser: Any, when: datetime) -> None:
    """Click the slider track where `when` lies, as a person would, and wait for the redraw."""
    slider = browser.find_element(By.ID, "slider")
    width = slider.size["width"]
    fraction = (when - T0).total_seconds() / (MINUTES * 60)
    # The thumb (16 px) travels over the track minus its own width.
    x = round(8 + fraction * (width - 16) - width / 2)
    before = redraws(browser)
    ActionChains(browser).move_to_element_with_offset(slider, x, 0).click().perform()
    wait(lambda: redraws(browser) > before and not busy(browser), "a redraw after the click")


def busy(browser: Any) -> bool:
    return not browser.find_element(By.ID, "busy").get_attribute("hidden")


def wait(predicate: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


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


def shot(browser: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(1.4)  # let the focus animation and the search flash end
    browser.save_screenshot(str(SHOTS / name))


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


def panel_text(browser: Any) -> str:
    # Read through JS: the panel is re-rendered as data arrives, which stales element handles.
    return str(browser.execute_script("return document.getElementById('panel').innerText"))


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

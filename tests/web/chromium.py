"""What the browser tests share: a server on a free loopback port over a store, a real
Chromium (Debian's, driven by chromedriver), and the waits and reads the tests make.

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
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

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
#: Every browser test module's mark.
needs_chromium = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

SHOTS = Path(
    os.environ.get("VTRAIL_SCREENSHOTS") or Path(tempfile.gettempdir()) / "vtrail-screenshots"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """The API and the page over `db`, in this process: its base URL."""
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


@contextmanager
def chromium() -> Iterator[Any]:
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
    try:
        yield driver
    finally:
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


def busy(browser: Any) -> bool:
    return not browser.find_element(By.ID, "busy").get_attribute("hidden")


def wait(predicate: Any, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def slide_to(browser: Any, when: datetime, start: datetime, minutes: float) -> None:
    """Click the slider track where `when` lies in a record of `minutes` from `start`, as
    a person would, and wait for the redraw."""
    slider = browser.find_element(By.ID, "slider")
    width = slider.size["width"]
    fraction = (when - start).total_seconds() / (minutes * 60)
    # The thumb (16 px) travels over the track minus its own width.
    x = round(8 + fraction * (width - 16) - width / 2)
    before = redraws(browser)
    ActionChains(browser).move_to_element_with_offset(slider, x, 0).click().perform()
    wait(lambda: redraws(browser) > before and not busy(browser), "a redraw after the click")


def panel_text(browser: Any) -> str:
    # Read through JS: the panel is re-rendered as data arrives, which stales element handles.
    return str(browser.execute_script("return document.getElementById('panel').innerText"))


def shot(browser: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(1.4)  # let the focus animation and the search flash end
    browser.save_screenshot(str(SHOTS / name))

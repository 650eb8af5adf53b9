"""Images on the page, in a real browser (Chromium, web/chromium.py): image nodes drawn
with their status, and an image's panel with its catalog record and its exposure, the
VM that lived seconds included."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from factory import at
from images.story import BASE, GHOST, GHOST_DISK, HEX, OTHER, SRC_B, WEB, record_story
from stores import STORES, recorded
from vtrail.cli.main import app
from vtrail.model import EntityObs, Observation
from vtrail.recording.recorder import Recorder
from vtrail.store import open_store
from web.chromium import load, needs_chromium, serving, wait

pytestmark = needs_chromium
HOST_B = EntityObs("host:hv-b", "host", {"hostname": "hv-b"})


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db = recorded(request, tmp_path_factory, "images", record_story)
    done = CliRunner().invoke(
        app, ["image", "set", f"sha256:{HEX}", "--name", "debian@12.5", "--security",
              "vulnerable", "--advisory", "DSA-1", "--db", str(db)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    # The page reads in milliseconds: a later observation keeps the catalog's
    # microseconds inside the recorded span it shows.
    time.sleep(0.01)
    store = open_store(db)
    Recorder(store).record([Observation(SRC_B, datetime.now(UTC), "snapshot", (HOST_B,))])
    store.close()
    with serving(db) as url:
        yield url


def card_text(browser: Any) -> str:
    return str(
        browser.execute_script(
            "const c = document.querySelector('#panel [data-image-card]');"
            "return c ? c.textContent : ''"
        )
    )


def node_data(browser: Any, eid: str, key: str) -> Any:
    return browser.execute_script(
        "const n = window.vtrail.graph.cy.getElementById(arguments[0]);"
        "return n.length ? n.data(arguments[1]) : null",
        eid,
        key,
    )


def now() -> str:
    return datetime.now(UTC).isoformat()


def test_an_images_panel_lists_its_exposure(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={now()}&sel={BASE}")
    wait(lambda: "VM-hours" in card_text(browser), "the image's panel")
    text = card_text(browser)
    assert "debian@12.5" in text and "insecure" in text and "DSA-1" in text
    exposed = browser.execute_script(
        "return [...document.querySelectorAll('#panel [data-exposed]')].map(e => e.dataset.exposed)"
    )
    # The ghost lived five seconds; it is there beside the VM that ran an hour.
    assert exposed == [WEB, GHOST]
    assert "5s" in text and "mallory" in text


def test_image_nodes_are_drawn_with_their_status(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(102).isoformat()}")
    wait(lambda: node_data(browser, GHOST_DISK, "imageStatus") is not None, "the image nodes")
    # Before the catalog said anything, the base was only uncertified.
    assert node_data(browser, BASE, "imageStatus") == "flagged"
    load(browser, f"{server}/#at={now()}")
    wait(lambda: node_data(browser, BASE, "imageStatus") == "insecure", "the base, insecure now")
    assert node_data(browser, BASE, "label") == "debian@12.5"
    assert node_data(browser, OTHER, "imageStatus") == "flagged"  # uncertified

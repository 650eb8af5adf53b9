"""The side panel's asset card in a real browser (Chromium, web/chromium.py): owner,
support, flags, where it ran, and the VM it likely continues, with the evidence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from assets.fleet import DISK, LONER, MAC_OLD, NEW, OLD, record_fleet
from factory import at
from stores import STORES, recorded
from vtrail.cli.main import app
from web.chromium import By, load, needs_chromium, panel_text, serving, wait

pytestmark = needs_chromium


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db = recorded(request, tmp_path_factory, "assets", record_fleet)
    inv = tmp_path_factory.mktemp("inventory") / "assets.csv"
    inv.write_text(f"id,owner,purpose,support-end\n{LONER},dave,batch jobs,2001-01-01\n")
    assert CliRunner().invoke(app, ["inventory", str(inv), "--db", str(db)]).exit_code == 0
    with serving(db) as url:
        yield url


def card_text(browser: Any) -> str:
    return str(
        browser.execute_script(
            "const c = document.querySelector('#panel [data-asset-card]');"
            "return c ? c.textContent : ''"
        )
    )


def test_a_re_created_vm_shows_the_one_it_continues(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(150).isoformat()}&sel={NEW}")
    wait(lambda: "likely the same asset" in card_text(browser), "the asset card of web-1")
    text = card_text(browser)
    assert "alice" in text and DISK in text and "replaces" in text
    # textContent: chips and headings are upper-cased by the stylesheet, not in the text.
    # Its link leads to the VM it replaced, whose card says what replaced it.
    browser.find_element(By.CSS_SELECTOR, f"#panel .continuity a.ent[data-ent='{OLD}']").click()
    wait(lambda: "replaced by" in card_text(browser), "the card of the VM it replaced")
    assert "lived 1m" in card_text(browser)


def test_an_inventory_owner_and_an_ended_support_are_on_the_card(server: str, browser: Any) -> None:
    load(browser, f"{server}/#sel={LONER}")
    wait(lambda: "dave" in card_text(browser), "the asset card of batch")
    text = card_text(browser)
    assert "support-ended" in text and "batch jobs" in text and "2001-01-01" in text


def test_a_host_has_a_card_and_a_nic_none(server: str, browser: Any) -> None:
    load(browser, f"{server}/#at={at(150).isoformat()}&sel=host:hv-a")
    wait(
        lambda: "where it ran" not in card_text(browser) and "unowned" in card_text(browser),
        "hv-a's card",
    )
    nic = f"nic:{OLD[3:]}/{MAC_OLD}"
    load(browser, f"{server}/#at={at(50).isoformat()}&sel={nic}")
    wait(lambda: MAC_OLD in panel_text(browser) and "HISTORY" in panel_text(browser), "the NIC")
    assert (
        browser.execute_script("return document.querySelector('#panel [data-asset-card]')") is None
    )

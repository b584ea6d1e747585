"""The call for applications in Chromium: apply on the public page, confirm by e-mail link,
„Meine Bewerbung“ with the wish saved, „Meine Vorschläge“ naming it, then a run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import text

from api.call import CallSettings, get_call_settings
from tests.web.conftest import Site, screenshot

LINK = re.compile(r"https?://\S+#zugang=[A-Za-z0-9_-]+")


def queued(site: Site, kind: str) -> list[dict[str, Any]]:
    """The outbox's messages of ``kind``, oldest first."""
    with site.app.state.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT recipient, body FROM outboxmessage WHERE kind = :kind ORDER BY id"),
            {"kind": kind},
        ).all()
    return [{"to": to, "body": body} for to, body in rows]


def fill_application(page: Page) -> None:
    page.get_by_label("Name", exact=True).fill("Kim Neumann")
    page.get_by_label("E-Mail").fill("kim.neumann@example.org")
    page.get_by_label("Dienststelle").fill("Bezirksamt Pankow – Straßen- und Grünflächenamt")
    page.get_by_label("Funktion").fill("Sachbearbeitung Lastenradlogistik")
    page.get_by_label("Sprachkenntnisse").fill("de C2, en B2")
    page.get_by_label("Verfügbar ab").fill("2027-04-01")
    page.get_by_label("Verfügbar bis").fill("2027-08-31")
    page.get_by_label("Wunschdauer (Wochen)").fill("4")
    page.get_by_label("Motivation").fill(
        "Ich betreue Pilotprojekte mit Mikrodepots und Lastenrädern in der City-Logistik. "
        "Ich möchte lernen, wie andere Städte Flächen für Mikrodepots vergeben und wie sie "
        "Lieferverkehr mit Daten steuern."
    )


def test_apply_confirm_wish_and_suggestions_in_the_browser(site: Site, page: Page) -> None:
    site.app.dependency_overrides[get_call_settings] = lambda: CallSettings(public_url=site.url)
    until = (datetime.now(UTC) + timedelta(days=14)).isoformat()
    call = site.api("PUT", f"/api/rounds/{site.round_id}/call", json={"applications_until": until})

    page.goto(f"{site.url}/static/bewerbung.html?aufruf={call['slug']}")
    expect(page.locator("h1")).to_contain_text("Ausschreibung: ")
    fill_application(page)
    page.get_by_role("button", name="Passende Angebote zeigen").click()
    first = page.locator("#suggestions > li").first
    expect(first).to_contain_text("Passung:")
    expect(page.locator("#suggestions > li")).to_have_count(5)
    first.get_by_role("button", name="Als Wunsch übernehmen").click()
    wished = page.get_by_label("Wunsch 1").input_value()
    assert wished
    screenshot(page, "call-form")
    page.get_by_role("button", name="Bewerbung absenden").click()
    expect(page.locator("#status")).to_contain_text("Bitte bestätigen Sie Ihre E-Mail-Adresse")

    [mail] = queued(site, "address_confirmation")
    assert mail["to"] == "kim.neumann@example.org"
    found = LINK.search(mail["body"])
    assert found, mail["body"]
    page.goto(found.group(0))
    expect(page.locator("#status")).to_contain_text("Ihre Bewerbung ist eingegangen")
    expect(page.locator("#mine")).to_contain_text("Meine Bewerbung")
    expect(page.get_by_label("Wunsch 1")).to_have_value(wished)
    assert "#zugang" not in page.url  # the token left the address bar
    screenshot(page, "call-mine")

    page.get_by_role("link", name="Meine Vorschläge").click()
    page.wait_for_url(re.compile(r"/app/vorschlaege"))
    expect(page.locator("main")).to_contain_text("Wunsch 1 der Bewerbung")
    screenshot(page, "call-suggestions")

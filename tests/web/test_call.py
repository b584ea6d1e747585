"""The call for applications in Chromium against a real SMTP server on localhost (aiosmtpd):
apply on the public page → confirmation e-mail → link opened → „Meine Bewerbung“ with the wish
saved → „Meine Vorschläge“ naming it → run → confirmation e-mail with host, city and dates."""

from __future__ import annotations

import re
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from playwright.sync_api import Browser, Page, expect
from sentence_transformers import SentenceTransformer

from api.app import create_app
from api.call import CallSettings, get_call_settings
from api.settings import Settings
from models.tables import Role
from tests.web.conftest import TIMEOUT_SECONDS, ServerThread, Site, login, screenshot

LINK = re.compile(r"https?://\S+#zugang=[A-Za-z0-9_-]+")
EMAIL = "kim.neumann@example.org"


class Inbox:
    """aiosmtpd's handler: the text of every message accepted, by subject."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []  # (to, subject, body)
        self.port = 0

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        mail = message_from_bytes(envelope.content, policy=default_policy)
        body = mail.get_body(("plain",))
        assert body is not None
        self.messages.append((str(mail["To"]), str(mail["Subject"]), body.get_content()))
        return "250 Message accepted for delivery"

    def wait_for(self, subject_part: str) -> tuple[str, str, str]:
        """The first message whose subject contains ``subject_part`` (waits for delivery)."""
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            found = [m for m in self.messages if subject_part in m[1]]
            if found:
                return found[0]
            assert time.monotonic() < deadline, (subject_part, self.messages)
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def mail_site(
    tmp_path: Path, seed_database: Path, model: SentenceTransformer, inbox: Inbox
) -> Iterator[Site]:
    """The real server on a copy of the seeded database, delivering through ``inbox``."""
    database = tmp_path / "matcher.db"
    shutil.copyfile(seed_database, database)
    settings = Settings(
        database_url=f"sqlite:///{database}",
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_tls="none",
        smtp_sender="Hospitationsprogramm <hospitation@example.org>",
        outbox_poll_seconds=0.1,
    )
    app = create_app(settings, model=model)
    with ServerThread(app) as server:
        url = f"http://127.0.0.1:{server.port}"
        app.dependency_overrides[get_call_settings] = lambda: CallSettings(public_url=url)
        with httpx.Client(base_url=url, timeout=TIMEOUT_SECONDS) as http:
            site = Site(url=url, app=app, round_id=0, http=http)
            site.coordinator_token = site.issue(Role.COORDINATOR)
            [round_] = site.api("GET", "/api/rounds")
            site.round_id = round_["id"]
            yield site


def fill_application(page: Page) -> None:
    page.get_by_label("Name", exact=True).fill("Kim Neumann")
    page.get_by_label("E-Mail").fill(EMAIL)
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


def test_apply_confirm_wish_suggestions_run_and_mails(
    mail_site: Site, inbox: Inbox, page: Page
) -> None:
    site = mail_site
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
    expect(page.locator("#page-error")).to_be_empty()
    expect(page.locator("#form-error")).to_be_empty()
    screenshot(page, "call-form")
    page.get_by_role("button", name="Bewerbung absenden").click()
    expect(page.locator("#status")).to_contain_text("Bitte bestätigen Sie Ihre E-Mail-Adresse")

    to, _, body = inbox.wait_for("Bitte bestätigen Sie Ihre E-Mail-Adresse")
    assert to == EMAIL
    found = LINK.search(body)
    assert found, body
    page.goto(found.group(0))
    expect(page.locator("#status")).to_contain_text("Ihre Bewerbung ist eingegangen")
    expect(page.locator("#mine")).to_contain_text("Meine Bewerbung")
    expect(page.get_by_label("Wunsch 1")).to_have_value(wished)
    assert "#zugang" not in page.url  # the token left the address bar
    screenshot(page, "call-mine")
    inbox.wait_for("Ihre Bewerbung ist eingegangen")

    page.get_by_role("link", name="Meine Vorschläge").click()
    page.wait_for_url(re.compile(r"/app/vorschlaege"))
    expect(page.locator("main")).to_contain_text("Wunsch 1 der Bewerbung")
    screenshot(page, "call-suggestions")

    site.run()
    applicant_id = site.api("GET", "/api/accounts/me", token=_token(page))["applicant_id"]
    [proposal] = [
        p
        for p in site.api("GET", f"/api/rounds/{site.round_id}/placements?status=proposed")
        if p["applicant_id"] == applicant_id
    ]
    site.api("POST", f"/api/rounds/{site.round_id}/placements/{proposal['id']}/confirm", json={})
    offer = site.api("GET", f"/api/rounds/{site.round_id}/offers/{proposal['offer_id']}")
    to, subject, body = inbox.wait_for("Ihr Hospitationsplatz ist bestätigt")
    assert to == EMAIL
    assert offer["organisation"] in body and offer["city"] in subject
    assert re.search(r"zwischen dem \d\d\.\d\d\.2027 und dem \d\d\.\d\d\.2027", body), body


def _token(page: Page) -> str:
    token = page.evaluate("sessionStorage.getItem('hospitation.token')")
    assert isinstance(token, str)
    return token


def test_a_mentor_updates_the_offer_through_the_invitation_link(site: Site, page: Page) -> None:
    days = {"applications_until": 14, "offers_until": 7}
    body = {k: (datetime.now(UTC) + timedelta(days=d)).isoformat() for k, d in days.items()}
    site.api("PUT", f"/api/rounds/{site.round_id}/call", json=body)
    token = site.issue(Role.MENTOR, round_id=site.round_id, offer_ids=["H-001"])

    page.goto(f"{site.url}/static/angebot.html#zugang={token}")
    assert "#zugang" not in page.url
    offer = page.locator("form").filter(has_text="H-001")
    offer.get_by_label("Plätze / Places").fill("5")
    offer.get_by_label("Höchstdauer (Wochen) / Maximum weeks").fill("0")
    offer.get_by_role("button", name="Speichern / Save").click()
    expect(offer.locator('[data-error="max_weeks"]')).to_contain_text("Höchstdauer")
    offer.get_by_label("Höchstdauer (Wochen) / Maximum weeks").fill("8")
    offer.get_by_role("button", name="Speichern / Save").click()
    expect(page.locator("#status")).to_contain_text("H-001: gespeichert")
    stored = site.api("GET", f"/api/rounds/{site.round_id}/offers/H-001")
    assert (stored["capacity"], stored["max_weeks"]) == (5, 8)
    screenshot(page, "call-mentor-offer")


def test_coordinator_opens_the_call_and_its_public_link_opens_the_form(
    site: Site, page: Page, browser: Browser
) -> None:
    site.app.dependency_overrides[get_call_settings] = lambda: CallSettings(public_url=site.url)
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{site.round_id}/einrichtung")
    card = page.locator("section").filter(has=page.get_by_role("heading", name="Ausschreibung"))
    state = card.get_by_test_id("call-state")
    expect(state).to_contain_text("Noch keine Ausschreibung")
    card.get_by_label("Bewerbungsfrist (Datum und Uhrzeit)").fill("2099-03-31T23:59")
    card.get_by_label("Frist für Angebote", exact=False).fill("2099-03-15T12:00")
    card.get_by_role("button", name="Ausschreibung öffnen").click()
    expect(state).to_contain_text("Offen bis 31.03.2099, 23:59")
    expect(state).to_contain_text("Angebote eintragen bis 15.03.2099, 12:00")
    berlin = ZoneInfo("Europe/Berlin")
    call = site.api("GET", f"/api/rounds/{site.round_id}/call")
    opened = datetime.fromisoformat(call["applications_until"]).replace(tzinfo=UTC)
    assert opened == datetime(2099, 3, 31, 23, 59, tzinfo=berlin)
    screenshot(page, "call-setup")

    # While mentors may enter offers, their invitation leads to the offer page and names the date.
    page.get_by_text(re.compile(r"^Einzeln einladen")).click()
    mentor = page.get_by_test_id("invitations").locator("tr", has_text="Mentoring").first
    mentor.get_by_role("button", name=re.compile("^Einladung erstellen")).click()
    invitation = mentor.get_by_test_id("invitation")
    expect(invitation).to_have_value(re.compile(r"/static/angebot\.html#zugang=[A-Za-z0-9_%-]+"))
    expect(invitation).to_have_value(re.compile(r"bis zum 15\.03\.2099, 12:00"))

    link = card.get_by_test_id("call-link").input_value()
    assert link == call["link"]
    public = browser.new_context(locale="de-DE")
    try:
        form = public.new_page()
        form.goto(link)
        expect(form.locator("h1")).to_contain_text("Ausschreibung: ")
        expect(form.get_by_label("Motivation")).to_be_visible()
    finally:
        public.close()

    card.get_by_role("button", name="Ausschreibung schließen").click()
    expect(state).to_contain_text("Geschlossen seit")
    assert not site.api("GET", f"/api/rounds/{site.round_id}/call")["accepting"]

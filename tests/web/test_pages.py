"""Journeys through the web pages in a real browser, against the real server and API."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from api.web import STATIC_DIR, router
from models.tables import Role
from tests.web.conftest import XSS_ID, XSS_NAME, XSS_SCRIPT, Site, login, screenshot

APPLICANT_ID = re.compile(r"\bA-\d{3}\b")


def web_paths() -> list[str]:
    return [getattr(route, "path", "") for route in router.routes]


def stat(page: Page, key: str) -> int:
    """A number of the round overview (German digit grouping removed)."""
    return int(page.get_by_test_id(f"stat-{key}").inner_text().replace(".", ""))


def open_nav(page: Page, name: str, heading: str | None = None) -> None:
    """Follow a link of the main navigation and wait for the new page's heading."""
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name=name).click()
    expect(page.locator("main h1")).to_have_text(heading or name)


def test_login_and_logout(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/app")
    expect(page).to_have_url(f"{site.url}/")  # no token yet: back to the login page
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    screenshot(page, "login")

    page.get_by_label("Zugangs-Token").fill("kein-gueltiges-token")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_have_text("Dieses Token ist unbekannt oder widerrufen.")

    login(page, site, site.coordinator_token)
    expect(page).to_have_url(f"{site.url}/app/runden/{site.round_id}")
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('hospitation.token')") == site.coordinator_token

    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    expect(page.get_by_text("Sie sind abgemeldet.")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.goto(f"{site.url}/app/runden/{site.round_id}")
    expect(page).to_have_url(f"{site.url}/")


def test_coordinator_confirms_a_proposal_from_the_shortlist(page: Page, site: Site) -> None:
    run = site.run()
    proposal = run["result"]["proposals"][0]
    applicant_id, offer_id = proposal["applicant_id"], proposal["offer_id"]
    login(page, site, site.coordinator_token)

    placed, free, proposed = stat(page, "placed"), stat(page, "free"), stat(page, "proposed")
    summary = site.summary()
    assert (placed, free, proposed) == (
        summary["placed"],
        summary["places"] - summary["placed"],
        summary["proposed"],
    )
    expect(page.get_by_test_id("city-chart").locator("g.chart__row")).to_have_count(
        len({o["city"] for o in site.api("GET", f"/api/rounds/{site.round_id}/offers")})
    )

    open_nav(page, "Bewerbungen")
    page.get_by_role("radio", name=re.compile("^vorgeschlagen")).check()
    page.get_by_label("Suche").fill(applicant_id)
    expect(page.get_by_test_id("result-count")).to_have_text(re.compile(r"^1 von \d+"))
    screenshot(page, "coordinator-applicants")
    page.get_by_role("link", name=applicant_id, exact=True).click()

    shortlist = page.get_by_test_id("shortlist")
    expect(shortlist.locator("li.suggestion")).to_have_count(5)
    first = shortlist.locator("li.suggestion").first
    expect(first.locator(".scorebar")).to_be_visible()
    expect(first).to_contain_text("Themenpassung")
    expect(first).to_contain_text("Wunschstadt-Bonus")
    assert "topic_fit" not in first.inner_text()
    assert "Passung von 0 bis 1" in (first.locator(".scorebar").get_attribute("title") or "")
    expect(first.locator("mark.mark-applicant")).to_have_count(1)
    expect(first.locator("mark.mark-offer")).to_have_count(1)
    api_first = site.shortlist(applicant_id)[0]
    expect(first.locator("mark.mark-offer")).to_have_text(api_first["offer_sentence"])
    screenshot(page, "coordinator-shortlist")

    decision = page.get_by_role("group", name=f"Vorschlag {offer_id} entscheiden")
    decision.get_by_label("Begründung").fill("Fachlich passend, Mentorin einverstanden")
    decision.get_by_role("button", name="Bestätigen").click()
    expect(page.get_by_test_id("placement-status")).to_contain_text("bestätigt")

    open_nav(page, "Übersicht")
    expect(page.get_by_test_id("stat-placed")).to_have_text(str(placed + 1))
    assert stat(page, "free") == free - 1
    assert stat(page, "proposed") == proposed - 1
    expect(page.locator("rect.chart__bar--confirmed")).to_have_count(1)
    screenshot(page, "coordinator-overview")
    [confirmed] = site.api(
        "GET", f"/api/rounds/{site.round_id}/placements", params={"status": "confirmed"}
    )
    assert (confirmed["applicant_id"], confirmed["offer_id"]) == (applicant_id, offer_id)
    assert confirmed["reason"] == "Fachlich passend, Mentorin einverstanden"

    open_nav(page, "Protokoll")
    audit = page.get_by_test_id("audit")
    expect(audit).to_contain_text("Vorschlag bestätigt")
    expect(audit).to_contain_text("Koordination #")
    expect(audit).to_contain_text("Fachlich passend, Mentorin einverstanden")
    expect(audit.get_by_role("link", name=applicant_id)).to_be_visible()
    screenshot(page, "coordinator-audit")

    audit.get_by_role("link", name=offer_id).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(offer_id)
    expect(page.get_by_test_id("candidates").locator("li.suggestion").first).to_be_visible()
    alternates = run["result"]["alternates"].get(offer_id, [])
    if alternates:
        expect(page.get_by_test_id("alternates").get_by_role("link")).to_have_text(alternates)
    screenshot(page, "coordinator-offer")


def test_coordinator_runs_a_batch_and_exports(page: Page, site: Site, tmp_path: Path) -> None:
    login(page, site, site.coordinator_token)
    assert stat(page, "proposed") == 0
    open_nav(page, "Zuordnung", "Batch-Zuordnung")
    page.get_by_role("radio", name="Möglichst viele Plätze").check()
    page.get_by_role("button", name="Zuordnung starten").click()
    expect(page.get_by_test_id("run-status")).to_contain_text("fertig", timeout=30_000)
    unplaced = page.get_by_test_id("unplaced")
    [run] = site.api("GET", f"/api/rounds/{site.round_id}/runs")
    assert run["status"] == "done"
    expect(unplaced.locator("tbody tr")).to_have_count(len(run["result"]["unplaced"]))
    first = run["result"]["unplaced"][0]
    expect(unplaced.locator("tbody tr").first).to_contain_text(first["reason"])
    # The sample offers carry costs: the result shows what the run costs per city.
    expect(page.get_by_text("Kosten je Stadt")).to_be_visible()
    screenshot(page, "coordinator-run")

    # The reason also shows on the applicant's page, where a place can be given by hand.
    unplaced.get_by_role("link", name=first["applicant_id"]).click()
    expect(page.get_by_test_id("unplaced-reason")).to_contain_text(first["reason"])

    open_nav(page, "Übersicht")
    assert stat(page, "proposed") == len(run["result"]["proposals"]) > 0
    with page.expect_download() as info:
        page.get_by_role("button", name="Ergebnis als CSV exportieren").click()
    download = info.value
    assert download.suggested_filename == f"runde-{site.round_id}.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    lines = target.read_text("utf-8-sig").splitlines()
    assert lines[0].startswith("Bewerbung;Name;E-Mail;Dienststelle")
    assert len(lines) == 1 + site.summary()["applicants"]


def test_coordinator_places_by_hand_with_the_keyboard(page: Page, site: Site) -> None:
    run = site.run()
    applicant_id = next(
        u["applicant_id"] for u in run["result"]["unplaced"] if site.shortlist(u["applicant_id"])
    )
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{site.round_id}/bewerbungen/{applicant_id}")
    expect(page.get_by_test_id("shortlist")).to_be_visible()

    # The first Tab reaches the skip link; focus is visible.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "(() => { const e = document.activeElement;"
        " return [e.textContent, getComputedStyle(e).outlineStyle]; })()"
    )
    assert focused == ["Zum Inhalt springen", "solid"]
    # Every form field on the page has a label.
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')]"
        ".filter(e => e.labels.length === 0).map(e => e.outerHTML)"
    )
    assert unlabelled == []

    card = page.get_by_test_id("shortlist").locator("li.suggestion").first
    offer_id = card.get_attribute("data-offer")
    card.locator("summary").focus()
    page.keyboard.press("Enter")
    # The form shows the free places before the click.
    capacity = site.api("GET", f"/api/rounds/{site.round_id}/offers/{offer_id}")["capacity"]
    taken = sum(
        p["offer_id"] == offer_id and p["status"] == "confirmed"
        for p in site.api("GET", f"/api/rounds/{site.round_id}/placements")
    )
    expect(card.get_by_test_id("free-places")).to_have_text(
        f"Noch {capacity - taken} von {capacity} Plätzen frei."
    )
    card.get_by_label("Begründung").focus()
    page.keyboard.type("Nachrückerin, Platz frei")
    page.keyboard.press("Tab")
    expect(card.get_by_role("button", name=f"Auf {offer_id} platzieren")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("placement-status")).to_contain_text("bestätigt")
    placements = site.api("GET", f"/api/rounds/{site.round_id}/placements")
    [mine] = [p for p in placements if p["applicant_id"] == applicant_id]
    assert (mine["offer_id"], mine["status"], mine["reason"]) == (
        offer_id,
        "confirmed",
        "Nachrückerin, Platz frei",
    )


def export_stay(site: Site, applicant_id: str) -> str:
    """The applicant's stay as the round's export (for Excel) gives it: „TT.MM.JJJJ bis …“."""
    response = site.http.get(
        f"/api/rounds/{site.round_id}/export.csv",
        headers={"Authorization": f"Bearer {site.coordinator_token}"},
    )
    rows = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";")
    [row] = [r for r in rows if r["Bewerbung"] == applicant_id]
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", row["Beginn"]), row
    return f"{row['Beginn']} bis {row['Ende']}"


def test_applicant_sees_only_own_suggestions(page: Page, site: Site) -> None:
    site.run()
    token = site.issue(Role.APPLICANT, round_id=site.round_id, applicant_id="A-001")
    mine = site.api("GET", "/api/me/suggestions", token=token)
    login(page, site, token)
    expect(page).to_have_url(f"{site.url}/app/vorschlaege")
    expect(page.get_by_role("heading", name="Meine Vorschläge")).to_be_visible()
    cards = page.locator("li.suggestion")
    expect(cards).to_have_count(len(mine))
    for card, suggestion in zip(cards.all(), mine, strict=True):
        expect(card.get_by_role("heading", level=3)).to_have_text(suggestion["title"])
        expect(card).to_contain_text(suggestion["city"])
        expect(card).to_contain_text(suggestion["mentor_name"] or "wird noch benannt")
        expect(card).to_contain_text("Warum es passt")
    expect(page.locator("main")).to_contain_text("vorgeschlagen, Entscheidung offen")
    [held] = [s for s in mine if s["status"] == "vorgeschlagen"]
    assert all(s["stay_from"] is None for s in mine if s["status"] == "Vorschlag")
    card = page.locator(f"li.suggestion[data-offer='{held['offer_id']}']")
    expect(card).to_contain_text(f"Aufenthalt{export_stay(site, 'A-001')}")
    shown = set(APPLICANT_ID.findall(page.locator("body").inner_text()))
    assert shown <= {"A-001"}, shown
    screenshot(page, "applicant-suggestions")

    page.goto(f"{site.url}/app/runden/{site.round_id}")  # a coordinator page: refused
    expect(page.get_by_role("heading", name="Kein Zugriff")).to_be_visible()


def test_mentor_accepts_a_confirmed_guest(page: Page, site: Site) -> None:
    run = site.run()
    proposal = run["result"]["proposals"][0]
    offer_id = proposal["offer_id"]
    site.api(
        "POST",
        f"/api/rounds/{site.round_id}/placements/{proposal['placement_id']}/confirm",
        json={"reason": "passt"},
    )
    token = site.issue(Role.MENTOR, round_id=site.round_id, offer_ids=[offer_id])
    login(page, site, token)
    expect(page).to_have_url(f"{site.url}/app/gaeste")
    guest = page.locator(f"li.guest[data-placement='{proposal['placement_id']}']")
    expect(guest.get_by_test_id("guest-status")).to_have_text("bestätigt")
    offer = site.api("GET", f"/api/rounds/{site.round_id}/offers/{offer_id}")
    expect(page.get_by_role("heading", level=2)).to_have_text(f"{offer['title']} ({offer_id})")
    expect(guest).to_contain_text(f"Aufenthalt{export_stay(site, proposal['applicant_id'])}")

    guest.get_by_role("button", name="Gast ablehnen").click()  # declining needs a reason
    expect(guest.get_by_role("alert")).to_have_text("Bitte begründen Sie die Ablehnung.")
    guest.get_by_label("Begründung").fill("Herzlich willkommen in unserem Team")
    guest.get_by_role("button", name="Gast annehmen").click()
    expect(guest.get_by_test_id("guest-status")).to_contain_text("vom Mentoring angenommen")
    screenshot(page, "mentor-guests")

    placements = site.api("GET", f"/api/rounds/{site.round_id}/placements")
    [decided] = [p for p in placements if p["id"] == proposal["placement_id"]]
    assert decided["mentor_decision"] == "accepted"
    assert decided["mentor_reason"] == "Herzlich willkommen in unserem Team"


def test_markup_in_applicant_texts_is_shown_as_text(page: Page, site: Site) -> None:
    placed = site.api(
        "POST",
        f"/api/rounds/{site.round_id}/placements",
        json={"applicant_id": XSS_ID, "offer_id": "H-013"},
    )
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{site.round_id}/bewerbungen/{XSS_ID}")
    expect(page.get_by_test_id("motivation")).to_contain_text(XSS_SCRIPT)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{XSS_ID} · {XSS_NAME}")
    screenshot(page, "coordinator-markup-as-text")
    assert page.evaluate("window.__xss") is None
    assert page.locator("main script, main img").count() == 0

    mentor = site.issue(Role.MENTOR, round_id=site.round_id, offer_ids=[placed["offer_id"]])
    page.get_by_role("button", name="Abmelden").click()
    login(page, site, mentor)
    guest = page.locator(f"li.guest[data-placement='{placed['id']}']")
    expect(guest.locator(".motivation")).to_contain_text(XSS_SCRIPT)
    expect(guest.get_by_role("heading", level=3)).to_have_text(XSS_NAME)
    assert page.evaluate("window.__xss") is None
    assert page.locator("main script, main img").count() == 0


def test_pages_and_static_files_are_served_safely(site: Site) -> None:
    login_page = site.http.get("/")
    assert login_page.status_code == 200
    assert login_page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in login_page.headers["content-security-policy"]
    for path in ("/app", "/app/runden/1/bewerbungen/A-001", "/app/gaeste"):
        shell = site.http.get(path)
        assert shell.status_code == 200
        assert '<main id="main"' in shell.text
    script = site.http.get("/static/js/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    for missing in ("/static/nope.js", "/static/../__init__.py", "/static/%2e%2e/__init__.py"):
        assert site.http.get(missing).status_code == 404, missing
    # The JSON API stays as it was: the pages add no route under /api and none to the docs.
    assert not [path for path in web_paths() if path.startswith("/api")]
    assert not [path for path in site.app.openapi()["paths"] if not path.startswith("/api")]


def test_scripts_never_insert_markup() -> None:
    """Dynamic text goes in through text nodes only; no script assigns HTML."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(")
    offending = [
        f"{path.name}:{number}"
        for path in sorted(STATIC_DIR.rglob("*.js"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if sinks.search(line)
    ]
    assert offending == []
    pages = [path.read_text("utf-8") for path in STATIC_DIR.glob("*.html")]
    inline_script = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>")
    assert pages and not any(inline_script.search(html) for html in pages)

"""A coordinator runs a whole round in the browser: setup, invitations, review, releases,
closing; and every page in every role fits a 320 px phone and passes axe-core."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Browser, Page, Route, expect

from models.tables import Role
from tests.web.conftest import (
    FIXTURES,
    Record,
    Site,
    axe_violations,
    login,
    screenshot,
    use_axe,
)

PHONE = {"width": 320, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
#: An id with a slash and a motivation with one very long unbroken URL.
SLASH_ID = "A/901"
LONG_URL = "https://www.berlin.de/verwaltung/" + "sehr-langer-pfad-ohne-leerzeichen-" * 8 + "ende"


def long_url_applicant(site: Site) -> Record:
    """A copy of A-001 with a slash in its id and a long URL in its motivation, placed on H-013."""
    applicant = copy.deepcopy(site.api("GET", f"/api/rounds/{site.round_id}/applicants/A-001"))
    applicant.update(
        id=SLASH_ID, email=None, motivation=f"{applicant['motivation']} Mehr: {LONG_URL}"
    )
    site.api("POST", f"/api/rounds/{site.round_id}/applicants", json=applicant)
    placed: Record = site.api(
        "POST",
        f"/api/rounds/{site.round_id}/placements",
        json={"applicant_id": SLASH_ID, "offer_id": "H-013"},
    )
    return placed


#: The innermost elements that reach beyond the window (to name the culprit of a failure).
WIDEST = """(() => {
  const limit = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")].filter(
    (e) => e.getBoundingClientRect().right > limit + 1 && ![...e.children].some(
      (c) => c.getBoundingClientRect().right > limit + 1));
  return wide.slice(0, 5).map((e) => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className);
})()"""


def check_page(page: Page, where: str) -> list[str]:
    """Problems of the page with every disclosure open: wider than the phone, or axe findings
    at phone and desktop width."""
    page.set_viewport_size(PHONE)
    page.evaluate("document.querySelectorAll('main details').forEach((d) => { d.open = true; })")
    problems = [f"{where} @320: {v}" for v in axe_violations(page)]
    width = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if width[0] > width[1]:
        wide = page.evaluate(WIDEST)
        problems.append(f"{where}: {width[0]} px breit bei {width[1]} px Fenster: {wide}")
    page.set_viewport_size(DESKTOP)
    problems += [f"{where} @1280: {v}" for v in axe_violations(page)]
    return problems


def visit(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("main h1").wait_for()
    expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")


def test_every_page_fits_a_phone_and_passes_axe(page: Page, site: Site, axe_source: str) -> None:
    run = site.run()
    site.api(
        "POST",
        f"/api/rounds/{site.round_id}/placements/{run['result']['proposals'][0]['placement_id']}/confirm",
        json={"reason": "passt"},
    )
    placed = long_url_applicant(site)
    use_axe(page, source=axe_source)
    base = f"{site.url}/app/runden/{site.round_id}"
    deep = f"{base}/bewerbungen/{quote(SLASH_ID, safe='')}"

    # A deep link without a token lands on the login page and comes back after the login.
    page.goto(deep)
    expect(page).to_have_url(f"{site.url}/")
    problems = check_page(page, "Anmelden")
    login(page, site, site.coordinator_token)
    expect(page).to_have_url(deep)
    expect(page.get_by_role("heading", level=1)).to_contain_text(SLASH_ID)
    expect(page.get_by_test_id("motivation")).to_contain_text(LONG_URL)
    page.set_viewport_size(PHONE)
    screenshot(page, "phone-applicant")

    pages = [
        "",
        "/einrichtung",
        "/pruefen",
        "/bewerbungen",
        f"/bewerbungen/{quote(SLASH_ID, safe='')}",
        "/angebote",
        "/angebote/H-013",
        "/zuordnung",
        "/protokoll",
    ]
    for path in pages:
        visit(page, base + path)
        problems += check_page(page, f"Koordination {path or '/'}")
    visit(page, f"{site.url}/app/runden/neu")
    problems += check_page(page, "Koordination neue Runde")

    for role, bound, home in (
        (Role.APPLICANT, {"applicant_id": SLASH_ID}, "/app/vorschlaege"),
        (Role.MENTOR, {"offer_ids": [placed["offer_id"]]}, "/app/gaeste"),
    ):
        page.get_by_role("button", name="Abmelden").click()
        login(page, site, site.issue(role, round_id=site.round_id, **bound))
        expect(page).to_have_url(f"{site.url}{home}")
        if role is Role.MENTOR:
            expect(page.locator("main")).to_contain_text(LONG_URL)
        problems += check_page(page, role.value)
    assert problems == [], "\n".join(problems)


def test_coordinator_sets_up_a_round_and_invites(
    page: Page, site: Site, browser: Browser, tmp_path: Path
) -> None:
    login(page, site, site.coordinator_token)
    page.get_by_role("link", name="Neue Runde anlegen").click()
    page.get_by_label("Name der Runde").fill("Frühjahr 2028")
    page.get_by_role("button", name="Runde anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Einrichtung")
    rid = int(re.search(r"/runden/(\d+)/", page.url).group(1))  # type: ignore[union-attr]

    # A broken CSV: every problem is listed with record and field, and nothing is stored.
    bad = tmp_path / "bewerbungen.csv"
    header = "id;name;position;home_organisation;languages;motivation;available_from;"
    header += "available_until;weeks_wanted"
    rows = [
        "A-1;Ada;Referentin;Bezirksamt;de:C2;Ich möchte lernen.;2027-13-01;2027-06-30;drei",
        "A-2;Bea;Referentin;Bezirksamt;de:Z9;Ich möchte lernen.;2027-04-01;2027-06-30;3",
    ]
    bad.write_text("\n".join([header, *rows]) + "\n", "utf-8")
    page.get_by_label("Bewerbungen (JSON, CSV oder XLSX)").set_input_files(bad)
    page.get_by_role("button", name="Prüfen und importieren").click()
    problems = page.get_by_test_id("import-problems")
    expect(problems).to_contain_text("A-1")
    expect(problems).to_contain_text("A-2")
    expect(problems).to_contain_text("bewerbungen.csv")
    expect(problems).to_contain_text("available_from")
    expect(problems).to_contain_text("weeks_wanted")
    expect(problems).to_contain_text("languages")
    assert site.api("GET", f"/api/rounds/{rid}")["applicants"] == 0

    # Both files: offers as JSON, applications as JSON.
    page.get_by_label("Angebote (JSON, CSV oder XLSX)").set_input_files(FIXTURES / "offers.json")
    page.get_by_label("Bewerbungen (JSON, CSV oder XLSX)").set_input_files(
        FIXTURES / "applicants.json"
    )
    page.get_by_role("button", name="Prüfen und importieren").click()
    offers = json.loads((FIXTURES / "offers.json").read_text("utf-8"))
    applicants = json.loads((FIXTURES / "applicants.json").read_text("utf-8"))
    expect(page.get_by_test_id("import-result")).to_have_text(
        f"Importiert: {len(offers)} Angebote und {len(applicants)} Bewerbungen."
    )
    summary = site.api("GET", f"/api/rounds/{rid}")
    assert (summary["offers"], summary["applicants"]) == (len(offers), len(applicants))

    # Edit one record in the form: one labelled field per interchange field.
    page.reload()
    page.get_by_label("Art", exact=True).select_option("applicants")
    page.get_by_label("Datensatz", exact=True).select_option("A-002")
    expect(page.get_by_label("Sprachkenntnisse")).to_have_value(
        "; ".join(f"{k}:{v}" for k, v in applicants[1]["languages"].items())
    )
    page.get_by_label("Funktion").fill("Referentin für Radverkehr")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#toast")).to_contain_text("A-002 gespeichert")
    stored = site.api("GET", f"/api/rounds/{rid}/applicants/A-002")
    assert applicants[1]["id"] == "A-002"
    assert {k: stored[k] for k in applicants[1]} == {
        **applicants[1],
        "position": "Referentin für Radverkehr",
    }
    screenshot(page, "coordinator-setup")

    # An invitation for A-001: the link logs in in a second browser.
    page.get_by_text(re.compile(r"^Einzeln einladen")).click()
    invitations = page.get_by_test_id("invitations")
    invitations.get_by_role("button", name="Einladung erstellen für A-001").click()
    text = invitations.get_by_test_id("invitation").input_value()
    link = re.search(r"http\S+#token=\S+", text).group(0)  # type: ignore[union-attr]
    assert link.startswith(site.url)
    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE")
    try:
        guest = other.new_page()
        guest.goto(link)
        expect(guest.get_by_role("heading", name="Meine Vorschläge")).to_be_visible()
        expect(guest.locator("#account")).to_contain_text("A-001")
        assert "token" not in guest.url
    finally:
        other.close()

    # All invitations at once: one CSV with a working link per applicant and mentor.
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile(r"^Alle \d+ Einladungen als CSV$")).click()
    target = tmp_path / "einladungen.csv"
    info.value.save_as(target)
    rows = target.read_text("utf-8-sig").splitlines()
    assert rows[0] == '"Rolle";"ID";"Name";"E-Mail";"Link"'
    assert sum(row.startswith('"Bewerbung"') for row in rows) == len(applicants)
    assert any(row.startswith('"Mentoring"') for row in rows)
    token = rows[1].rsplit("#token=", 1)[1].strip('"')
    me = site.api("GET", "/api/accounts/me", token=token)
    assert me["role"] in {"applicant", "mentor"}


def test_offer_capacity_edited_in_the_form_with_the_message_at_the_field(
    page: Page, site: Site
) -> None:
    rid = site.round_id
    before = site.api("GET", f"/api/rounds/{rid}/offers/H-013")
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{rid}/einrichtung")
    page.get_by_label("Datensatz", exact=True).select_option("H-013")
    labels = page.locator(".record-fields label")
    expect(labels.first).to_have_text("Kennung *")
    expect(page.get_by_label("Titel *")).to_have_value(before["title"])
    capacity = page.get_by_label("Plätze *")
    expect(capacity).to_have_value(str(before["capacity"]))

    capacity.fill("-1")
    page.get_by_role("button", name="Speichern").click()
    error = page.locator("[data-field='capacity'] .field-error")
    expect(error).to_have_text("„Plätze“ muss mindestens 0 sein.")
    expect(capacity).to_have_attribute("aria-invalid", "true")
    expect(capacity).to_be_focused()
    expect(page.locator("[data-field='title'] .field-error")).to_be_hidden()
    assert site.api("GET", f"/api/rounds/{rid}/offers/H-013") == before

    capacity.fill(str(before["capacity"] + 2))
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#toast")).to_contain_text("H-013 gespeichert")
    after = site.api("GET", f"/api/rounds/{rid}/offers/H-013")
    assert after == {**before, "capacity": before["capacity"] + 2}


def test_coordinator_revokes_a_token_and_its_login_fails(
    page: Page, site: Site, browser: Browser
) -> None:
    token = site.issue(Role.APPLICANT, round_id=site.round_id, applicant_id="A-002")
    keep = site.issue(Role.APPLICANT, round_id=site.round_id, applicant_id="A-003")
    site.api("GET", "/api/accounts/me", token=token)  # used once: "zuletzt genutzt" is set
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{site.round_id}/einrichtung")
    page.get_by_text(re.compile(r"^Zugänge anzeigen")).click()
    tokens = page.get_by_test_id("tokens")
    row = tokens.locator("tr", has_text="A-002")
    expect(row.locator("td").nth(1)).to_have_text("Bewerbung")
    expect(row.locator("td").nth(6)).to_have_text("aktiv")
    assert token not in page.content()  # never the secret
    row.get_by_role("button", name=re.compile("widerrufen$")).click()
    row.get_by_role("button", name="Abbrechen").click()  # the confirm step can be left
    assert site.http.get(
        "/api/accounts/me", headers={"Authorization": f"Bearer {token}"}
    ).is_success
    row.get_by_role("button", name=re.compile("widerrufen$")).click()
    row.get_by_role("button", name="Ja, widerrufen").click()
    expect(row.locator("td").nth(6)).to_have_text("widerrufen")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("widerrufen")

    other = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE")
    try:
        guest = other.new_page()
        guest.goto(f"{site.url}/")
        guest.get_by_label("Zugangs-Token").fill(token)
        guest.get_by_role("button", name="Anmelden").click()
        expect(guest.get_by_role("alert")).to_have_text(
            "Dieses Token ist unbekannt oder widerrufen."
        )
        assert guest.url == f"{site.url}/"
    finally:
        other.close()
    site.api("GET", "/api/accounts/me", token=keep)  # the other token still works


def test_review_queue_with_the_keyboard_bulk_confirm_and_closing(page: Page, site: Site) -> None:
    run = site.run()
    total = len(run["result"]["proposals"])
    assert total >= 14
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{site.round_id}/pruefen?sort=score")
    count = page.get_by_test_id("queue-count")
    expect(count).to_have_text(f"{total} offene Vorschläge")
    expect(page.get_by_label("Sortierung")).to_have_value("score")
    screenshot(page, "coordinator-review-queue")

    # Ten proposals with the keyboard only: j skips one, c confirms, r + reason + Enter rejects.
    page.keyboard.press("j")
    page.keyboard.press("k")
    rejected: list[str] = []
    for i in range(10):
        pair = page.get_by_test_id("queue-pair").inner_text()
        if i % 4 == 3:
            page.keyboard.press("r")
            page.keyboard.type(f"Passt nicht {i}")
            page.keyboard.press("Enter")
            rejected.append(pair)
        else:
            page.keyboard.press("c")
        expect(count).to_have_text(f"{total - i - 1} offene Vorschläge")
    placements = site.api("GET", f"/api/rounds/{site.round_id}/placements")
    statuses = [p["status"] for p in placements]
    assert statuses.count("confirmed") == 10 - len(rejected)
    reasons = sorted(p["reason"] for p in placements if p["status"] == "rejected")
    assert reasons == [f"Passt nicht {i}" for i in range(10) if i % 4 == 3]

    # Bulk: select three, confirm them in one go.
    boxes = page.get_by_test_id("queue-list").locator("tbody input[type=checkbox]")
    for i in range(3):
        boxes.nth(i).check()
    page.get_by_role("button", name="Ausgewählte bestätigen (3)").click()
    expect(count).to_have_text(f"{total - 13} offene Vorschläge")
    confirmed = site.api(
        "GET", f"/api/rounds/{site.round_id}/placements", params={"status": "confirmed"}
    )
    assert len(confirmed) == 10 - len(rejected) + 3

    # Closing is refused while proposals are open; "alle offenen ablehnen" closes anyway.
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Übersicht"
    ).click()
    page.get_by_role("button", name="Runde abschließen").click()
    expect(page.get_by_role("alert").filter(has_text="unentschiedene")).to_contain_text(
        str(total - 13)
    )
    assert site.summary()["status"] != "closed"
    page.get_by_role("button", name="Alle offenen ablehnen und abschließen").click()
    expect(page.locator("main .eyebrow")).to_contain_text("abgeschlossen")
    summary = site.summary()
    assert (summary["status"], summary["proposed"]) == ("closed", 0)
    page.get_by_role("button", name="Runde wieder öffnen").click()
    expect(page.locator("main .eyebrow")).to_contain_text("in Zuordnung")
    assert site.summary()["status"] == "matching"


def test_confirm_all_very_good_proposals_lists_what_the_server_refused(
    page: Page, site: Site
) -> None:
    """One offer loses a place before the bulk confirmation: its last „sehr gut“ proposal is
    refused (capacity), every other „sehr gut“ proposal is confirmed, nothing else is."""
    run = site.run()
    rid = site.round_id
    proposals = site.api("GET", f"/api/rounds/{rid}/placements", params={"status": "proposed"})
    assert len(proposals) == len(run["result"]["proposals"])
    very = [p for p in proposals if p["strength"] == "sehr gut"]
    per_offer = Counter(p["offer_id"] for p in very)
    offer_id = next((o for o, n in per_offer.items() if n >= 2), None)
    assert offer_id is not None and len(very) >= 3, per_offer
    offer = site.api("GET", f"/api/rounds/{rid}/offers/{offer_id}")
    offer["capacity"] = per_offer[offer_id] - 1  # nothing confirmed yet: one place too few
    site.api("PUT", f"/api/rounds/{rid}/offers/{offer_id}", json=offer)

    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{rid}/pruefen")
    first = page.get_by_test_id("queue-list").locator(f"tr[data-placement='{very[0]['id']}']")
    label = first.locator(".strength")
    expect(label).to_contain_text("sehr gut")
    assert "Themenpassung" in (label.get_attribute("title") or "")
    page.get_by_role("button", name=f"Alle ‚sehr gut‘ bestätigen ({len(very)})").click()
    refused = page.get_by_test_id("bulk-refused")
    expect(refused.get_by_role("heading")).to_have_text("Nicht bestätigt (1)", timeout=30_000)
    expect(refused.locator("li")).to_have_count(1)
    expect(refused.locator("li")).to_contain_text(f"→ {offer_id}")

    # The offer filled up: its last „sehr gut“ proposal was superseded, so refused; every other
    # „sehr gut“ proposal is confirmed, and every other proposal is still open.
    after = {p["id"]: p for p in site.api("GET", f"/api/rounds/{rid}/placements")}
    confirmed = {i for i, p in after.items() if p["status"] == "confirmed"}
    assert confirmed < {p["id"] for p in very}
    assert len(confirmed) == len(very) - 1
    [left] = [p for p in very if p["id"] not in confirmed]
    assert (left["offer_id"], after[left["id"]]["status"]) == (offer_id, "superseded")
    assert refused.locator("li").get_attribute("data-placement") == str(left["id"])
    others = [p for p in proposals if p["strength"] != "sehr gut" and p["offer_id"] != offer_id]
    assert all(after[p["id"]]["status"] == "proposed" for p in others)
    still_open = sum(p["status"] == "proposed" for p in after.values())
    expect(page.get_by_test_id("queue-count")).to_have_text(f"{still_open} offene Vorschläge")


def test_release_a_confirmed_placement_and_place_an_alternate(page: Page, site: Site) -> None:
    run = site.run()
    alternates = run["result"]["alternates"]
    proposal = next(p for p in run["result"]["proposals"] if alternates.get(p["offer_id"]))
    rid = site.round_id
    site.api(
        "POST",
        f"/api/rounds/{rid}/placements/{proposal['placement_id']}/confirm",
        json={"reason": "passt"},
    )
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{rid}/bewerbungen/{proposal['applicant_id']}")
    page.get_by_text("Absage oder Aufhebung …").click()
    page.get_by_role("button", name="Platz aufheben").click()  # a reason is required
    expect(page.get_by_role("alert").filter(has_text="Begründung")).to_be_visible()
    form = page.get_by_role("group", name=re.compile("beenden$"))
    form.get_by_label("Begründung").fill("Dienstlich verhindert")
    form.get_by_role("button", name="Platz aufheben").click()

    # The offer's page offers its alternates at once.
    expect(page.get_by_role("heading", level=1)).to_contain_text(proposal["offer_id"])
    freed = page.get_by_test_id("freed")
    expect(freed).to_contain_text("aufgehoben")
    expect(page.get_by_test_id("free-places")).to_contain_text("frei")
    todo = site.api("GET", f"/api/rounds/{rid}/todo")
    [entry] = [f for f in todo["freed"] if f["placement"]["id"] == proposal["placement_id"]]
    first = entry["alternates"][0]
    screenshot(page, "coordinator-freed-place")
    freed.get_by_role("button", name=f"{first} platzieren").click()
    # Placed: no longer offered (the card goes once the offer is full again).
    expect(page.get_by_role("button", name=f"{first} platzieren")).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text(f"Platziert: {first}")
    placements = site.api("GET", f"/api/rounds/{rid}/placements")
    released = next(p for p in placements if p["id"] == proposal["placement_id"])
    assert (released["status"], released["reason"]) == ("released", "Dienstlich verhindert")
    assert any(
        p["applicant_id"] == first
        and p["offer_id"] == proposal["offer_id"]
        and p["status"] == "confirmed"
        for p in placements
    )


def test_run_progress_survives_failed_status_requests(page: Page, site: Site) -> None:
    """Two status polls fail (503); the page keeps polling with back-off and shows the end."""
    failures = {"left": 2}

    def flaky(route: Route) -> None:
        if route.request.method == "GET" and failures["left"] > 0:
            failures["left"] -= 1
            route.fulfill(status=503, json={"detail": "Kurz nicht erreichbar.", "errors": []})
        else:
            route.continue_()

    login(page, site, site.coordinator_token)
    page.route(re.compile(r"/api/rounds/\d+/runs/\d+$"), flaky)
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Zuordnung"
    ).click()
    page.get_by_role("button", name="Zuordnung starten").click()
    expect(page.get_by_test_id("run-status")).to_contain_text("fertig", timeout=30_000)
    assert failures["left"] == 0


def test_run_shows_the_texts_embedded_while_it_embeds(page: Page, site: Site) -> None:
    """New applications bring texts no cache knows; the run is held at its first progress
    write until the page has shown „Texte einbetten: n / total“, and one failed poll on the
    way changes nothing."""
    for i in range(3):
        applicant = site.api("GET", f"/api/rounds/{site.round_id}/applicants/A-001")
        applicant.update(
            id=f"A-95{i}",
            email=None,
            motivation=f"Ich leite Projekt {i} zur Schulwegsicherheit. Ich möchte lernen, "
            f"wie Partnerstadt {i} Schulstraßen einrichtet und Eltern beteiligt.",
        )
        site.api("POST", f"/api/rounds/{site.round_id}/applicants", json=applicant)
    stages: list[str] = []
    embedding, release = threading.Event(), threading.Event()

    def hold(_: int, stage: str) -> None:
        stages.append(stage)
        if stage.startswith("Texte einbetten:") and not embedding.is_set():
            embedding.set()
            release.wait(timeout=30)

    failures = {"left": 1}

    def flaky(route: Route) -> None:
        if route.request.method == "GET" and failures["left"] > 0:
            failures["left"] -= 1
            route.fulfill(status=503, json={"detail": "Kurz nicht erreichbar.", "errors": []})
        else:
            route.continue_()

    site.app.state.runs.on_stage = hold
    try:
        login(page, site, site.coordinator_token)
        page.route(re.compile(r"/api/rounds/\d+/runs/\d+$"), flaky)
        page.goto(f"{site.url}/app/runden/{site.round_id}/zuordnung")
        page.get_by_role("button", name="Zuordnung starten").click()
        panel = page.locator(".progress-panel")
        expect(panel).to_contain_text(re.compile(r"Texte einbetten: \d+ / \d+"), timeout=30_000)
        value = float(page.locator("#run-progress").evaluate("bar => bar.value"))
        assert 0.15 < value <= 0.65, value
    finally:
        release.set()
    expect(page.get_by_test_id("run-status")).to_contain_text("fertig", timeout=30_000)
    site.app.state.runs.on_stage = None
    assert failures["left"] == 0
    progress = [s for s in stages if s.startswith("Texte einbetten:")]
    done, total = (int(n) for n in re.findall(r"\d+", progress[-1]))
    assert done == total > 0, progress
    assert stages[-2:] == ["Zuordnung berechnen", "Vorschläge speichern"]


def test_chart_draws_overbooking_as_an_error(page: Page, site: Site) -> None:
    """A city with more placements than places: a red segment, the excess named after the bar."""
    login(page, site, site.coordinator_token)
    svg = page.evaluate(
        """async () => {
      const { cityChart, placesPerCity } = await import("/static/js/chart.js");
      const offers = [
        { id: "H-1", city: "Wien", capacity: 7 },
        { id: "H-2", city: "Rom", capacity: 3 },
      ];
      const placements = [
        ...Array(7).fill({ offer_id: "H-1", status: "confirmed" }),
        { offer_id: "H-1", status: "proposed" },
        { offer_id: "H-2", status: "confirmed" },
      ];
      const figure = cityChart(placesPerCity(offers, placements));
      document.querySelector("main").append(figure);
      const over = figure.querySelectorAll("rect.chart__bar--over");
      const bars = [...figure.querySelectorAll("g[data-city='Wien'] rect")];
      const end = Math.max(...bars.map((r) => r.getBBox().x + r.getBBox().width));
      const text = figure.querySelector("g[data-city='Wien'] text.chart__value--over");
      return { over: over.length, text: text.textContent, after: text.getBBox().x >= end };
    }"""
    )
    assert svg == {"over": 1, "text": "1 zu viel", "after": True}


def test_lists_keep_filter_and_scroll_and_pages_show_loading(page: Page, site: Site) -> None:
    site.run()
    login(page, site, site.coordinator_token)
    page.set_viewport_size({"width": 1280, "height": 500})
    page.goto(f"{site.url}/app/runden/{site.round_id}/bewerbungen")
    page.get_by_role("radio", name=re.compile("^vorgeschlagen")).check()
    link = page.locator("table.applicants tbody a").nth(12)
    link.scroll_into_view_if_needed()
    scrolled = page.evaluate("() => window.scrollY")
    assert scrolled > 300
    applicant = link.inner_text()

    # A slow answer: the old page dims and a loading bar shows until the new one is there.
    def slow(route: Route) -> None:
        page.wait_for_timeout(800)
        route.continue_()

    page.route(re.compile(r"/shortlist\?"), slow)
    link.click()
    expect(page.locator(".loading-bar")).to_be_visible()
    expect(page.locator("main")).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("heading", level=1)).to_contain_text(applicant)
    expect(page.locator(".loading-bar")).to_have_count(0)

    page.go_back()
    expect(page.get_by_role("radio", name=re.compile("^vorgeschlagen"))).to_be_checked()
    page.wait_for_function("y => Math.abs(window.scrollY - y) < 5", arg=scrolled)

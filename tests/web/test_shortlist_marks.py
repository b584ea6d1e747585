"""The coordinator's shortlist marks a rejected pair, and placing it by hand asks first."""

from __future__ import annotations

from playwright.sync_api import Dialog, Page, expect

from tests.web.conftest import Site, login


def test_a_rejected_pair_is_marked_and_placed_only_after_a_confirmation(
    page: Page, site: Site
) -> None:
    run = site.run()
    proposal = next(  # one whose offer the page's shortlist (top 5) shows
        p
        for p in run["result"]["proposals"]
        if p["offer_id"] in [s["offer_id"] for s in site.shortlist(p["applicant_id"])[:5]]
    )
    applicant_id, offer_id = proposal["applicant_id"], proposal["offer_id"]
    rid = site.round_id
    site.api(
        "POST",
        f"/api/rounds/{rid}/placements/{proposal['placement_id']}/reject",
        json={"reason": "Termin passt nicht"},
    )
    login(page, site, site.coordinator_token)
    page.goto(f"{site.url}/app/runden/{rid}/bewerbungen/{applicant_id}")
    card = page.locator(f'li.suggestion[data-offer="{offer_id}"]')
    expect(card.locator(".badge--rejected")).to_have_text("abgelehnt")

    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if len(asked) == 1:
            dialog.dismiss()  # first: the coordinator thinks again, nothing is placed
        else:
            dialog.accept()

    page.on("dialog", answer)
    card.get_by_text("Von Hand platzieren …").click()
    place = card.get_by_role("button", name=f"Auf {offer_id} platzieren")
    place.click()
    expect(card).to_contain_text("Nicht platziert: Die Ablehnung bleibt bestehen.")
    assert site.api("GET", f"/api/rounds/{rid}/placements?status=confirmed") == []
    place.click()
    expect(page.locator("#toast")).to_contain_text(f"Platziert: {applicant_id} → {offer_id}")
    assert asked and "abgelehnt" in asked[0]
    [placed] = site.api("GET", f"/api/rounds/{rid}/placements?status=confirmed")
    assert (placed["applicant_id"], placed["offer_id"]) == (applicant_id, offer_id)
    [entry] = site.api("GET", f"/api/rounds/{rid}/audit?kind=override_rejection")
    assert (entry["applicant_id"], entry["offer_id"]) == (applicant_id, offer_id)

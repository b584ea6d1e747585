"""Markup planted in every free text a page shows must come out as text, never as an element.

The check reads the DOM, not a script's side effect: a Content-Security-Policy blocks inline
scripts, so a page that inserted ``<img onerror=…>`` as markup would still leave ``window.__xss``
unset. Each planted fragment carries a ``data-planted`` attribute; no element with it may exist
on any page, in any role, and the fragment's source text must be visible as typed.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from models.tables import Role
from tests.web.conftest import Site, login

OFFER_ID = "H-013"
APPLICANT_ID = "A-900"
OFFER_FIELDS = ("organisation", "title", "description", "mentor_name")
APPLICANT_FIELDS = ("name", "home_organisation", "position", "motivation")


def planted(field: str) -> str:
    """A fragment that becomes an element (marked ``data-planted``) if parsed as HTML."""
    return f'<b data-planted="{field}">{field}-mark</b>'


def _plant(site: Site) -> None:
    """Replace the free texts of one offer and one applicant, each with its own fragment."""
    base = f"/api/rounds/{site.round_id}"
    offer = site.api("GET", f"{base}/offers/{OFFER_ID}")
    for field in OFFER_FIELDS:
        offer[field] = f"{offer[field] or ''} {planted('offer-' + field)}".strip()
    site.api("PUT", f"{base}/offers/{OFFER_ID}", json=offer)
    applicant = site.api("GET", f"{base}/applicants/{APPLICANT_ID}")
    for field in APPLICANT_FIELDS:
        applicant[field] = f"{applicant[field]} {planted('applicant-' + field)}"
    site.api("PUT", f"{base}/applicants/{APPLICANT_ID}", json=applicant)
    site.api(
        "POST",
        f"{base}/placements",
        json={
            "applicant_id": APPLICANT_ID,
            "offer_id": OFFER_ID,
            "reason": planted("placement-reason"),
        },
    )


def _assert_text_only(page: Page, path: str) -> set[str]:
    """No planted element on the page; returns the planted fields shown as text."""
    page.locator("main h1").wait_for()
    page.wait_for_load_state("networkidle")
    elements = page.locator("[data-planted]").count()
    assert elements == 0, f"{path}: {elements} element(s) built from planted markup"
    body = page.locator("body").inner_text()
    return set(re.findall(r'data-planted="([a-z_-]+)"', body))


@pytest.fixture
def planted_site(site: Site) -> Site:
    _plant(site)
    return site


def test_planted_markup_stays_text_on_every_coordinator_page(
    page: Page, planted_site: Site
) -> None:
    site = planted_site
    login(page, site, site.coordinator_token)
    round_pages = [
        "",
        "/bewerbungen",
        f"/bewerbungen/{APPLICANT_ID}",
        "/angebote",
        f"/angebote/{OFFER_ID}",
        "/zuordnung",
        "/protokoll",
    ]
    shown: set[str] = set()
    for suffix in ["/app/runden", *(f"/app/runden/{site.round_id}{s}" for s in round_pages)]:
        page.goto(f"{site.url}{suffix}")
        shown |= _assert_text_only(page, suffix)
    # Every planted field was shown somewhere, as the text the coordinator typed.
    expected = {f"offer-{f}" for f in ("title", "description", "organisation")} | {
        f"applicant-{f}" for f in APPLICANT_FIELDS
    }
    assert expected <= shown, expected - shown


def test_planted_markup_stays_text_for_applicant_and_mentor(page: Page, planted_site: Site) -> None:
    site = planted_site
    applicant = site.issue(Role.APPLICANT, round_id=site.round_id, applicant_id=APPLICANT_ID)
    login(page, site, applicant)
    shown = _assert_text_only(page, "/app/vorschlaege")
    assert {"offer-title", "offer-organisation"} <= shown, shown

    mentor = site.issue(Role.MENTOR, round_id=site.round_id, offer_ids=[OFFER_ID])
    page.get_by_role("button", name="Abmelden").click()
    login(page, site, mentor)
    shown = _assert_text_only(page, "/app/gaeste")
    assert {"applicant-name", "applicant-motivation"} <= shown, shown

"""The workspace in a real browser (Debian's Chromium, driven by Playwright), the short flow a sales person
follows every day. The long tour of every page and role is `make e2e` (workspace/tests/e2e/)."""

import re

import pytest
from playwright.sync_api import expect

from calls.models import CallLog

from .browser import a_working_gym, people, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_sales_person_signs_in_finds_a_lead_by_phone_reads_its_call_queues_a_call_and_sees_the_dashboard(page):
    alpha = people(a_working_gym("Alpha Fitness", "0101"), "alpha")
    people(a_working_gym("Beta Barbell", "0102"), "beta")

    sign_in(page, alpha["sales"])
    expect(page.locator("#site-name")).to_contain_text("Alpha Fitness")

    # Only the gym's own leads, newest first.
    page.click("nav.workspace-nav >> text=Leads")
    listed = page.locator("#result_list tbody tr")
    expect(listed).to_have_count(4)
    expect(page.locator("#result_list")).not_to_contain_text("Betafamily")
    expect(page.locator("#result_list")).not_to_contain_text("Betalead")

    # The phone as people write it, found as the API finds it.
    page.fill("#searchbar", "(646) 555-1299")
    page.press("#searchbar", "Enter")
    expect(listed).to_have_count(1)
    page.click("#result_list tbody tr >> text=Alphalead Searched")

    # Its timeline: the call as a conversation, and the booking it made.
    timeline = page.locator("section.timeline")
    expect(timeline).to_contain_text("Appointment: Gym tour")
    expect(timeline).to_contain_text("Booked a tour.")
    timeline.locator("summary").first.click()
    expect(timeline.locator(".turn-agent").first).to_have_text(re.compile("Hi Alphalead, it's Alex."))
    expect(timeline.locator(".turn-user").first).to_contain_text("Friday at ten works for me.")

    # Queue an AI call for it from the list.
    page.click("nav.workspace-nav >> text=Leads")
    page.fill("#searchbar", "Alphalead")
    page.press("#searchbar", "Enter")
    page.check("#result_list tbody tr input.action-select")
    page.select_option("select[name=action]", "queue_calls")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Queued 1 AI call")
    assert CallLog.objects.unscoped().filter(lead=alpha["lead"], status="scheduled").count() == 1

    # The dashboard, its charts drawn on the server.
    page.click("nav.workspace-nav >> text=Dashboard")
    expect(page.locator("[data-figure=leads_created]")).to_have_text("4")
    expect(page.locator("figure.chart svg")).to_have_count(3)
    expect(page.locator(".upcoming")).to_contain_text("Gym tour")

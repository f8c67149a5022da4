"""The workspace in a real browser (Debian's Chromium, driven by Playwright), the short flow a sales person
follows every day. The long tour of every page and role is `make e2e` (workspace/tests/e2e/)."""

import re

import pytest
from playwright.sync_api import expect

from accounts.tests.factories import PASSWORD, UserFactory
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


def test_platform_staff_find_a_gym_in_the_admins_gym_filter_and_list_only_its_calls(page):
    """The platform admin's gym filter (reps.tenancy.admin.GymFilter): a box that finds gyms as one types
    (the admin's autocomplete), and a gym chosen in it opens the list of that gym's rows."""
    alpha = people(a_working_gym("Alpha Fitness", "0101"), "alpha")
    people(a_working_gym("Beta Barbell", "0102"), "beta")
    staff = UserFactory(gym=None, role=None, is_staff=True, is_superuser=True, email="platform@reps.test")

    page.goto("/admin/login/")
    page.fill("#id_username", staff.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto("/admin/calls/calllog/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)  # both gyms' calls

    page.click(".reps-gym-filter .select2-selection")
    page.fill(".select2-search__field", "Alph")
    page.click(".select2-results__option >> text=Alpha Fitness")
    page.wait_for_url(re.compile(rf"gym__id__exact={alpha['lead'].gym_id}"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Alphalead Searched")
    expect(page.locator(".reps-gym-filter .select2-selection")).to_contain_text("Alpha Fitness")

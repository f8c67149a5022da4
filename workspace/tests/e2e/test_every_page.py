"""make e2e: every page of the workspace in a real browser, as each role; another gym's pages as 404s.

Each page must answer 200 with no console error, no failed load and no server error (browser.page checks);
the pages a role may not open are not offered to it, and answer 403 when typed in.
"""

import os
from pathlib import Path

import pytest

from workspace.admin import site

from ..browser import a_working_gym, people, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")  # a folder: a full-page picture of every page, for review


def visit(page, path, status=200):
    response = page.goto(path)
    assert response.status == status, f"{path}: {response.status}"
    if SCREENSHOTS and status == 200:
        name = path.strip("/").replace("/", "_").replace("?", "_") or "root"
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{page.role}-{name[:120]}.png"), full_page=True)


def offered_links(page):
    """Every list and add page the dashboard offers the signed-in role."""
    hrefs = page.eval_on_selector_all("#content-main .module a[href^='/workspace/']", "links => links.map(a =>"
                                      " a.getAttribute('href'))")
    return sorted(set(hrefs))


@pytest.mark.parametrize("role", ["sales", "manager", "owner"])
def test_every_page_a_role_is_offered_opens_and_the_rest_are_refused(page, role):
    alpha = people(a_working_gym("Alpha Fitness", "0101"), "alpha")
    beta = people(a_working_gym("Beta Barbell", "0102"), "beta")
    page.role = role
    sign_in(page, alpha[role])

    offered = offered_links(page)
    assert offered, "the dashboard links the gym's pages"
    for path in offered:
        visit(page, path)
        rows = page.eval_on_selector_all("#result_list tbody th a", "links => links.map(a => a.getAttribute('href'))")
        if rows:
            visit(page, rows[0])  # a row's own page
    for path in ("/workspace/", "/workspace/?start=2026-01-01&end=2026-01-31", "/workspace/agenda/",
                 "/workspace/agenda/?view=day", f"/workspace/leads/lead/{alpha['lead'].pk}/change/",
                 f"/workspace/calls/calllog/{alpha['call'].pk}/change/", "/workspace/password_change/"):
        visit(page, path)

    every_list = {f"/workspace/{model._meta.app_label}/{model._meta.model_name}/" for model in site._registry}
    offered_lists = {path for path in offered if not path.endswith("/add/")}
    for path in sorted(every_list - offered_lists):
        visit(page, path, status=403)
    visit(page, "/workspace/leads/lead/import/", status=200 if role != "sales" else 403)

    # Gym B's rows, by their URLs: each a 404, whatever the role.
    for row in (beta["lead"], beta["call"], beta["sales"], beta["lead"].gym):
        opts = row._meta
        visit(page, f"/workspace/{opts.app_label}/{opts.model_name}/{row.pk}/change/", status=404)

"""The browser tests' fixtures: Debian's Chromium driven by Playwright, against the live test server."""

import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser(monkeypatch):
    if shutil.which(CHROMIUM) is None:  # scripts/chromium.sh installs it for make test; never skipped silently
        pytest.fail(f"No Chromium at {CHROMIUM}: run `apt-get install chromium` (make test does it as root).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test's thread, where the test also makes its
    # rows through the ORM; Django refuses that unless told it is safe (it is: nothing awaits meanwhile).
    # For this test only, and only while Playwright runs: set for the session, it reached the subprocesses of
    # other tests (manage.py check --deploy refuses it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A new browser page; each console error or failed request (a CSP refusal, a 500) fails the test."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    # A failed load is reported below, with its URL; any other console error (a CSP refusal, a script's) here.
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 500 or (response.status >= 400 and response.request.resource_type != "document")
            else None)
    yield page
    context.close()
    assert not problems, problems

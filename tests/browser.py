"""Shared set-up for the browser tests: Debian Chromium (headless) driven by Playwright's sync API.

    from tests.browser import BROWSER_MARKS
    pytestmark = BROWSER_MARKS

    def test_x(browser, live_server): ...   # `browser`: tests/conftest.py, one Chromium per module
"""

import os
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct-horse-battery"  # the browser tests' customers sign in with it
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"),
]


@contextmanager
def chromium():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def live_page(browser, live_server, settings, *, timeout_ms: int = 10_000, **context_options):
    """A page on the live server in a context of its own. The test server speaks plain http, so the
    session and CSRF cookies are not marked Secure (the browser would not send them back)."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(base_url=live_server.url, **context_options)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        context.close()


def sign_in(page, user, next_url="/dashboard/"):
    """Sign in through the real form (the sign-in lockout needs the request) and wait for the redirect."""
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread, which makes Django refuse
ORM calls there unless DJANGO_ALLOW_ASYNC_UNSAFE is set; the tests themselves are plain
synchronous code, so that is safe here.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from connections_app.models import Membership, Role  # noqa: E402

# The ``upstream`` fixture (tests/upstream.py served on loopback) comes from tests/conftest.py.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def base_url(live_server, settings):
    """The live server's URL, also used for snippets and OAuth redirect URIs."""
    settings.CONNECTIONS_BASE_URL = live_server.url
    return live_server.url


def new_context(browser, base_url, **options):
    options.setdefault("viewport", {"width": 1200, "height": 800})
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(15_000)
    if options.get("java_script_enabled", True):
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    return context


@pytest.fixture
def context(browser, base_url):
    context = new_context(browser, base_url)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def make_member(org):
    """Return make(role=admin, username=None, organisation=org) -> user with PASSWORD."""

    def make(role=Role.ADMIN, username=None, organisation=None):
        organisation = organisation or org
        username = username or f"{role}-{organisation.slug}"
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_password(PASSWORD)
            user.save()
        Membership.objects.get_or_create(user=user, organisation=organisation, defaults={"role": role})
        return user

    return make


def sign_in(page, user, password=PASSWORD):
    page.goto("/")
    assert "/login/" in page.url
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


@pytest.fixture
def admin_page(page, make_member):
    sign_in(page, make_member(Role.ADMIN))
    return page


@pytest.fixture
def oauth2_provider(oauth2_server):
    """The OAuth 2.0 test server (consent page, token endpoint, /api/me): (server, control)."""
    return oauth2_server.server, oauth2_server


_screenshots: list[Path] = []


def screenshots_dir() -> Path:
    """Where screenshots go: SCREENSHOTS_DIR when set (``SCREENSHOTS_DIR=docs/img`` renews
    the README's pictures on purpose), else a temporary folder, so a test run never
    changes a tracked file."""
    if not _screenshots:
        chosen = os.environ.get("SCREENSHOTS_DIR")
        _screenshots.append(Path(chosen).resolve() if chosen else Path(tempfile.mkdtemp(prefix="connections-screenshots-")))
    return _screenshots[0]


def screenshot(page, name: str) -> Path:
    folder = screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))
    return folder / name

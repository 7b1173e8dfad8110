"""One operator's journey through the admin, in a real Chromium."""

import os
import shutil

import pytest
from django.urls import reverse

from django_distinct.models import Status
from django_distinct.testing.factories import ErasureRequestFactory
from tests.operators import RESEND, VIEW, operator

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = bool(shutil.which(CHROMIUM))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_CHROMIUM and not os.environ.get("DISTINCT_REQUIRE_BROWSER"),
        reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium); "
        "set CHROMIUM to use another path",
    ),
]


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(live_server, monkeypatch):
    """Return a Chromium page that lives only as long as the test.

    Playwright's sync API runs an event loop in this thread while it is
    open, and Django then refuses ORM calls from the thread as if they were
    async code; keeping the browser to one test keeps that to one test.
    """
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 900})
        finally:
            browser.close()


def test_operator_resends_a_failed_request(
    live_server,
    distinct_server,
    distinct_fake,
    page,
    tmp_path,
):
    distinct_fake.add_user(email="anna@example.com")
    request = ErasureRequestFactory(
        email="anna@example.com",
        failed=True,
        failure_reason="gave up after 12 attempts: Internal server error.",
    )
    operator(VIEW, RESEND, username="ops")
    changelist = reverse("admin:django_distinct_erasurerequest_changelist")

    page.goto(f"{live_server.url}{reverse('admin:login')}?next={changelist}")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    row = page.locator("#result_list tbody tr", has_text="a***@example.com")
    assert "Failed" in row.inner_text()

    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", label="Re-send to Distinct")
    page.click("button[name=index]")

    message = page.locator(".messagelist .success")
    assert message.inner_text() == (
        "Re-sent 1: 1 succeeded, 0 not found, 0 failed, 0 still pending."
    )
    row = page.locator("#result_list tbody tr", has_text="a***@example.com")
    assert "Succeeded" in row.inner_text()
    assert "User data deleted successfully." in row.inner_text()
    screenshot = tmp_path / "changelist-after-resend.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")

    request.refresh_from_db()
    assert request.status == Status.SUCCEEDED
    assert request.history.get().actor == "ops"
    assert distinct_fake.count_by_id() == {request.user_id: 1}

"""The kit as a guest in a host site's pages (issue 8, "a good citizen"), in real Chromium.

The host page is one a site would write: it loads htmx 2 and the SSE extension itself, sets
up its own htmx error handling, and has its own hx- elements whose requests fail. The kit's
part of it is rendered by the example site's own Django with INBOX["LOAD_HTMX"] = False.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.conftest import Site

# Renders the kit's tags for alice in the example site's process, with LOAD_HTMX off.
RENDER_KIT = """
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.template import Context, Template
from django.test import RequestFactory, override_settings

request = RequestFactory().get("/host/")
request.user = User.objects.get(username="alice")
request.session = {}
request._messages = FallbackStorage(request)
with override_settings(INBOX={**settings.INBOX, "LOAD_HTMX": False}):
    parts = Template(
        "{% load inbox %}{% inbox_head %}@@PART@@{% notification_preview %}{% notification_badge %}"
        "@@PART@@{% notification_toasts %}"
    ).render(Context({"request": request}))
print("@@KIT@@" + parts)
"""

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A host site</title>
<script src="/static/django_htmx/htmx-2.min.js"></script>
<script src="/static/django_htmx/ext/hx-sse-2.min.js"></script>
<script>
  // The site's own htmx, its configuration as the site left it, and its own error handling.
  window.__siteHtmx = window.htmx;
  window.__siteHandling = JSON.stringify(htmx.config.responseHandling);
  window.__siteErrors = [];
  document.addEventListener("htmx:responseError", function (event) {
    if (!event.detail.elt.closest(".inbox, .inbox-preview, #inbox-badge, #inbox-toasts, #inbox-live")) {
      window.__siteErrors.push(event.detail.xhr.status);
    }
  });
</script>
%(head)s
</head><body>
<header>%(header)s</header>
%(toasts)s
<main>
  <button id="site-missing" hx-get="/site-missing/" hx-target="#site-out">Load missing</button>
  <button id="site-bad" hx-get="/site-bad/" hx-target="#site-out">Load bad</button>
  <div id="site-out">untouched</div>
</main>
</body></html>"""


def kit_parts(site: Site) -> dict[str, str]:
    output = site.python(RENDER_KIT)
    head, header, toasts = output[output.index("@@KIT@@") + len("@@KIT@@"):].split("@@PART@@")
    return {"head": head, "header": header, "toasts": toasts}


@pytest.fixture
def host(page: Page, site: Site) -> Page:
    """Alice (logged in) on the host site's page, served from the example site's origin."""
    html = HOST_PAGE % kit_parts(site)

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    page.route(f"{site.url}/host/", serve)
    page.route(f"{site.url}/site-bad/", lambda route: route.fulfill(status=400, body="<p>site's 400</p>"))
    page.goto(f"{site.url}/host/")
    page.wait_for_function("document.readyState === 'complete'")
    return page


def kit_toasts(page: Page):
    return page.locator("#inbox-toasts [data-inbox-toast]")


def test_the_kit_does_not_load_a_second_htmx(host: Page):
    assert host.locator('script[src*="htmx-2"]').count() == 1
    assert host.locator('script[src*="hx-sse"]').count() == 1
    assert host.evaluate("window.htmx === window.__siteHtmx")


def test_the_sites_own_failing_requests_are_not_hijacked(host: Page):
    with host.expect_response("**/site-missing/"):
        host.click("#site-missing")
    with host.expect_response("**/site-bad/"):
        host.click("#site-bad")
    host.wait_for_function("window.__siteErrors.length === 2")
    assert sorted(host.evaluate("window.__siteErrors")) == [400, 404]
    # htmx's default for a 400 (no swap) still holds for the site: the kit no longer changes it.
    expect(host.locator("#site-out")).to_have_text("untouched")
    assert host.evaluate("JSON.stringify(htmx.config.responseHandling) === window.__siteHandling")
    # ...and no kit toast for the site's failures.
    host.wait_for_timeout(300)
    expect(kit_toasts(host)).to_have_count(0)


def send_from_the_demo_form(host: Page, site: Site, message: str) -> None:
    """Send through the server itself: its default broker is in-process, so a notification sent
    by another process (manage.py) would never reach the open stream."""
    other = host.context.new_page()
    other.goto(f"{site.url}/")
    other.fill("#id_message", message)
    with other.expect_navigation():
        other.click("form[action='/send/'] button[type=submit]")
    other.close()


def test_the_kit_still_works_with_the_sites_htmx(host: Page, site: Site):
    # Live updates over the site's htmx and SSE extension: the badge, a toast, the preview.
    expect(host.locator("html")).to_have_attribute("data-inbox-live", "leader")
    before = site.unread("alice")
    send_from_the_demo_form(host, site, "Hello from the host page")
    expect(host.locator("#inbox-badge")).to_have_attribute("aria-label", f"{before + 1} unread notifications")
    expect(host.locator("#inbox-toasts")).to_contain_text("Hello from the host page")
    expect(host.locator("#inbox-preview-items")).to_contain_text("Hello from the host page")
    assert host.evaluate("window.__siteErrors") == []


def test_the_kits_own_failing_request_still_says_so(host: Page, site: Site):
    host.route(f"{site.url}/inbox/preview/", lambda route: route.fulfill(status=500, body="boom"))
    with host.expect_response("**/inbox/preview/"):
        host.evaluate("document.body.dispatchEvent(new CustomEvent('inbox:changed', {bubbles: true}))")
    expect(kit_toasts(host)).to_have_count(1)
    expect(kit_toasts(host)).to_contain_text("(500)")
    assert host.evaluate("window.__siteErrors") == []


def test_a_kit_400_is_still_shown_on_the_inbox_page(page: Page, site: Site):
    """Per-request handling replaced the global rewrite: the kit's own 400 still swaps its message."""
    page.goto(f"{site.url}/inbox/")
    handling = page.evaluate("JSON.stringify(htmx.config.responseHandling)")
    page.locator(".inbox-advanced > summary").click()
    page.fill("#id_sent_after", "2020-01-02")
    with page.expect_response(lambda response: "/inbox/?" in response.url and response.status == 400):
        page.fill("#id_sent_before", "2020-01-01")
    expect(page.locator("#inbox-results [role=alert]")).to_contain_text("must be on or before")
    assert page.evaluate("JSON.stringify(htmx.config.responseHandling)") == handling
    assert json.loads(handling)[0]["code"] == "204"  # htmx's own default, untouched

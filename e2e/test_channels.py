"""A delivery end to end from the browser: the example site's send form with "E-mail" ticked (a
web request under uvicorn) writes the deliveries; a real ``db_worker`` process sends the e-mail."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.conftest import Site


def test_an_email_ticked_in_the_browser_is_sent_by_the_db_worker(page: Page, site: Site):
    page.goto(f"{site.url}/")
    page.select_option("#id_recipient", label="bob")
    page.fill("#id_message", "Deploy of Apollo finished")
    page.fill("#id_url", "/projects/1/")
    page.get_by_label("E-mail").check()
    with page.expect_navigation():
        page.click("form[action='/send/'] button[type=submit]")
    expect(page.locator("#inbox-toasts")).to_contain_text("Sent to bob.")
    pending = site.python(
        "from inbox.models import Delivery; "
        "print(list(Delivery.objects.filter(notification__message='Deploy of Apollo finished')"
        ".values_list('channel', 'status')))"
    )
    assert pending == "[('email', 'pending')]"  # the request only wrote it: nothing is sent in a request

    # The worker the demo runs beside the server; the site's e-mail backend prints to its output.
    output = site.manage("db_worker", "--batch", "--no-startup-delay", "--interval", "0", "--no-reload")
    assert "Subject: Deploy of Apollo finished" in output
    assert "To: bob@example.com" in output
    assert "/projects/1/" in output and "List-Unsubscribe:" in output
    sent = site.python(
        "from inbox.models import Delivery; "
        "print(list(Delivery.objects.filter(notification__message='Deploy of Apollo finished')"
        ".values_list('status', 'attempts')))"
    )
    assert sent == "[('sent', 1)]"

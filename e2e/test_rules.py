"""The demo's notification rule in Chromium: alice changes a project's status on its page; bob, a
member, gets the toast live, and the notification's page shows what changed.

The rule renders and sends in a task after the request's commit: the demo runs rules' tasks in the
server (``INBOX["RULES_TASK_BACKEND"]``, an immediate backend), while its other tasks (e-mail) go to
the worker. This site also runs with the Redis broker, as a site with several processes does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import DESKTOP, PHONE, Site, _login, running_site, wait_for_leader
from e2e.states import DETAIL
from e2e.test_inbox import expect_badge, mark_page, not_reloaded
from tests.services import RedisServer, ServiceError


@pytest.fixture(scope="module")
def redis_site() -> Iterator[Site]:
    try:
        redis = RedisServer().start()
    except ServiceError as error:
        pytest.fail(f"Cannot start redis-server: {error} (make test installs it).")
    try:
        with running_site("inbox-rules-", INBOX_REDIS_URL=redis.url) as site:
            yield site
    finally:
        redis.stop()


def signed_in(browser: Browser, site: Site, username: str, errors: list[str], **options: object) -> Page:
    context = browser.new_context(viewport=options.pop("viewport", DESKTOP), **options)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    _login(page, site, username)
    return page


def test_a_status_change_reaches_the_members_live_and_shows_what_changed(browser: Browser, redis_site: Site) -> None:
    site = redis_site
    site.reset()
    errors: list[str] = []
    bob = signed_in(browser, site, "bob", errors)
    bob.goto(f"{site.url}/inbox/")
    wait_for_leader([bob])
    mark_page(bob)
    unread = site.unread("bob")

    alice = signed_in(browser, site, "alice", errors)
    pk = site.python("from demo.models import Project; print(Project.objects.get(name='Apollo').pk)")
    alice.goto(f"{site.url}/projects/{pk}/")
    expect(alice.locator("#project-status")).to_have_text("In progress")
    alice.get_by_label("New status").select_option(label="Done")
    with alice.expect_navigation():
        alice.get_by_role("button", name="Change status").click()
    expect(alice.locator("#project-status")).to_have_text("Done")
    expect(alice.locator("#inbox-toasts")).to_contain_text("Apollo is now Done.")

    message = "alice moved Apollo to Done"
    expect(bob.locator("#inbox-toasts")).to_contain_text(message)
    expect(bob.locator(".inbox-table")).to_contain_text(message)
    expect_badge(bob, unread + 1)
    assert not_reloaded(bob)
    # The one who made the change is not told about it; the other member is, once.
    told = site.python(
        "from django.contrib.auth.models import User; from inbox.models import Notification; "
        "ids = Notification.objects.filter(category='projects').values_list('recipient_id', flat=True); "
        "print(sorted(User.objects.get(pk=pk).username for pk in ids))"
    )
    assert told == "['bob']"

    bob.locator("[data-inbox-row]", has_text=message).locator(".inbox-open").click()
    bob.wait_for_url(DETAIL)
    changes = bob.get_by_role("region", name="Changes")
    expect(changes).to_contain_text("Updated")
    expect(changes.locator("dt")).to_have_text("Status")
    # Struck and coloured, and in words for a screen reader.
    expect(changes.locator("del")).to_have_text("Before: In progress")
    expect(changes.locator("ins")).to_have_text("After: Done")
    expect(bob.get_by_role("link", name=re.compile("Open"))).to_have_attribute("href", f"/projects/{pk}/")
    assert not errors, errors


def test_the_status_form_works_without_javascript_on_a_phone(browser: Browser, redis_site: Site) -> None:
    site = redis_site
    site.reset()
    errors: list[str] = []
    alice = signed_in(browser, site, "alice", errors, viewport=PHONE, java_script_enabled=False)
    pk = site.python("from demo.models import Project; print(Project.objects.get(name='Borealis').pk)")
    alice.goto(f"{site.url}/projects/{pk}/")
    alice.get_by_label("New status").select_option(label="In review")
    alice.get_by_role("button", name="Change status").click()
    alice.wait_for_url(f"{site.url}/projects/{pk}/")
    expect(alice.locator("#project-status")).to_have_text("In review")
    # bob, Borealis's other member, has it with its diff, escaped and in words.
    html = site.python(
        "from django.test import Client; from django.contrib.auth.models import User; "
        "from inbox.models import Notification; bob = User.objects.get(username='bob'); "
        "n = Notification.objects.recipients([bob]).get(category='projects'); c = Client(); c.force_login(bob); "
        "print(c.get(f'/inbox/{n.uid}/', HTTP_HOST='127.0.0.1').content.decode())"
    )
    assert "alice moved Borealis to In review" in html
    assert re.search(r"Before: </span>Planned</del>.*After: </span>In review</ins>", html, re.S)
    assert not errors, errors


def test_a_rule_set_up_in_the_admin_previews_as_you_type_and_fires(browser: Browser, redis_site: Site) -> None:
    """The issue's admin flow: a trigger and its subscription set up in the admin (the preview follows
    the template as it is typed, the test lands in the admin's inbox); a save in another tab fires it."""
    site = redis_site
    site.reset()
    errors: list[str] = []
    admin = browser.new_context(viewport=DESKTOP).new_page()
    admin.context.set_default_timeout(15_000)
    admin.on("pageerror", lambda error: errors.append(str(error)))
    admin.goto(f"{site.url}/admin/login/")
    admin.fill("#id_username", "admin")
    admin.fill("#id_password", "inbox-demo")
    admin.click("input[type=submit]")
    project_type = site.python("from django.contrib.contenttypes.models import ContentType; "
                               "print(ContentType.objects.get(app_label='demo', model='project').pk)")
    bob_pk = site.python("from django.contrib.auth.models import User; print(User.objects.get(username='bob').pk)")
    try:
        admin.goto(f"{site.url}/admin/inbox_rules/trigger/add/")
        admin.fill("#id_name", "A project is done")
        admin.select_option("#id_signal", "post_save")
        admin.select_option("#id_sender", project_type)
        admin.select_option("#id_created", "updated")
        admin.fill("#id_condition_field", "status")
        admin.fill("#id_condition_value", "done")
        admin.fill("#id_subscriptions-0-template", "{{ instance }} is done")
        admin.fill("#id_subscriptions-0-url_template", "{{ instance.get_absolute_url }}")
        admin.select_option("#id_subscriptions-0-users_from", bob_pk)  # the two-list picker
        admin.click("#id_subscriptions-0-users_add")
        admin.click("input[name=_save]")
        expect(admin.locator(".messagelist")).to_contain_text("was added successfully")

        admin.locator("#result_list").get_by_role("link", name="A project is done").click()
        admin.get_by_role("link", name="Preview the message, or send yourself a test").click()
        preview = admin.locator("#inbox-rules-preview")
        expect(preview).to_contain_text("Cygnus is done")  # rendered on load, for the latest project
        admin.fill("#id_template", "{{ instance }} is done, says {{ actor }} <b>")
        expect(preview).to_contain_text("Cygnus is done, says admin <b>")  # as typed; escaped
        admin.fill("#id_template", "{{ instance }} is done")
        expect(preview.locator(".inbox-rules-preview__message")).to_have_text("Cygnus is done")
        admin.get_by_role("button", name="Send a test notification to me").click()
        expect(admin.locator(".messagelist")).to_contain_text("sent to your inbox: “Cygnus is done”")

        bob = signed_in(browser, site, "bob", errors)
        bob.goto(f"{site.url}/inbox/")
        wait_for_leader([bob])
        alice = signed_in(browser, site, "alice", errors)
        cygnus = site.python("from demo.models import Project; print(Project.objects.get(name='Cygnus').pk)")
        alice.goto(f"{site.url}/projects/{cygnus}/")
        alice.get_by_label("New status").select_option(label="Done")
        with alice.expect_navigation():
            alice.get_by_role("button", name="Change status").click()
        expect(bob.locator("#inbox-toasts")).to_contain_text("Cygnus is done")
        assert not errors, errors
    finally:
        site.python("from inbox.contrib.rules.models import Trigger; "
                    "[trigger.delete() for trigger in Trigger.objects.filter(name='A project is done')]")

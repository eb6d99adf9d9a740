"""The page states the kit draws, opened in a signed-in page: what the screenshots show and what
axe checks (``e2e/screenshots.py``, ``e2e/test_ui_axe.py``), so every picture is a checked state."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from e2e.conftest import Site

DETAIL = re.compile(r"/inbox/[0-9a-f-]{36}/")
ROW = ".inbox-table [data-inbox-row]"


def settle(page: Page) -> None:
    """No request in flight and no animation half-way: what a reader sees after a moment."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(250)


def open_list(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/inbox/")


def open_detail(page: Page, site: Site) -> None:
    """A notification with an actor and a link (the "Open" button), and a thread when there is one,
    opened from the list as a reader does (a POST that marks it read)."""
    uid = site.python(
        "from django.contrib.auth.models import User; from inbox.models import Notification; "
        "qs = Notification.objects.recipients([User.objects.get(username='alice')]).sent().exclude(url='')"
        ".exclude(actor_id=None); print((qs.exclude(parent=None).first() or qs.first()).uid)"
    )
    page.goto(f"{site.url}/inbox/?per_page=100")
    page.locator(f"#inbox-row-{uid} .inbox-open").click()
    page.wait_for_url(DETAIL)


def open_preview(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/inbox/")
    page.locator(".inbox-preview .inbox-bell").click()
    page.locator("#inbox-preview-panel").wait_for(state="visible")


def open_selection(page: Page, site: Site) -> None:
    """Three rows ticked (the bulk bar) and the pointer over another (its row actions)."""
    page.goto(f"{site.url}/inbox/")
    for index in range(3):
        page.locator(f"{ROW} input[name=uid]").nth(index).check()
    page.locator(ROW).nth(4).hover()


def open_confirm(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/inbox/")
    page.locator(f"{ROW} input[name=uid]").nth(0).check()
    page.locator("[data-inbox-action=delete]").click()
    page.get_by_role("alertdialog").wait_for()


_MESSAGES = (
    "from django.contrib.auth.models import User; from inbox.models import Notification; "
    "from inbox.contrib import messages as m; from inbox.contrib.messages import sending; "
    "from inbox.services import manager; "
    "alice, bob = User.objects.get(username='alice'), User.objects.get(username='bob'); "
    # Through the manager, so Stats (the bell's count) lose the deleted rows too.
    "manager.delete(Notification.objects.filter(category='messages')); "
)


def open_messages(page: Page, site: Site) -> None:
    """A site page with persistent messages above its content (``{% inbox_messages %}``)."""
    site.python(
        _MESSAGES
        + "m.create_message(alice, m.WARNING, 'Your trial ends in 3 days. Add a payment method to keep your projects.'); "
        + "m.create_message(alice, m.INFO, 'I moved the launch review to Thursday at 10:00.', from_user=bob, "
        + "subject='Launch review')"
    )
    page.goto(f"{site.url}/")


def open_conversation(page: Page, site: Site) -> None:
    """A message from another person with replies both ways, and the reply form."""
    uid = site.python(
        _MESSAGES
        + "first = m.create_message(alice, m.INFO, 'Can you review the Apollo launch checklist before Friday?', "
        + "from_user=bob, subject='Apollo launch'); "
        + "reply = sending.reply(first, alice, 'Sure. I will go through it tomorrow morning.'); "
        + "sending.reply(reply, bob, 'Thanks! The rollback section is the one I am least sure about.'); "
        + "print(first.uid)"
    )
    page.goto(f"{site.url}/inbox/{uid}/")


# The demo's notification rule (seed_demo): bob moves a project alice is a member of from "In progress"
# to "In review", as a request of his would (acting_as: the actor), and the task worker runs the rule.
# The rule's earlier notifications go first (through the manager, so the bell's count stays true):
# each picture shows one.
_RULE = """
from django.contrib.auth.models import User
from demo.models import Project
from inbox.contrib.rules.middleware import acting_as
from inbox.models import Notification
from inbox.services import manager
manager.delete(Notification.objects.filter(category="projects"))
Project.objects.filter(name="Apollo").update(status=Project.Status.IN_PROGRESS)  # no signal: not news
project = Project.objects.get(name="Apollo")
project.status = Project.Status.IN_REVIEW
with acting_as(User.objects.get(username="bob")):
    project.save()
"""


def run_tasks(site: Site) -> None:
    """What ``make demo``'s task worker does: run the queued tasks (a rule's rendering and sending)."""
    site.manage("db_worker", "--batch", "--no-startup-delay", "--interval", "0", "--no-reload")


def open_rule(page: Page, site: Site) -> None:
    """A notification from the demo's rule ("a project's status changed"): its detail page with the
    "Changes" section, the old status struck and the new one beside it."""
    site.python(_RULE)
    run_tasks(site)
    uid = site.python(
        "from django.contrib.auth.models import User; from inbox.models import Notification; "
        "print(Notification.objects.recipients([User.objects.get(username='alice')]).filter(category='projects')"
        ".order_by('-sent_at', '-id').first().uid)"
    )
    page.goto(f"{site.url}/inbox/{uid}/")
    page.locator(".inbox-changes").scroll_into_view_if_needed()  # on a phone it is below the fold


def open_project(page: Page, site: Site) -> None:
    """The demo's project page, with the status form the rule listens to."""
    pk = site.python("from demo.models import Project; print(Project.objects.get(name='Apollo').pk)")
    page.goto(f"{site.url}/projects/{pk}/")


def open_preferences(page: Page, site: Site) -> None:
    """The preferences page: categories × channels, the locked security row, the digest schedule."""
    page.goto(f"{site.url}/inbox/preferences/")


def open_snoozed(page: Page, site: Site) -> None:
    """The Snoozed tab: the seed's notification that waits until tomorrow morning."""
    page.goto(f"{site.url}/inbox/?status=snoozed")


def open_group(page: Page, site: Site) -> None:
    """The seed's group ("dana and 3 others commented on Apollo"), opened: each comment listed."""
    uid = site.python(
        "from django.contrib.auth.models import User; from inbox.models import Notification; "
        "print(Notification.objects.recipients([User.objects.get(username='alice')])"
        ".filter(group_size__gt=1).order_by('-sent_at').first().uid)"
    )
    page.goto(f"{site.url}/inbox/{uid}/")


def open_unsubscribe(page: Page, site: Site) -> None:
    """What the link in an e-mail opens: the confirmation, which changes nothing until its button."""
    token = site.python(
        "from django.contrib.auth.models import User; from inbox import unsubscribe; from inbox.recipients import key_of; "
        "print(unsubscribe.make_token(key_of(User.objects.get(username='alice')), 'comments', 'email'))"
    )
    page.goto(f"{site.url}/inbox/unsubscribe/{token}/")

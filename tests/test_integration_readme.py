"""README.md's "Add it to a site", applied to a fresh ``django-admin startproject``, gives a working
inbox with no other edit (checked here with Django's test client; e2e/test_fresh_project.py does it
in Chromium, live, with Redis).

Before: the README told people to set INBOX = {"BASE_TEMPLATE": "base.html"}, a 500
(TemplateDoesNotExist) in a fresh project, and its settings were pseudo-code (``[..., *apps]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fresh_project import BADGE_MARKER, USERNAME, FreshProject, marked_badge_template, readme_steps

#: Run in the fresh project's ``manage.py shell``: what a visitor and the superuser get.
VISIT = """
import json
from django.contrib.auth.models import User
from django.test import Client
from inbox import stats
user = User.objects.get(username=%(username)r)
# Outside a test runner "testserver" is no allowed host; a fresh project (DEBUG) allows 127.0.0.1.
anonymous = Client(HTTP_HOST="127.0.0.1").get("/inbox/")
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(user)
page = client.get("/inbox/")
print(json.dumps({"anonymous": [anonymous.status_code, anonymous.get("Location")], "status": page.status_code,
                  "page": page.content.decode(), "unread": stats.counts_for([user]).unread}))
"""


@pytest.fixture(scope="module")
def project() -> Iterator[tuple[FreshProject, list[list[str]]]]:
    """The fresh project after the README's required steps; and the commands left: serve, send."""
    project = FreshProject()
    try:
        required, _, _ = readme_steps()
        project.apply_files(required)
        yield project, project.run_commands(required)
    finally:
        project.cleanup()


def visit(project: FreshProject) -> dict[str, Any]:
    result = project.manage("shell", "--no-imports", "-c", VISIT % {"username": USERNAME})
    return json.loads(result.stdout.splitlines()[-1])


def test_the_readme_steps_give_a_working_inbox(project):
    project, later = project
    assert [argv[0] for argv in later] == ["runserver", "shell"], "the steps end by serving, then sending"
    project.manage("check", "--fail-level", "WARNING")
    seen = visit(project)
    # Signed out: sent to the login page the README sets up (a fresh project has no /accounts/login/).
    assert seen["anonymous"] == [302, "/admin/login/?next=/inbox/"]
    # Signed in: the inbox in the kit's own layout: its head, the bell and the toasts' region.
    assert seen["status"] == 200, seen["page"][-2000:]
    assert 'id="inbox-badge"' in seen["page"] and 'id="inbox-toasts"' in seen["page"]
    assert "inbox/inbox.js" in seen["page"]


def test_the_readmes_send_line_works_and_says_why_it_is_not_live(project):
    project, later = project
    [shell] = [argv for argv in later if argv[0] == "shell"]
    before = visit(project)["unread"]
    sent = project.manage(*shell)  # another process than any server, as in the README
    assert visit(project)["unread"] == before + 1
    # The default broker cannot reach a server's streams from here: the process says so, once.
    assert sent.stderr.count("The in-process broker published inbox events") == 1, sent.stderr


def test_the_redis_line_and_an_overridden_partial(project):
    project, _ = project
    _, redis, override = readme_steps()
    assert [len(code.strip().splitlines()) for _, code in redis.files] == [1], "the broker is one line of settings"
    project.apply_files(redis)
    project.apply_files(override)
    project.write("templates/inbox/badge.html", marked_badge_template())
    project.manage("check", "--fail-level", "WARNING")  # imports the Redis broker; connects to nothing
    seen = visit(project)
    assert BADGE_MARKER in seen["page"], "the project's templates/inbox/badge.html should win over the kit's"

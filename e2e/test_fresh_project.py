"""A fresh ``django-admin startproject``, README.md's "Add it to a site" steps and nothing else, in
real Chromium: sign in through the login URL the README sets, see the project's own override of a
partial, send from another process with the README's broker line for that case (a real Redis), and
watch the bell and a toast change without a reload."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import _wait_for
from tests.fresh_project import BADGE_MARKER, PASSWORD, USERNAME, FreshProject, marked_badge_template, readme_steps
from tests.services import RedisServer, ServiceError, free_port, stop_process

#: The Redis URL the README's broker line names; the test points it at its own throwaway server.
README_REDIS_URL = "redis://127.0.0.1:6379/0"
LIVE_TIMEOUT = 15_000


@dataclass
class Running:
    project: FreshProject
    url: str
    send: list[str]  # the README's `python manage.py shell -c ...`, after manage.py


@pytest.fixture(scope="module")
def fresh() -> Iterator[Running]:
    try:
        redis = RedisServer().start()
    except ServiceError as error:
        pytest.fail(f"Cannot start redis-server: {error} (make test installs it).")
    project = FreshProject()
    server: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    try:
        required, broker, override = readme_steps()
        assert any(README_REDIS_URL in code for _, code in broker.files), "the README's broker line changed its URL"
        project.apply_files(required)
        project.apply_files(broker, replace={README_REDIS_URL: redis.url})
        project.apply_files(override)
        # The project's own copy of the bell's template, as the README says: the kit's, plus a marker.
        project.write("templates/inbox/badge.html", marked_badge_template())
        project.run_commands(broker)
        project.run_commands(override)
        later = project.run_commands(required)
        [serve] = [argv for argv in later if argv[0] == "runserver"]
        [send] = [argv for argv in later if argv[0] == "shell"]
        port = free_port()
        log = open(project.root / "server.log", "wb")  # closed below, after the server stops
        server = subprocess.Popen([sys.executable, "manage.py", *serve, f"127.0.0.1:{port}", "--noreload"],
                                  cwd=project.path, env=project.env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(f"{url}/admin/login/", server)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{(project.root / 'server.log').read_text(errors='replace')}") from None
        yield Running(project, url, send)
    finally:
        if server is not None:
            stop_process(server)
        if log is not None:
            log.close()
        redis.stop()
        project.cleanup()


def test_a_fresh_project_from_the_readme_works_live(browser: Browser, fresh: Running):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(LIVE_TIMEOUT)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        # Signed out, the inbox sends us to settings.LOGIN_URL: the README's line makes it exist.
        page.goto(f"{fresh.url}/inbox/")
        page.wait_for_url(re.compile(r"/admin/login/\?next=/inbox/$"))
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        # The stream answers once it is subscribed: anything sent after that must arrive.
        with page.expect_response(lambda response: "/inbox/events/" in response.url):
            page.click("[type=submit]")
            page.wait_for_url(f"{fresh.url}/inbox/")

        # The kit's own layout, with the project's copy of the bell in place, at zero.
        bell = page.locator(f"[{BADGE_MARKER}]").first
        expect(bell).to_have_attribute("aria-label", re.compile(r"^No unread"))
        page.evaluate("window.__freshNoReload = true")

        # The README's send line, from another process: with the Redis line it arrives live.
        sent = fresh.project.manage(*fresh.send)
        assert "in-process broker" not in sent.stderr, sent.stderr
        expect(bell).to_have_attribute("aria-label", re.compile(r"^1 unread"))  # still the project's bell
        expect(page.locator("#inbox-toasts")).to_contain_text("Hello from the shell")
        assert page.evaluate("window.__freshNoReload === true"), "the page reloaded instead of updating live"
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        context.close()

"""End-to-end fixtures: the example site under uvicorn on a free port, with a fresh database,
driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "example_site"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("INBOX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "inbox-demo"


class Site:
    """A running example site: its URL, its server process, and management commands against its database."""

    def __init__(self, url: str, env: dict[str, str], port: int) -> None:
        self.url = url
        self.env = env
        self.port = port
        self.server: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=SITE, env=self.env, capture_output=True, text=True, timeout=300
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def python(self, code: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code).strip()

    def unread(self, username: str) -> int:
        return int(self.python(
            "from django.contrib.auth.models import User; from inbox import stats; "
            f"print(stats.counts_for([User.objects.get(username={username!r})]).unread)"
        ))

    def send(self, username: str, message: str, **options: object) -> None:
        """Send from a management command: another process than the servers."""
        self.python(
            "from django.contrib.auth.models import User; from inbox.services import notifier; "
            f"notifier.send({message!r}, User.objects.get(username={username!r}), **{options!r})"
        )

    def reset(self) -> None:
        self.manage("seed_demo", "--reset", "--count", "40")

    def start(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "example_site.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning",
             # Open event streams never end by themselves: cancel them after 2 s on shutdown.
             "--timeout-graceful-shutdown", "2"],
            cwd=SITE, env=self.env,
        )
        _wait_for(f"{self.url}/login/", self.server)

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=10)
            self.server = None


def site_env(workdir: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir}/db.sqlite3", "DJANGO_DEBUG": "1",
           "PYTHONPATH": f"{SITE}{os.pathsep}{ROOT}", **extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer at {url}")


@contextlib.contextmanager
def running_site(prefix: str, **env: str) -> Iterator[Site]:
    """The example site, migrated and seeded on a fresh SQLite file, under uvicorn until the block ends."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    port = free_port()
    site = Site(f"http://127.0.0.1:{port}", site_env(workdir, **env), port)
    try:
        site.manage("migrate", "--noinput", "-v0")
        site.reset()
        site.start()
        yield site
    finally:
        site.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    """The example site on one uvicorn process, in-process broker (the default setup)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium.")
    with running_site("inbox-e2e-") as site:
        yield site


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _login(page: Page, site: Site, username: str) -> None:
    page.goto(f"{site.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/")


@pytest.fixture
def context(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    options = getattr(request, "param", {}) or {}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, site: Site) -> Iterator[Page]:
    """A page logged in as alice, on a freshly seeded inbox."""
    site.reset()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _login(page, site, "alice")
    yield page
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

MakePage = Callable[..., Page]


@pytest.fixture
def make_page(browser: Browser, site: Site) -> Iterator[MakePage]:
    """Pages signed in as alice on a freshly seeded inbox, at a size, in a scheme, with or without JS."""
    site.reset()
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(viewport: dict[str, int] = DESKTOP, scheme: str = "light", js: bool = True,
             page_scripts: bool = True) -> Page:
        """``js=False`` turns JavaScript off in the browser; ``page_scripts=False`` keeps it on but
        blocks every script the site loads, which draws the same page a visitor without JavaScript
        sees while letting a test inject its own (axe needs timers, which a JS-off page never runs)."""
        context = browser.new_context(viewport=viewport, color_scheme=scheme, java_script_enabled=js)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        if not page_scripts:
            context.route(re.compile(r"\.js(\?|$)"), lambda route: route.abort())
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        _login(page, site, "alice")
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


# -- Live updates across two sites (e2e/test_live*.py): each module defines a ``live`` fixture --------

LIVE_TIMEOUT = 15_000


@pytest.fixture
def live_context(browser: Browser, live: Any) -> Iterator[BrowserContext]:
    """A browser context for the module's two live sites (``live.a``, reset first)."""
    live.a.reset()
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(LIVE_TIMEOUT)
    yield context
    context.close()


def alice_on(context: BrowserContext, site: Site, path: str) -> Page:
    """A tab signed in as alice on ``path``, with the event stream open."""
    page = context.new_page()
    _login(page, site, "alice")
    page.goto(f"{site.url}{path}")
    wait_for_leader([page])
    return page


def wait_for_leader(pages: list[Page]) -> None:
    deadline = time.monotonic() + LIVE_TIMEOUT / 1000
    while time.monotonic() < deadline:
        if any(p.evaluate("document.documentElement.dataset.inboxLive") == "leader" for p in pages):
            return
        time.sleep(0.1)
    pytest.fail("no tab opened the event stream")

"""The demo a newcomer runs with ``make demo``: its seeded links open for the demo users, its home
page says how to see a live toast, and its port can be chosen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "example_site"


def make_dry_run(*args: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("PORT", "MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "-n", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_demo_serves_on_port_8000_unless_port_is_given():
    assert "manage.py runserver 127.0.0.1:8000" in make_dry_run("demo")
    assert "manage.py runserver 127.0.0.1:8123" in make_dry_run("demo", "PORT=8123")


def test_make_screenshots_runs_the_screenshots_module():
    assert ".venv/bin/python -m e2e.screenshots" in make_dry_run("screenshots")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """A function running Python in ``manage.py shell`` of a freshly migrated and seeded example site."""
    workdir = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}", "DJANGO_DEBUG": "0",
           "PYTHONPATH": f"{SITE}{os.pathsep}{ROOT}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest's (tests.settings) must not win over the site's
    env.pop("INBOX_REDIS_URL", None)

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=SITE, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, f"manage.py {args[0]}:\n{result.stdout}\n{result.stderr}"
        return result

    manage("migrate", "--noinput", "-v0")
    seeded = manage("seed_demo", "--count", "12")
    return manage, seeded.stdout + seeded.stderr


def as_alice(manage) -> dict:
    return json.loads(manage("shell", "--no-imports", "-c", AS_ALICE).stdout.splitlines()[-1])


AS_ALICE = """
import json
from django.contrib.auth.models import User
from django.test import Client
from inbox.models import Notification
alice = User.objects.get(username="alice")
client = Client(HTTP_HOST="localhost")
client.force_login(alice)
urls = sorted(set(Notification.objects.recipients([alice]).exclude(url="").values_list("url", flat=True)))
home = client.get("/").content.decode()
print(json.dumps({"urls": {url: client.get(url).status_code for url in urls}, "home": home}))
"""


def test_seeded_links_open_for_a_user_who_is_not_staff(demo):
    manage, _ = demo
    result = as_alice(manage)
    assert result["urls"], "the seed should give notifications links"
    # They pointed at /admin/...: a login wall for alice, who is not staff.
    assert all(not url.startswith("/admin/") for url in result["urls"]), result["urls"]
    assert set(result["urls"].values()) == {200}, result["urls"]


def test_the_home_page_says_how_to_see_a_live_toast(demo):
    manage, _ = demo
    home = as_alice(manage)["home"]
    assert "See a live toast" in home
    assert "second tab" in home
    # The demo runs the in-process broker: it says what that means for other processes, and the fix.
    assert "INBOX_REDIS_URL=redis://" in home


def test_seeding_stays_quiet_about_live_delivery(demo):
    _, seeded = demo
    assert "in-process broker" not in seeded

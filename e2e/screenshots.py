"""Screenshots of the inbox for the docs: ``python -m e2e.screenshots [--out docs/screenshots]``.

Starts the example site on a free port with a fresh, seeded database (the e2e suite's Site
helper), drives Debian's Chromium and writes PNGs of the list, detail, preview, bulk selection,
delete confirmation, persistent messages, a message's conversation, a rule's notification with
what changed, the demo's project page, the preferences page, the Snoozed tab, a group,
an unsubscribe confirmation and the empty state at 1280 and 390 px, light and dark, into
docs/screenshots/, and the light 1280 list into docs/screenshot.png (the README's picture).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from e2e import states
from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, Site, _login, site_env
from tests.services import free_port

SIZES = {"desktop": {"width": 1280, "height": 860}, "mobile": {"width": 390, "height": 844}}


def empty(page: Page, site: Site) -> None:
    # The demo's admin has no notifications: the inbox tab's empty state. (Last: it logs out.)
    page.context.clear_cookies()
    _login(page, site, "admin")
    page.goto(f"{site.url}/inbox/")


SHOTS: dict[str, Callable[[Page, Site], None]] = {
    # The rule first: it replaces its one notification each time, so every list shows the same rows.
    "rule": states.open_rule,
    "list": states.open_list, "detail": states.open_detail, "preview": states.open_preview,
    "bulk": states.open_selection, "confirm": states.open_confirm, "messages": states.open_messages,
    "conversation": states.open_conversation, "project": states.open_project,
    "preferences": states.open_preferences, "snoozed": states.open_snoozed, "group": states.open_group,
    "unsubscribe": states.open_unsubscribe,
    "empty": empty,
}


def capture(browser: Browser, site: Site, out: Path) -> list[Path]:
    written = []
    for size, viewport in SIZES.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=1)
            page = context.new_page()
            _login(page, site, "alice")
            for name, go in SHOTS.items():
                go(page, site)
                states.settle(page)
                path = out / f"{name}-{size}-{scheme}.png"
                page.screenshot(path=str(path), full_page=False)
                written.append(path)
                page.keyboard.press("Escape")
            context.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="inbox-shots-")
    site = Site("", site_env(workdir), free_port())
    site.url = f"http://127.0.0.1:{site.port}"
    try:
        site.manage("migrate", "--noinput", "-v0")
        site.manage("seed_demo", "--reset", "--count", "60")
        site.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                written = capture(browser, site, out)
            finally:
                browser.close()
        shutil.copyfile(out / "list-desktop-light.png", ROOT / "docs" / "screenshot.png")
        for path in written:
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        print("docs/screenshot.png")
    finally:
        site.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""axe on every page state the kit draws, at 1280 and 390 px, light and dark, with and without JS.

Zero violations of any impact (best practices included), and no colour-contrast result left
``incomplete``: axe files a contrast it cannot decide (text on a gradient, an overlapping
element) there, and the 1.x "Open" button's invisible text hid exactly there.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from e2e import states
from e2e.conftest import DESKTOP, PHONE, MakePage, Site


def axe(page: Page) -> dict[str, Any]:
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(200)  # transitions finished: axe measures what a reader sees
    return Axe().run(page).response


def _reason(node: dict[str, Any]) -> str:
    """Why axe could not decide: its message key (``bgOverlap``, ``pseudoContent``, ...)."""
    checks = node.get("any") or []
    return ", ".join(str((check.get("data") or {}).get("messageKey") or check.get("message")) for check in checks)


def problems(page: Page) -> list[str]:
    results = axe(page)
    found = [f"{v['id']} ({v.get('impact')}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
             for v in results["violations"]]
    found += [f"incomplete {v['id']}: {n['target']} ({_reason(n)})"
              for v in results["incomplete"] if v["id"] == "color-contrast" for n in v["nodes"][:3]]
    return found


def open_empty(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/inbox/?q=nothing-is-called-this")


STATES = {"list": states.open_list, "detail": states.open_detail, "preview": states.open_preview,
          "confirm": states.open_confirm, "selection": states.open_selection, "empty": open_empty,
          "messages": states.open_messages, "conversation": states.open_conversation,
          "rule": states.open_rule, "project": states.open_project, "preferences": states.open_preferences,
          "snoozed": states.open_snoozed, "group": states.open_group, "unsubscribe": states.open_unsubscribe}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_axe_with_javascript(make_page: MakePage, site: Site, viewport: dict[str, int], scheme: str):
    page = make_page(viewport, scheme)
    found = {}
    for name, go in STATES.items():
        go(page, site)
        if issues := problems(page):
            found[name] = issues
    assert found == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_axe_without_javascript(make_page: MakePage, site: Site, viewport: dict[str, int], scheme: str):
    page = make_page(viewport, scheme, page_scripts=False)
    assert page.evaluate("typeof window.htmx") == "undefined"  # the page's own scripts are blocked
    found = {}
    for name in ("list", "detail", "preview", "confirm", "empty", "messages", "conversation", "rule", "project",
                 "preferences", "snoozed", "group", "unsubscribe"):
        STATES[name](page, site)
        if issues := problems(page):
            found[name] = issues
    assert found == {}

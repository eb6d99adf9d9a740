"""The category registry: labels, order and icons for tabs and chips, from settings or code."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from inbox import categories, checks
from inbox.categories import Category


def test_declared_in_settings_in_display_order(settings):
    settings.INBOX = {"CATEGORIES": [
        {"slug": "security", "label": "Security", "icon": "shield", "order": 1, "locked": True},
        "deploys",
        {"slug": "comments", "label": "Comments", "order": 1},
    ]}
    assert [c.slug for c in categories.registry] == ["comments", "security", "deploys"]
    assert categories.get("security").locked and categories.get("security").icon == "shield"
    assert categories.get("deploys").label == "Deploys"
    assert "deploys" in categories.registry and "nope" not in categories.registry


def test_an_undeclared_slug_still_has_a_label():
    assert categories.get("build-failures").label == "Build failures"
    assert categories.get("build-failures").locked is False


def test_registered_in_code(settings):
    settings.INBOX = {"CATEGORIES": ["deploys"]}
    categories.register(Category("billing", "Billing & invoices", order=5))
    try:
        assert [c.slug for c in categories.registry] == ["billing", "deploys"]
        assert categories.get("billing").label == "Billing & invoices"
    finally:
        categories.registry.unregister("billing")


@pytest.mark.parametrize("value", ["comments", [{"label": "No slug"}], [{"slug": "x", "colour": "red"}], ["not a slug"], [42]])
def test_a_bad_setting_is_a_system_check_error(settings, value):
    settings.INBOX = {"CATEGORIES": value}
    assert "inbox.E007" in [problem.id for problem in checks.check_settings()]
    with pytest.raises(ImproperlyConfigured):
        categories.parse(value)

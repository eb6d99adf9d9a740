from __future__ import annotations

import pytest

from inbox.checks import check_base_template, check_settings


def ids(settings_value, settings) -> list[str]:
    settings.INBOX = settings_value
    return [message.id for message in check_settings()]


def test_defaults_pass(settings):
    assert ids({}, settings) == []


@pytest.mark.parametrize(
    "value, expected",
    [
        ("not a dict", ["inbox.E001"]),
        ({"UNKNOWN": 1}, ["inbox.W001"]),
        ({"PREPARATION_PIPELINE": "inbox.pipelines.read_implies_seen"}, ["inbox.E002"]),
        ({"RECIPIENTS_RESOLVER": ["inbox.recipients.default_resolver"]}, ["inbox.E002"]),
        ({"CHANGE_FLAG_PIPELINE": ["inbox.pipelines.nope"]}, ["inbox.E003"]),
        ({"BROKER": "no.such.module.Broker"}, ["inbox.E003"]),
        ({"RECIPIENTS_RESOLVER": "inbox.conf.DEFAULTS"}, ["inbox.E004"]),
        ({"BATCH_SIZE": 0}, ["inbox.E005"]),
        ({"BROKER_OPTIONS": []}, ["inbox.E006"]),
    ],
)
def test_misconfiguration_is_reported(settings, value, expected):
    assert ids(value, settings) == expected


# -- INBOX["BASE_TEMPLATE"]: the layout the inbox pages extend ---------------------------------------


def layout_ids(settings, tmp_path, base_template, files=None) -> list[str]:
    """The ids check_base_template reports, with ``files`` as a project's templates/ folder."""
    for name, text in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    settings.INBOX = {} if base_template is None else {"BASE_TEMPLATE": base_template}
    return [message.id for message in check_base_template()]


def test_the_kits_own_layout_passes(settings, tmp_path):
    assert layout_ids(settings, tmp_path, None) == []


def test_a_missing_layout_is_an_error_with_a_hint(settings, tmp_path):
    # The README used to say INBOX = {"BASE_TEMPLATE": "base.html"}: a 500 in a fresh project.
    settings.INBOX = {"BASE_TEMPLATE": "base.html"}
    [error] = check_base_template()
    assert error.id == "inbox.E030"
    assert "'base.html'" in error.msg
    assert "unset" in error.hint and "{% block content %}" in error.hint
    assert layout_ids(settings, tmp_path, "base.html", {"base.html": "{% block content %}{% endblock %}"}) == []


@pytest.mark.parametrize("value", ["", None, 3])
def test_a_layout_that_is_no_template_name_is_an_error(settings, tmp_path, value):
    settings.INBOX = {"BASE_TEMPLATE": value}
    assert [message.id for message in check_base_template()] == ["inbox.E030"]


def test_a_layout_that_does_not_compile_is_an_error(settings, tmp_path):
    assert layout_ids(settings, tmp_path, "broken.html", {"broken.html": "{% block content %}"}) == ["inbox.E031"]


def test_a_layout_without_a_content_block_is_a_warning(settings, tmp_path):
    files = {"bare.html": "{% load inbox %}<html><body>{% notification_badge %}</body></html>"}
    assert layout_ids(settings, tmp_path, "bare.html", files) == ["inbox.W030"]


@pytest.mark.parametrize(
    "files, name, expected",
    [
        # The block may come from a parent...
        ({"site.html": '{% extends "inbox/base.html" %}{% block title %}Acme{% endblock %}'}, "site.html", []),
        ({"a.html": '{% extends "b.html" %}', "b.html": "<main>{% block content %}{% endblock %}</main>"}, "a.html", []),
        # ...and is missing from the whole chain...
        ({"a.html": '{% extends "b.html" %}', "b.html": "<main></main>"}, "a.html", ["inbox.W030"]),
        # ...or cannot be known before rendering: no warning then.
        ({"dynamic.html": "{% extends layout %}"}, "dynamic.html", []),
    ],
)
def test_the_content_block_is_looked_for_up_the_extends_chain(settings, tmp_path, files, name, expected):
    assert layout_ids(settings, tmp_path, name, files) == expected


def test_the_check_runs_with_manage_py_check(settings):
    from django.core import checks

    settings.INBOX = {"BASE_TEMPLATE": "no/such/layout.html"}
    assert "inbox.E030" in [message.id for message in checks.run_checks(tags=[checks.Tags.templates])]


def test_the_postgresql_broker_on_a_database_it_cannot_reach_is_an_error(settings):
    # The SQLite pass: DATABASES["default"] is not PostgreSQL, so LISTEN/NOTIFY has no server.
    broker = "inbox.events.postgres.PostgresBroker"
    assert ids({"BROKER": broker, "BROKER_OPTIONS": {"database": "nowhere"}}, settings) == ["inbox.E009"]
    assert ids({"BROKER": broker, "BROKER_OPTIONS": {"conninfo": "postgresql://127.0.0.1/site"}}, settings) == []

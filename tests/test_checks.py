from __future__ import annotations

import pytest

from inbox.checks import check_settings


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

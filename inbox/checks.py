"""System checks for ``settings.INBOX`` (ids ``inbox.E00x`` / ``inbox.W00x``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from inbox import conf


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    value = getattr(settings, "INBOX", {})
    if not isinstance(value, dict):
        return [Error("settings.INBOX must be a dict.", hint=f"It is a {type(value).__name__}.", id="inbox.E001")]
    problems: list[Any] = []
    for name in sorted(set(value) - set(conf.DEFAULTS)):
        problems.append(
            Warning(
                f"Unknown setting INBOX[{name!r}].",
                hint=f"Known settings: {', '.join(sorted(conf.DEFAULTS))}.",
                id="inbox.W001",
            )
        )
    for name in conf.DOTTED_PATH_SETTINGS:
        paths = conf.get(name)
        listed = isinstance(paths, (list, tuple))
        if name.endswith("PIPELINE") != listed:
            kind = "a list of dotted paths" if name.endswith("PIPELINE") else "a dotted path"
            problems.append(Error(f"INBOX[{name!r}] must be {kind}.", id="inbox.E002"))
            continue
        for path in paths if listed else [paths]:
            try:
                target = import_string(path)
            except (ImportError, TypeError, ValueError) as error:
                problems.append(
                    Error(f"INBOX[{name!r}] names {path!r}, which cannot be imported.", hint=str(error), id="inbox.E003")
                )
                continue
            if not callable(target):
                problems.append(Error(f"INBOX[{name!r}] names {path!r}, which is not callable.", id="inbox.E004"))
    batch_size = conf.get("BATCH_SIZE")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        problems.append(Error("INBOX['BATCH_SIZE'] must be a positive integer.", id="inbox.E005"))
    if not isinstance(conf.get("BROKER_OPTIONS"), dict):
        problems.append(Error("INBOX['BROKER_OPTIONS'] must be a dict.", id="inbox.E006"))
    return problems


#: Apps the UI kit needs beside "inbox": htmx and its static files, and the partials loader.
REQUIRED_APPS = ("django_htmx", "template_partials")


@register(Tags.compatibility)
def check_ui_requirements(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from django.apps import apps

    problems: list[Any] = []
    missing = [name for name in REQUIRED_APPS if not apps.is_installed(name)]
    if missing:
        problems.append(
            Error(
                f"The inbox UI needs {', '.join(repr(name) for name in missing)} in INSTALLED_APPS.",
                hint='Add them, e.g. INSTALLED_APPS = [..., *inbox.INSTALLED_APPS] with "inbox" itself.',
                id="inbox.E010",
            )
        )
    if "django_htmx.middleware.HtmxMiddleware" not in settings.MIDDLEWARE:
        problems.append(
            Warning(
                "django_htmx.middleware.HtmxMiddleware is not in MIDDLEWARE.",
                hint="The inbox still works (it reads the HX-Request header), but request.htmx is unavailable.",
                id="inbox.W010",
            )
        )
    return problems

"""System checks for inbox.contrib.rules (ids ``inbox_rules.E0xx`` / ``W0xx``). None queries the database."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ValidationError

from inbox import conf

#: Cache backends that live inside one process: a rule edit never reaches the others through them.
LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


@register(Tags.caches)
def check_cache(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    alias = conf.get("RULES_CACHE")
    caches = getattr(settings, "CACHES", {}) or {"default": {"BACKEND": LOCAL_CACHES[0]}}
    if alias not in caches:
        return [Error(f"INBOX['RULES_CACHE'] names the cache {alias!r}, which settings.CACHES does not define.",
                      id="inbox_rules.E002")]
    problems: list[Any] = []
    seconds = conf.get("RULES_CACHE_SECONDS")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        problems.append(Error("INBOX['RULES_CACHE_SECONDS'] must be a number of seconds, 0 or more.",
                              id="inbox_rules.E003"))
    summary = conf.get("RULES_BATCH_SUMMARY")
    if not isinstance(summary, int) or isinstance(summary, bool) or summary < 0:
        problems.append(Error("INBOX['RULES_BATCH_SUMMARY'] must be an integer, 0 or more.", id="inbox_rules.E004"))
    if caches[alias].get("BACKEND") in LOCAL_CACHES and not settings.DEBUG:
        problems.append(Warning(
            f"The notification rules keep their version in the cache {alias!r}, which lives in one process: "
            "an edit in the admin reaches the other processes only when they restart.",
            hint="Point INBOX['RULES_CACHE'] at a cache the processes share (Redis, Memcached, the database cache).",
            id="inbox_rules.W001",
        ))
    return problems


@register()
def check_watches(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from inbox.contrib.rules import registry, rendering

    problems: list[Any] = []
    for rule in registry.watches():
        try:
            model = apps.get_model(rule.model)
        except (LookupError, ValueError):
            problems.append(Error(f"watch() rule {rule.name!r} names the model {rule.model!r}, which is not installed.",
                                  id="inbox_rules.E001"))
            continue
        names = {field.name for field in model._meta.concrete_fields}
        unknown = [name for name in (*(rule.fields or ()), *rule.exclude) if name not in names]
        if unknown:
            problems.append(Error(f"watch() rule {rule.name!r}: {model._meta.label} has no field {', '.join(unknown)}.",
                                  id="inbox_rules.E001"))
        try:
            registry.get_receivers(rule.receivers)
        except KeyError:
            problems.append(Error(f"watch() rule {rule.name!r} names the receivers {rule.receivers!r}, which no "
                                  "@receivers(...) registers.", id="inbox_rules.E001"))
        for text in (rule.message, rule.url):
            if text:
                try:
                    rendering.validate_template(text)
                except ValidationError as error:
                    problems.append(Error(f"watch() rule {rule.name!r}: {' '.join(error.messages)}",
                                          id="inbox_rules.E001"))
    return problems

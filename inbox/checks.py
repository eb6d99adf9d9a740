"""System checks for ``settings.INBOX`` and what the kit needs from the site (ids ``inbox.E0xx`` / ``inbox.W0xx``)."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from inbox import categories, conf


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
    else:
        problems += _postgres_broker_problems()
    max_age = conf.get("UNSUBSCRIBE_MAX_AGE")
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 1:
        problems.append(Error("INBOX['UNSUBSCRIBE_MAX_AGE'] must be a positive integer (seconds).", id="inbox.E008"))
    try:
        categories.parse(conf.get("CATEGORIES"))
    except ImproperlyConfigured as error:
        problems.append(Error(str(error), hint="See docs/core.md, \"Categories\".", id="inbox.E007"))
    return problems


def _postgres_broker_problems() -> list[Any]:
    """inbox.E009: the PostgreSQL broker needs a PostgreSQL server to reach (a broker path that
    does not import is E003's to report)."""
    try:
        broker = import_string(conf.get("BROKER"))
    except (ImportError, TypeError, ValueError):
        return []
    # A PostgresBroker subclass has imported its module; any other broker must not need psycopg.
    module = sys.modules.get("inbox.events.postgres")
    if module is not None and isinstance(broker, type) and issubclass(broker, module.PostgresBroker):
        return list(module.configuration_errors(conf.get("BROKER_OPTIONS")))
    return []


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
                hint="The inbox pages still work without it (they fall back to plain responses), but the site loses "
                "request.htmx; add it after the session and auth middleware.",
                id="inbox.W010",
            )
        )
    return problems


@register(Tags.templates)
def check_base_template(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The layout the inbox pages extend must load and define ``{% block content %}``.

    A missing one is otherwise a 500 on the first visit (TemplateDoesNotExist), and a layout
    without the block shows a page with only a bell: both seen by people following a README.
    """
    from django.template import TemplateDoesNotExist, TemplateSyntaxError
    from django.template.loader import get_template

    name = conf.get("BASE_TEMPLATE")
    if not isinstance(name, str) or not name:
        return [Error("INBOX['BASE_TEMPLATE'] must be a template name.", hint=_BASE_TEMPLATE_HINT, id="inbox.E030")]
    try:
        template = get_template(name)
    except TemplateDoesNotExist:
        return [
            Error(
                f"INBOX['BASE_TEMPLATE'] names {name!r}, which no template loader finds.",
                hint=_BASE_TEMPLATE_HINT,
                id="inbox.E030",
            )
        ]
    except TemplateSyntaxError as error:
        return [
            Error(f"INBOX['BASE_TEMPLATE'] names {name!r}, which does not compile.", hint=str(error), id="inbox.E031")
        ]
    if _defines_block(template, "content") is False:
        return [
            Warning(
                f"INBOX['BASE_TEMPLATE'] names {name!r}, which defines no {{% block content %}}.",
                hint="The inbox pages fill that block: without it they show the layout alone. Add "
                "{% block content %}{% endblock %} where the page's content belongs.",
                id="inbox.W030",
            )
        ]
    return []


_BASE_TEMPLATE_HINT = (
    "Leave BASE_TEMPLATE unset to use the kit's own layout (inbox/base.html), or name a template of "
    "your site (in a TEMPLATES 'DIRS' folder or an app's templates/) that defines {% block content %} and "
    "uses {% load inbox %}{% inbox_head %}, {% notification_badge %} and {% notification_toasts %}."
)


def _defines_block(template: Any, block: str, depth: int = 0) -> bool | None:
    """Whether a Django template or one of its parents defines ``block``; None when that cannot be
    known without rendering (another template engine, or ``{% extends some_variable %}``)."""
    from django.template import TemplateDoesNotExist, TemplateSyntaxError
    from django.template.base import FilterExpression, NodeList
    from django.template.loader import get_template
    from django.template.loader_tags import BlockNode, ExtendsNode

    compiled = getattr(template, "template", template)  # the backend's wrapper, or a Template itself
    nodelist = getattr(compiled, "nodelist", None)
    if not isinstance(nodelist, NodeList) or depth > 10:
        return None
    if any(isinstance(node, BlockNode) and node.name == block for node in nodelist.get_nodes_by_type(BlockNode)):
        return True
    for extends in nodelist.get_nodes_by_type(ExtendsNode):
        parent = extends.parent_name if isinstance(extends, ExtendsNode) else None
        literal = parent.var if isinstance(parent, FilterExpression) and not parent.filters else None
        if not isinstance(literal, str):
            return None  # {% extends variable %}: only known at render time
        try:
            return _defines_block(get_template(literal), block, depth + 1)
        except (TemplateDoesNotExist, TemplateSyntaxError):
            return None  # rendering fails loudly anyway; this check is about the block
    return False


@register(Tags.database)
def check_database(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Any]:
    """The kit writes a few statements by hand (inbox.dialect): refuse a database it cannot serve.

    Runs with ``migrate`` and ``check --database``, when Django may connect.
    """
    from django.db import connections, router

    from inbox import dialect
    from inbox.models import Stats

    problems: list[Any] = []
    using = dialect.alias()
    if router.db_for_write(Stats) != using:
        problems.append(
            Error(
                "inbox.Notification and inbox.Stats are routed to different databases.",
                hint="Route every model of the 'inbox' app to the same database: Stats are updated "
                "in the same transaction as the notifications they count.",
                id="inbox.E020",
            )
        )
    if databases is not None and using not in databases:
        return problems
    connection = connections[using]
    vendor = dialect.vendor(connection)
    least = dialect.SUPPORTED.get(vendor)
    if least is None:
        problems.append(
            Error(
                f"The inbox cannot use the {connection.display_name} database {using!r}.",
                hint="Supported: SQLite 3.35+, PostgreSQL 13+, MariaDB 10.6+, MySQL 8.0.4+.",
                id="inbox.E021",
            )
        )
        return problems
    version = _server_version(connection, vendor)
    if version is not None and version < least:
        problems.append(
            Error(
                f"The inbox needs {connection.display_name} {'.'.join(map(str, least))} or later; "
                f"database {using!r} runs {'.'.join(map(str, version))}.",
                hint="It relies on JSON table functions, upserts and INSERT ... RETURNING (see inbox.dialect).",
                id="inbox.E022",
            )
        )
    return problems


def _server_version(connection: Any, vendor: str) -> tuple[int, ...] | None:
    if vendor == "sqlite":
        import sqlite3

        return tuple(sqlite3.sqlite_version_info)
    if vendor == "postgresql":
        connection.ensure_connection()
        number = connection.pg_version  # e.g. 150004
        return (number // 10000, number // 100 % 100)
    if vendor in ("mysql", "mariadb"):
        return tuple(connection.mysql_version)
    return None


_CHANNELS_HINT = "See docs/channels.md, \"Settings\"."


@register(Tags.compatibility)
def check_channels(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Every configured provider and every channel a category sends through can deliver."""
    from inbox.channels import Channel, registry, site

    configured = conf.get("PROVIDERS")
    if not isinstance(configured, dict) or not all(isinstance(v, dict) for v in configured.values()):
        return [Error("INBOX['PROVIDERS'] must be a dict of dicts: {provider name: its options}.",
                      hint=_CHANNELS_HINT, id="inbox.E040")]
    problems: list[Any] = []
    for name in configured:
        for problem in registry.problems(name):
            problems.append(Error(f"INBOX['PROVIDERS'][{name!r}]: {problem}.", hint=_CHANNELS_HINT, id="inbox.E040"))
    for category in categories.registry:
        for channel in category.default_channels:
            try:
                registry.validate([channel])
            except Exception as error:
                problems.append(Error(f"Category {category.slug!r} sends through {channel!r}: {error}",
                                      hint=_CHANNELS_HINT, id="inbox.E041"))
    outside = {"email", "webhook", "slack"} & (set(configured) | {
        provider for category in categories.registry for channel in category.default_channels
        if channel in Channel.registry for provider in Channel.registry[channel].providers
    })
    if outside and not site.can_build_links():
        problems.append(Error(
            f"{', '.join(sorted(outside))} need absolute links: set INBOX['SITE_URL'] (\"https://example.com\") "
            "or install django.contrib.sites.", hint=_CHANNELS_HINT, id="inbox.E042"))
    try:
        from inbox.channels import tasks

        tasks.backend()
    except Exception as error:
        problems.append(Error(f"INBOX['TASK_BACKEND'] = {conf.get('TASK_BACKEND')!r} is not a usable task backend.",
                              hint=f"{error}. Define it in settings.TASKS.", id="inbox.E043"))
    return problems

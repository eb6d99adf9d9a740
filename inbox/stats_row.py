"""One recipient's Stats row as a model instance, without the ORM's query compilation.

``Stats.objects.recipients([user]).first()`` is how code written for django-notifications reads
counts. Through the ORM it costs about ten times the badge's fixed statement
(``inbox.stats.counts_for``), nearly all of it building and compiling the query, not running it.
An unmodified ``recipients([one])`` queryset asks for exactly one row by its unique key, so
``first()`` runs a fixed statement and builds the instance as the ORM would (``Model.from_db``
after the same database converters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections, models
from django.db.models.query import ModelIterable

from inbox.recipients import Key

#: Per (model, database alias): the statement and, per column, the converters the ORM would run.
_PLANS: dict[tuple[type[models.Model], str], tuple[str, list[str], list[tuple[list[Callable[..., Any]], Any]]]] = {}


def is_unmodified(queryset: models.QuerySet) -> bool:
    """Whether ``queryset`` is still ``Model.objects.all()`` (on any database): no filter, order,
    slice, lock, annotation, deferral or other output asked for."""
    query = queryset.query
    return (
        not query.where
        and not query.order_by
        and not query.extra_order_by
        and query.default_ordering
        and query.low_mark == 0
        and query.high_mark is None
        and not query.distinct
        and not query.select_for_update
        and not query.annotations
        and not query.extra
        and not query.select_related
        and not query.combinator
        and query.deferred_loading == (frozenset(), True)
        and getattr(queryset, "_fields", None) is None
        and getattr(queryset, "_iterable_class", None) is ModelIterable
        and not getattr(queryset, "_prefetch_related_lookups", ())
    )


def read(model: type[models.Model], key: Key, using: str) -> Any:
    """The row of ``key`` (the model's unique recipient) as an instance, or None."""
    connection = connections[using]
    plan = _PLANS.get((model, using))
    if plan is None:
        plan = _PLANS[(model, using)] = _plan(model, connection)
    sql, names, converters = plan
    with connection.cursor() as cursor:
        cursor.execute(sql, key)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, (functions, expression) in enumerate(converters):
        for function in functions:
            values[index] = function(values[index], expression, connection)
    return model.from_db(using, names, values)


def _plan(model: type[models.Model], connection: Any) -> tuple[str, list[str], list[tuple[list[Any], Any]]]:
    quote = connection.ops.quote_name
    table = model._meta.db_table
    fields = list(model._meta.concrete_fields)
    sql = (
        f"SELECT {', '.join(quote(field.column) for field in fields)} FROM {quote(table)} "
        f"WHERE {quote('recipient_type_id')} = %s AND {quote('recipient_id')} = %s"
    )
    converters = []
    for field in fields:
        column = field.get_col(table)
        # The compiler's order: the backend's converters, then the field's own (SQLCompiler.get_converters).
        converters.append((connection.ops.get_db_converters(column) + column.get_db_converters(connection), column))
    return sql, [field.attname for field in fields], converters

"""Every piece of vendor-specific SQL the kit writes by hand, for SQLite, PostgreSQL and MariaDB/MySQL.

The core writes a few statements the ORM cannot express cheaply: many rows passed as one JSON
parameter, upserts that *add* to counters, and INSERT ... SELECT ... RETURNING. Each has a
spelling per vendor here and nowhere else. Callers pass the connection of the database that
routers name for the inbox's models (:func:`alias`), never Django's default connection.

Binding thousands of parameters costs more than the insert itself on PostgreSQL (each is
rendered client-side), so rows travel as one JSON document that the server unpacks in C:
``jsonb_array_elements`` on PostgreSQL, ``json_each`` on SQLite, ``JSON_TABLE`` on MariaDB/MySQL.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql.compiler import SQLCompiler

#: Column kinds understood by :func:`rows_source`.
KINDS = ("int", "text", "uuid")
_PG_TYPES = {"int": "bigint", "text": "text", "uuid": "uuid"}
_MYSQL_TYPES = {"int": "BIGINT", "text": "LONGTEXT", "uuid": "CHAR(36)"}
#: Vendors (and the least versions) the hand-written SQL supports; see inbox.checks.
SUPPORTED = {"sqlite": (3, 35), "postgresql": (13,), "mysql": (8, 0, 4), "mariadb": (10, 6)}


def alias() -> str:
    """The database that holds the inbox's tables: where routers send writes of Notification."""
    from inbox.models import Notification

    return router.db_for_write(Notification) or "default"


def connection_for(using: str | None = None) -> BaseDatabaseWrapper:
    return connections[using or alias()]


def vendor(connection: BaseDatabaseWrapper) -> str:
    """"sqlite", "postgresql", "mysql" or "mariadb" (Django calls both of the last "mysql")."""
    if connection.vendor == "mysql" and getattr(connection, "mysql_is_mariadb", False):
        return "mariadb"
    return connection.vendor


def is_mysql_family(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "mysql"


# -- Many rows in one parameter ------------------------------------------------------------------


def rows_source(connection: BaseDatabaseWrapper, kinds: Sequence[str]) -> str:
    """SQL for a row source with columns ``c0``, ``c1``…, read from one ``%s`` JSON array of arrays."""
    if connection.vendor == "postgresql":
        columns = ", ".join(f"(e ->> {i})::{_PG_TYPES[kind]} AS c{i}" for i, kind in enumerate(kinds))
        return f"SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS e"
    if is_mysql_family(connection):
        columns = ", ".join(f"c{i} {_MYSQL_TYPES[kind]} PATH '$[{i}]'" for i, kind in enumerate(kinds))
        return f"SELECT * FROM JSON_TABLE(%s, '$[*]' COLUMNS ({columns})) AS jt"
    columns = ", ".join(f"json_extract(value, '$[{i}]') AS c{i}" for i in range(len(kinds)))
    return f"SELECT {columns} FROM json_each(%s)"


def encode_rows(rows: Iterable[Sequence[Any]]) -> str:
    return json.dumps(list(rows), separators=(",", ":"))


def lock_name(connection: BaseDatabaseWrapper, name: str, table: str) -> bool:
    """Hold a lock called ``name`` until the transaction ends, where the database has one; False
    where it has none (MariaDB/MySQL: its named locks outlive transactions), so the caller locks rows.

    PostgreSQL: a transaction-level advisory lock on a 64-bit hash of the name. SQLite runs one
    writer at a time: any write statement (here one that changes nothing in ``table``) takes the
    database's write lock now, before the caller reads what it will write from.
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            number = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [number])
            return True
        if connection.vendor == "sqlite":
            cursor.execute(f"UPDATE {quote(table)} SET {quote('id')} = {quote('id')} WHERE 1 = 0")
            return True
    return False


def recipient_keys_join(
    connection: BaseDatabaseWrapper, alias: str, keys: Sequence[tuple[int, str]]
) -> tuple[str, str, list[Any]]:
    """A JOIN and a WHERE condition that keep the rows of table ``alias`` whose (recipient_type_id,
    recipient_id) is one of ``keys``, and their parameters (JOIN's first): one query for any number.

    PostgreSQL gets ``recipient_id = ANY(array)`` per type: it knows the array's length, so a table
    whose statistics are stale (a few rows at the last ANALYZE) is not read once per key by a
    nested loop over a JSON function it guesses holds 100 rows. The others join the keys as a
    JSON row source, which their planners drive from the table's (type, id) index.
    """
    quote = connection.ops.quote_name
    type_column, id_column = f"{alias}.{quote('recipient_type_id')}", f"{alias}.{quote('recipient_id')}"
    if connection.vendor == "postgresql":
        by_type: dict[int, list[str]] = {}
        for type_id, object_id in keys:
            by_type.setdefault(type_id, []).append(object_id)
        condition = " OR ".join([f"({type_column} = %s AND {id_column} = ANY(%s))"] * len(by_type)) or "1 = 0"
        return "", f"({condition})", [value for item in by_type.items() for value in item]
    join = f"JOIN ({rows_source(connection, ['int', 'text'])}) k ON {type_column} = k.c0 AND {id_column} = k.c1"
    return join, "1 = 1", [encode_rows(keys)]


# -- Upserts that add to counters ----------------------------------------------------------------


def upsert_suffix(
    connection: BaseDatabaseWrapper,
    table: str,
    keys: Sequence[str],
    added: Sequence[str],
    replaced: Sequence[str] = (),
    *,
    create_only: bool = False,
) -> str:
    """What follows ``INSERT INTO table (...) SELECT ... FROM ... WHERE 1 = 1`` so that a row whose
    ``keys`` exist already gets ``added`` columns summed and ``replaced`` columns overwritten.

    With ``create_only``, existing rows are left untouched (on PostgreSQL also unlocked, so a later
    ``SELECT ... SKIP LOCKED`` can still skip those another transaction holds).
    """
    quote = connection.ops.quote_name
    if is_mysql_family(connection):
        if create_only:
            first = quote(keys[0])
            return f"ON DUPLICATE KEY UPDATE {first} = {first}"
        sets = [f"{quote(c)} = {quote(c)} + VALUES({quote(c)})" for c in added]
        sets += [f"{quote(c)} = VALUES({quote(c)})" for c in replaced]
        return f"ON DUPLICATE KEY UPDATE {', '.join(sets)}"
    target = f"ON CONFLICT ({', '.join(map(quote, keys))})"
    if create_only:
        return f"{target} DO NOTHING"
    table_name = quote(table)
    sets = [f"{quote(c)} = {table_name}.{quote(c)} + EXCLUDED.{quote(c)}" for c in added]
    sets += [f"{quote(c)} = EXCLUDED.{quote(c)}" for c in replaced]
    return f"{target} DO UPDATE SET {', '.join(sets)}"


def key_order(connection: BaseDatabaseWrapper, type_column: str, id_column: str) -> str:
    """An ORDER BY that writes Stats rows in Python's order of their (type, id) keys, the order
    every writer locks them in, so two transactions never wait on each other in a cycle.

    PostgreSQL's "C" collation compares bytes, as Python compares strings. SQLite runs one writer
    at a time: there is no order to keep. (MariaDB/MySQL count sends' Stats from Python.)
    """
    if connection.vendor == "postgresql":
        return f'ORDER BY {type_column}, {id_column} COLLATE "C"'
    if connection.vendor == "sqlite":
        return ""
    raise NotImplementedError(f"No Stats key order for {vendor(connection)}.")


# -- INSERT ... RETURNING and new ids ------------------------------------------------------------


def can_return(connection: BaseDatabaseWrapper) -> bool:
    """Whether INSERT ... SELECT can hand back the new rows (not on MySQL)."""
    return bool(connection.features.can_return_rows_from_bulk_insert)


def can_chain_writes(connection: BaseDatabaseWrapper) -> bool:
    """Whether one statement can insert rows and write more rows from what it inserted (PostgreSQL:
    a data-modifying ``WITH``)."""
    return connection.vendor == "postgresql"


def returning(connection: BaseDatabaseWrapper, columns: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    return f"RETURNING {', '.join(map(quote, columns))}" if can_return(connection) else ""


def new_uid_sql(connection: BaseDatabaseWrapper) -> str | None:
    """SQL for a random uuid as Django stores UUIDField here; None where Python must make them."""
    if connection.vendor == "postgresql":
        return "gen_random_uuid()"
    if connection.vendor == "sqlite":
        return "lower(hex(randomblob(16)))"  # Django stores UUIDs in SQLite as 32 hex digits
    # MariaDB/MySQL: no random UUID function whose output both column types accept (MariaDB's uuid
    # type refuses non-RFC values; UUID() is time-based and exposes the server), so Python makes them.
    return None


def spell_uid(connection: BaseDatabaseWrapper, uid: uuid.UUID) -> str:
    """``uid`` as the database stores it and as RETURNING hands it back (``str()`` of that)."""
    from inbox.models import Notification

    prepared = Notification._meta.get_field("uid").get_db_prep_value(uid, connection)
    return str(prepared)


class PkText(models.Func):
    """An integer primary key as text, comparable with the CharField that stores recipient ids.

    On MariaDB/MySQL a plain CAST takes the connection's collation, which may differ from the
    column's ("Illegal mix of collations"); an explicit binary collation wins the comparison,
    and digits compare the same in any collation.
    """

    function = "CAST"
    template = "%(function)s(%(expressions)s AS text)"
    output_field = models.CharField()

    def as_mysql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any) -> Any:
        template = "CAST(%(expressions)s AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin"
        return self.as_sql(compiler, connection, template=template, **extra)


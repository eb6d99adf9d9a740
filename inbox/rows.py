"""Many rows as one JSON parameter: the database unpacks them, Python binds one value.

Binding thousands of parameters costs more than the insert itself on PostgreSQL
(each is rendered client-side); one JSON document is parsed in C by the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

#: Column kinds understood by :func:`source`.
_PG_TYPES = {"int": "bigint", "text": "text", "uuid": "uuid"}


def source(kinds: Sequence[str]) -> str:
    """SQL for a row source with columns ``r.c0``, ``r.c1``…, read from one ``%s`` JSON array of arrays."""
    if connection.vendor == "postgresql":
        columns = ", ".join(f"(e ->> {i})::{_PG_TYPES[kind]} AS c{i}" for i, kind in enumerate(kinds))
        return f"SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS e"
    columns = ", ".join(f"json_extract(value, '$[{i}]') AS c{i}" for i in range(len(kinds)))
    return f"SELECT {columns} FROM json_each(%s)"


def encode(rows: Iterable[Sequence[Any]]) -> str:
    return json.dumps(list(rows), separators=(",", ":"))

"""A site's own flags move from the bits of ``Notification.custom_flags`` to rows of NotificationFlag.

The bits (5-62) are copied in bounded batches of notifications, each one INSERT ... SELECT that
the database runs by itself (no row passes through Python), then the column goes. Going back
copies the rows into bits again; flag values that no bit can hold (outside 5-62) are lost.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

#: The bits the old column could hold.
BITS = range(5, 63)
#: Notifications with custom flags per INSERT ... SELECT.
BATCH = 10_000


def _names(apps: Any, schema_editor: Any) -> tuple[Any, str, str, Any]:
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    notification = quote(apps.get_model("inbox", "Notification")._meta.db_table)
    flag = quote(apps.get_model("inbox", "NotificationFlag")._meta.db_table)
    return connection, notification, flag, quote


def bits_to_rows(apps: Any, schema_editor: Any) -> None:
    connection, notification, flag, quote = _names(apps, schema_editor)
    pk, column = quote("id"), quote("custom_flags")
    bits = " UNION ALL ".join(f"SELECT {bit} AS v, {1 << bit} AS m" for bit in BITS)
    last = -(2**63)
    with connection.cursor() as cursor:
        while True:
            # The upper id of the next BATCH flagged notifications (keyset paging on the primary key).
            cursor.execute(
                f"SELECT MAX(t.{pk}) FROM (SELECT {pk} FROM {notification} WHERE {column} <> 0 AND {pk} > %s "
                f"ORDER BY {pk} LIMIT {BATCH}) t",
                [last],
            )
            upper = cursor.fetchone()[0]
            if upper is None:
                return
            cursor.execute(
                f"INSERT INTO {flag} ({quote('notification_id')}, {quote('value')}) "
                f"SELECT n.{pk}, b.v FROM {notification} n JOIN ({bits}) b ON (n.{column} & b.m) <> 0 "
                f"WHERE n.{column} <> 0 AND n.{pk} > %s AND n.{pk} <= %s",
                [last, upper],
            )
            last = upper


def rows_to_bits(apps: Any, schema_editor: Any) -> None:
    connection, notification, flag, quote = _names(apps, schema_editor)
    with connection.cursor() as cursor:
        for bit in BITS:
            cursor.execute(
                f"UPDATE {notification} SET {quote('custom_flags')} = {quote('custom_flags')} + %s "
                f"WHERE {quote('id')} IN (SELECT {quote('notification_id')} FROM {flag} WHERE {quote('value')} = %s)",
                [1 << bit, bit],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0002_delivery"),
    ]

    operations = [
        migrations.CreateModel(
            name="NotificationFlag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.IntegerField(verbose_name="value")),
                (
                    "notification",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="custom_flag_rows",
                        to="inbox.notification",
                        verbose_name="notification",
                    ),
                ),
            ],
            options={
                "verbose_name": "notification flag",
                "verbose_name_plural": "notification flags",
                "indexes": [models.Index(fields=["value", "notification"], name="inbox_flag_value")],
                "constraints": [models.UniqueConstraint(fields=("notification", "value"), name="inbox_flag_unique")],
            },
        ),
        migrations.RunPython(bits_to_rows, rows_to_bits, elidable=True, hints={"model_name": "notificationflag"}),
        migrations.RemoveField(
            model_name="notification",
            name="custom_flags",
        ),
    ]

"""The test harness itself: the second database alias, the MariaDB pass's settings, tests.services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, router
from django.test import override_settings

from inbox.models import Notification
from tests import services


class InboxToOther:
    """Sends the inbox app's models to the "other" database, everything else to "default"."""

    def db_for_read(self, model, **hints):
        return "other" if model._meta.app_label == "inbox" else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True


@pytest.mark.django_db(databases=["default", "other"])
def test_the_other_alias_is_a_separate_migrated_database():
    default, other = connections["default"], connections["other"]
    assert default.vendor == other.vendor
    if default.vendor != "sqlite":
        assert default.settings_dict["NAME"] != other.settings_dict["NAME"]
    # Migrations ran there too, and rows written there stay there.
    assert Notification.objects.using("other").count() == 0
    User.objects.db_manager("other").create_user("only-in-other")
    assert User.objects.using("other").filter(username="only-in-other").exists()
    assert not User.objects.filter(username="only-in-other").exists()


@pytest.mark.django_db(databases=["default", "other"])
def test_a_router_can_send_the_inbox_models_to_the_other_alias():
    with override_settings(DATABASE_ROUTERS=[f"{__name__}.InboxToOther"]):
        assert router.db_for_write(Notification) == "other"
        assert router.db_for_read(Notification) == "other"
        assert router.db_for_write(User) == "default"
    assert router.db_for_write(Notification) == "default"


@pytest.mark.mariadb
@pytest.mark.django_db
def test_the_mariadb_pass_uses_the_recommended_connection_settings():
    assert connection.vendor == "mysql" and connection.mysql_is_mariadb
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@character_set_connection, @@tx_isolation, DATABASE()")
        charset, isolation, name = cursor.fetchone()
        cursor.execute(
            "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata"
            " WHERE schema_name = DATABASE()"
        )
        db_charset, db_collation = cursor.fetchone()
    assert charset == "utf8mb4"
    assert isolation == "READ-COMMITTED"
    assert name.startswith("test_")
    assert (db_charset, db_collation) == ("utf8mb4", "utf8mb4_unicode_ci")


@pytest.mark.mariadb
@pytest.mark.django_db
def test_the_mariadb_pass_has_time_zone_tables():
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONVERT_TZ('2024-01-01 12:00:00', 'UTC', 'Europe/Paris')")
        assert str(cursor.fetchone()[0]) == "2024-01-01 13:00:00"


def test_services_refuses_an_unknown_service(capsys):
    assert services.main(["mongodb", "--", "true"]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["postgres", "mariadb"])
def test_services_fails_loudly_when_a_server_cannot_start(name, monkeypatch, capsys):
    def missing(binary, patterns):
        raise services.ServiceError(f"{binary} not found")

    monkeypatch.setattr(services, "_find_binary", missing)
    assert services.main([name, "--", "true"]) == 3
    err = capsys.readouterr().err
    assert "ERROR: could not start" in err and "not found" in err

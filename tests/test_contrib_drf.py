"""inbox.contrib.drf: every endpoint, scoped to the requester, with a 400 for every bad input."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils import timezone
from rest_framework import serializers as drf_serializers
from rest_framework.authtoken.models import Token
from rest_framework.pagination import PageNumberPagination
from rest_framework.test import APIClient
from rest_framework_simplejwt.views import TokenObtainPairView

from inbox.contrib.drf.serializers import FIELD_SERIALIZERS
from inbox.contrib.drf.urls import make_urlpatterns
from inbox.contrib.drf.views import NotificationListView
from inbox.flags import Flag
from inbox.models import Notification, Stats
from inbox.services import notifier
from inbox.stats import recount
from tests.testapp.models import Article, Document, Tag, Team


class ShortListView(NotificationListView):
    """A site's own list view, swapped in through make_urlpatterns."""

    def get(self, request: Any) -> Any:
        response = super().get(request)
        response["X-Short"] = "yes"
        return response


urlpatterns = [
    path("inbox/", include("inbox.urls")),
    path("api/inbox/", include("inbox.contrib.drf.urls")),
    path("custom/", include((make_urlpatterns(notifications_list=ShortListView), "custom_api"))),
    path("api/token/", TokenObtainPairView.as_view()),
]

pytestmark = [pytest.mark.urls("tests.test_contrib_drf"), pytest.mark.django_db]

API = "/api/inbox/"


@pytest.fixture
def api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def send(text: str, who: list[User], **kwargs: Any) -> Notification:
    return notifier.send(text, who, **kwargs)[0]


def uids(response: Any) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


def stats_match() -> None:
    """Stats agree with a fresh count after every change the API made."""
    for row in Stats.objects.all():
        fresh = recount([(row.recipient_type_id, row.recipient_id)]).get((row.recipient_type_id, row.recipient_id))
        assert fresh is not None or row.total == 0
        if fresh:
            assert (row.total, row.unread, row.read, row.custom) == (
                fresh["total"], fresh["unread"], fresh["read"], fresh["custom"]
            )


# -- flags/list/ ------------------------------------------------------------------------------------


def test_flags_list_has_the_built_ins_and_a_sites_own(api: APIClient, priority_flags: Any) -> None:
    response = api.get(API + "flags/list/")
    assert response.status_code == 200
    by_value = {row["value"]: row for row in response.json()}
    assert by_value[Flag.READ]["name"] == "READ"
    assert by_value[priority_flags.URGENT]["name"] == "URGENT"
    assert set(by_value) == {1, 2, 3, 4, priority_flags.URGENT, priority_flags.PINNED}


# -- notifications/list/ ----------------------------------------------------------------------------


def test_list_is_newest_first_and_only_the_requesters(api: APIClient, alice: User, bob: User) -> None:
    now = timezone.now()
    first = send("first", [alice], now=now - timedelta(minutes=2))
    second = send("second", [alice], now=now - timedelta(minutes=1))
    send("bob's", [bob])
    response = api.get(API + "notifications/list/")
    assert response.status_code == 200
    assert uids(response) == [str(second.uid), str(first.uid)]
    row = response.json()["results"][0]
    assert row["message"] == "second"
    assert row["recipient"]["type"] == "auth.user" and row["recipient"]["id"] == str(alice.pk)


def test_list_hides_scheduled_and_expired_notifications(api: APIClient, alice: User) -> None:
    now = timezone.now()
    send("later", [alice], send_at=now + timedelta(hours=1))
    gone = send("gone", [alice], now=now - timedelta(hours=2), expires_at=now - timedelta(hours=1))
    shown = send("shown", [alice])
    assert gone.pk
    assert uids(api.get(API + "notifications/list/")) == [str(shown.uid)]


def test_someone_elses_uid_in_a_filter_selects_nothing(api: APIClient, alice: User, bob: User) -> None:
    theirs = send("bob's", [bob])
    response = api.get(API + "notifications/list/", {"ids": str(theirs.uid)})
    assert response.status_code == 200
    assert uids(response) == []


def test_list_pages_by_cursor_without_counting(api: APIClient, alice: User) -> None:
    now = timezone.now()
    sent = [send(f"n{i}", [alice], now=now - timedelta(seconds=i)) for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        first = api.get(API + "notifications/list/", {"page_size": 2})
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    assert uids(first) == [str(sent[0].uid), str(sent[1].uid)]
    assert "count" not in first.json()
    second = api.get(first.json()["next"])
    assert uids(second) == [str(sent[2].uid), str(sent[3].uid)]


@pytest.mark.parametrize("query", [{"cursor": "not-a-cursor"}, {"cursor": "cD1nYXJiYWdl"},  # p=garbage
                                   {"cursor": "bz0xJnI9MSZwPXg="}, {"page_size": "0"}, {"page_size": "many"},
                                   {"page_size": "101"}])
def test_bad_paging_is_a_400_naming_it(api: APIClient, query: dict[str, str]) -> None:
    response = api.get(API + "notifications/list/", query)
    assert response.status_code == 400
    assert set(response.json()) == set(query)


BAD_FILTERS = [
    ("ids", "7"),
    ("actors", "auth.user"),
    ("actors", "nosuch.model~1"),
    ("actions", "auth~1"),
    ("targets", "~1"),
    ("actor_types", "auth"),
    ("action_types", "nosuch.model"),
    ("target_types", "auth.nosuch"),
    ("sent_at_before", "yesterday"),
    ("sent_at_after", "2026-13-40T00:00"),
    ("sent_at_before", "0001-01-01T00:00:00+05:00"),  # no UTC value
    ("sent_at_after", "9999-12-31T23:59:59-05:00"),
    ("actors", "auth.user~\x00"),
    ("targets", "auth.user~1\x07"),
    ("is_sent", "maybe"),
    ("is_root", "2"),
    ("parents", "not-a-uid"),
    ("flags", "999999"),
    ("flags", "read"),
]


@pytest.mark.parametrize(("name", "value"), BAD_FILTERS)
def test_every_bad_filter_is_a_400_naming_the_parameter(api: APIClient, name: str, value: str) -> None:
    response = api.get(API + "notifications/list/", {name: value})
    assert response.status_code == 400
    assert list(response.json()) == [name]
    assert response.json()[name][0]


def test_flags_filter_is_and_of_ors(api: APIClient, alice: User, priority_flags: Any) -> None:
    urgent_read = send("urgent read", [alice], flags=[priority_flags.URGENT, Flag.READ])
    send("urgent", [alice], flags=[priority_flags.URGENT])
    pinned_starred = send("pinned starred", [alice], flags=[priority_flags.PINNED, Flag.STARRED])
    response = api.get(
        API + "notifications/list/",
        {"flags": [f"{priority_flags.URGENT},{priority_flags.PINNED}", f"{Flag.READ},{Flag.STARRED}"]},
    )
    assert sorted(uids(response)) == sorted([str(urgent_read.uid), str(pinned_starred.uid)])
    assert sorted(response.json()["results"][0]["flags"]) in (
        sorted([priority_flags.URGENT, Flag.READ]), sorted([priority_flags.PINNED, Flag.STARRED])
    )


def test_objects_are_summarised_and_registered_serializers_add_props(api: APIClient, alice: User, bob: User) -> None:
    class ArticleSerializer(drf_serializers.ModelSerializer):
        class Meta:
            model = Article
            fields = ["id", "title"]

    article = Article.objects.create(title="Apollo")
    send("{actor} wrote {target}", [alice], actor=bob, target=article)
    FIELD_SERIALIZERS.add(Article, ArticleSerializer)
    try:
        row = api.get(API + "notifications/list/").json()["results"][0]
    finally:
        FIELD_SERIALIZERS.remove(Article)
    assert row["message"] == "bob wrote Apollo"
    assert row["actor"] == {"type": "auth.user", "id": str(bob.pk), "label": "bob", "props": None}
    assert row["target"] == {"type": "testapp.article", "id": str(article.pk), "label": "Apollo",
                             "props": {"id": article.pk, "title": "Apollo"}}
    article.delete()
    row = api.get(API + "notifications/list/").json()["results"][0]
    assert row["target"]["label"] is None and row["target"]["id"]


def test_field_serializers_refuse_what_is_not_a_model_and_serializer() -> None:
    with pytest.raises(TypeError):
        FIELD_SERIALIZERS.add("testapp.Article", drf_serializers.Serializer)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FIELD_SERIALIZERS.add(Article, dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FIELD_SERIALIZERS.add(Article, drf_serializers.Serializer, queryset=Tag.objects.all())


def _page_of_five_models(alice: User, bob: User, rows: int) -> None:
    owner = User.objects.create_user(f"owner{rows}")
    targets: list[Any] = []
    for index in range(rows):
        kind = index % 5
        if kind == 0:
            targets.append(Article.objects.create(title=f"a{index}"))
        elif kind == 1:
            targets.append(Document.objects.create(title=f"d{index}", owner=owner))
        elif kind == 2:
            targets.append(Team.objects.create(name=f"t{index}"))
        elif kind == 3:
            targets.append(Tag.objects.create(slug=f"tag-{rows}-{index}"))
        else:
            targets.append(User.objects.create_user(f"u{rows}-{index}"))
    parent = send("root", [alice])
    for index, target in enumerate(targets):
        send("{target}", [alice], actor=bob, target=target, parent=parent if index % 2 else None)


def test_a_page_costs_the_same_queries_for_5_or_25_rows_about_5_models(
    api: APIClient, alice: User, bob: User, warm_content_types: None, priority_flags: Any
) -> None:
    class DocumentSerializer(drf_serializers.ModelSerializer):
        owner = drf_serializers.CharField(source="owner.username")

        class Meta:
            model = Document
            fields = ["title", "owner"]

    FIELD_SERIALIZERS.add(Document, DocumentSerializer, queryset=Document.objects.select_related("owner"))
    try:
        counts = []
        for rows in (5, 25):
            Notification.objects.all().delete()
            _page_of_five_models(alice, bob, rows)
            for model in (Article, Document, Team, Tag):  # content types, cached per process as in production
                from django.contrib.contenttypes.models import ContentType

                ContentType.objects.get_for_model(model)
            with CaptureQueriesContext(connection) as queries:
                response = api.get(API + "notifications/list/", {"page_size": 26})
            assert response.status_code == 200
            assert len(response.json()["results"]) == rows + 1
            counts.append(len(queries.captured_queries))
        assert counts[0] == counts[1]
        # the page (with the parent's uid joined), flags, and one query per model pointed at (five
        # targets plus the actor's model, which is one of them)
        assert counts[1] <= 1 + 1 + 5
        documents = [row["target"]["props"] for row in response.json()["results"]
                     if row["target"] and row["target"]["type"] == "testapp.document"]
        assert documents and all(props["owner"] == "owner25" for props in documents)
    finally:
        FIELD_SERIALIZERS.remove(Document)


# -- notifications/set-flags/ and clear/ ------------------------------------------------------------


def test_set_flags_changes_what_the_filters_select_and_only_the_requesters(
    api: APIClient, alice: User, bob: User, priority_flags: Any
) -> None:
    mine = send("mine", [alice])
    other = send("other of mine", [alice])
    theirs = send("theirs", [bob])
    response = api.post(
        API + f"notifications/set-flags/?ids={mine.uid},{theirs.uid}",
        {"add": [Flag.READ, priority_flags.URGENT]}, format="json",
    )
    assert response.status_code == 200
    assert response.json() == {"count": 1}
    mine.refresh_from_db()
    other.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.has_flag(Flag.READ) and mine.has_flag(priority_flags.URGENT)
    assert not other.has_flag(Flag.READ)
    assert not theirs.has_flag(Flag.READ)
    stats_match()


def test_set_flags_specify_sets_exactly(api: APIClient, alice: User, priority_flags: Any) -> None:
    mine = send("mine", [alice], flags=[Flag.STARRED, priority_flags.URGENT])
    response = api.post(API + "notifications/set-flags/", {"specify": [Flag.READ, priority_flags.PINNED]},
                        format="json")
    assert response.status_code == 200
    mine.refresh_from_db()
    assert {flag.value for flag in mine.flags} >= {Flag.READ, priority_flags.PINNED}
    assert not mine.has_flag(Flag.STARRED) and not mine.has_flag(priority_flags.URGENT)
    stats_match()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"add": [999999]}, "add"),
        ({"add": ["read"]}, "add"),
        ({"remove": "2"}, "remove"),
        ({}, "non_field_errors"),
        ({"add": [2], "remove": [2]}, "non_field_errors"),
        ({"add": [2], "specify": [4]}, "non_field_errors"),
        ({"add": list(range(1, 200))}, "add"),
    ],
)
def test_bad_set_flags_bodies_are_400s_and_change_nothing(api: APIClient, alice: User, body: dict, field: str) -> None:
    mine = send("mine", [alice])
    response = api.post(API + "notifications/set-flags/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    mine.refresh_from_db()
    assert mine.flags == frozenset()


def test_a_bad_filter_on_set_flags_changes_nothing(api: APIClient, alice: User) -> None:
    mine = send("mine", [alice])
    response = api.post(API + "notifications/set-flags/?is_root=perhaps", {"add": [Flag.READ]}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["is_root"]
    mine.refresh_from_db()
    assert not mine.has_flag(Flag.READ)


def test_clear_deletes_only_the_requesters_filtered_rows(api: APIClient, alice: User, bob: User) -> None:
    article = Article.objects.create(title="x")
    about = send("about", [alice], target=article)
    kept = send("kept", [alice])
    theirs = send("theirs", [bob], target=article)
    response = api.post(API + f"notifications/clear/?targets=testapp.article~{article.pk}")
    assert response.status_code == 200 and response.json() == {"count": 1}
    assert not Notification.objects.filter(pk=about.pk).exists()
    assert Notification.objects.filter(pk__in=[kept.pk, theirs.pk]).count() == 2
    stats_match()


def test_get_never_changes_anything(api: APIClient, alice: User) -> None:
    send("mine", [alice])
    assert api.get(API + "notifications/set-flags/").status_code == 405
    assert api.get(API + "notifications/clear/").status_code == 405
    assert Notification.objects.count() == 1


# -- notifications/stats/ ---------------------------------------------------------------------------


def test_stats_per_recipient_from_stats_and_filtered_by_type(api: APIClient, alice: User, bob: User,
                                                             priority_flags: Any) -> None:
    article = Article.objects.create(title="x")
    send("about an article", [alice], target=article, flags=[priority_flags.URGENT])
    send("about bob", [alice], target=bob, flags=[Flag.READ])
    send("plain", [alice])
    send("bob's", [bob], target=article)
    whole = api.get(API + "notifications/stats/").json()
    assert len(whole) == 1
    assert whole[0]["recipient"] == {"type": "auth.user", "id": str(alice.pk)}
    assert whole[0]["total"] == 3
    flags = {row["flag"]: row["count"] for row in whole[0]["flags"]}
    assert flags[Flag.READ] == 1 and flags[priority_flags.URGENT] == 1 and flags[priority_flags.PINNED] == 0
    only = api.get(API + "notifications/stats/", {"target_types": "testapp.article"}).json()
    assert only[0]["total"] == 1
    flags = {row["flag"]: row["count"] for row in only[0]["flags"]}
    assert flags[priority_flags.URGENT] == 1 and flags[Flag.READ] == 0
    bad = api.get(API + "notifications/stats/", {"actor_types": "nosuch.model"})
    assert bad.status_code == 400 and list(bad.json()) == ["actor_types"]


def test_stats_read_no_notification_rows_without_filters(api: APIClient, alice: User, warm_content_types: None) -> None:
    send("plain", [alice])
    with CaptureQueriesContext(connection) as queries:
        api.get(API + "notifications/stats/")
    table = Notification._meta.db_table
    assert not any(f"FROM {connection.ops.quote_name(table)}" in q["sql"] for q in queries.captured_queries)


# -- me/notifications -------------------------------------------------------------------------------


def test_me_notifications_counts_page_and_is_read(api: APIClient, alice: User, bob: User) -> None:
    now = timezone.now()
    read = send("read one", [alice], now=now - timedelta(minutes=1), flags=[Flag.READ])
    unread = send("unread one", [alice], now=now)
    send("bob's", [bob])
    body = api.get(API + "me/notifications").json()
    assert (body["total_notifications"], body["read_notifications"], body["unread_notifications"]) == (2, 1, 1)
    assert [row["uid"] for row in body["notifications"]] == [str(unread.uid), str(read.uid)]
    assert body["notifications"][0]["is_read"] is False and body["page"] == 1 and body["next_page"] is None
    only_read = api.get(API + "me/notifications/", {"is_read": "true"}).json()
    assert [row["uid"] for row in only_read["notifications"]] == [str(read.uid)]


def test_me_notifications_numbered_pages(api: APIClient, alice: User, settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    now = timezone.now()
    sent = [send(f"n{i}", [alice], now=now - timedelta(seconds=i)) for i in range(3)]
    first = api.get(API + "me/notifications", {"page": 1}).json()
    assert first["next_page"] == 2 and len(first["notifications"]) == 2
    second = api.get(API + "me/notifications", {"page": 2}).json()
    assert [row["uid"] for row in second["notifications"]] == [str(sent[2].uid)] and second["next_page"] is None


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": "x"}, {"page": "100000"}, {"is_read": "yes"}])
def test_me_notifications_bad_query_is_a_400(api: APIClient, query: dict[str, str]) -> None:
    response = api.get(API + "me/notifications", query)
    assert response.status_code == 400 and list(response.json()) == list(query)


def test_patch_actions(api: APIClient, alice: User, bob: User) -> None:
    one, two, three = (send(text, [alice]) for text in ("one", "two", "three"))
    theirs = send("theirs", [bob])
    response = api.patch(API + "me/notifications",
                         {"action_choice": "MARK_AS_READ", "notification_uids": [str(one.uid), str(theirs.uid)]},
                         format="json")
    assert response.status_code == 200
    assert response.json()["count"] == 1 and response.json()["read_notifications"] == 1
    theirs.refresh_from_db()
    assert theirs.read_at is None
    response = api.patch(API + "me/notifications",
                         {"action_choice": "MARK_AS_REMOVED", "notification_uids": [str(two.uid), str(theirs.uid)]},
                         format="json")
    assert response.json()["count"] == 1 and response.json()["total_notifications"] == 2
    assert Notification.objects.filter(pk=theirs.pk).exists()
    response = api.patch(API + "me/notifications", {"action_choice": "MARK_ALL_AS_READ"}, format="json")
    assert response.json()["unread_notifications"] == 0
    three.refresh_from_db()
    assert three.read_at is not None
    response = api.patch(API + "me/notifications", {"action_choice": "REMOVED_ALL"}, format="json")
    assert response.json()["total_notifications"] == 0
    assert list(Notification.objects.values_list("pk", flat=True)) == [theirs.pk]
    stats_match()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action_choice": "UNDEFINED"}, "action_choice"),
        ({"action_choice": "mark_as_read", "notification_uids": []}, "action_choice"),
        ({}, "action_choice"),
        ({"action_choice": "MARK_AS_READ"}, "notification_uids"),
        ({"action_choice": "MARK_AS_READ", "notification_uids": ["7"]}, "notification_uids"),
        ({"action_choice": "REMOVED_ALL", "notification_uids": [str(uuid.uuid4())]}, "notification_uids"),
    ],
)
def test_bad_patches_are_400s_and_change_nothing(api: APIClient, alice: User, body: dict, field: str) -> None:
    mine = send("mine", [alice])
    response = api.patch(API + "me/notifications", body, format="json")
    assert response.status_code == 400 and field in response.json()
    mine.refresh_from_db()
    assert mine.read_at is None


# -- authentication, permissions, throttling, pagination of the host --------------------------------


ENDPOINTS = [
    ("get", "flags/list/"),
    ("get", "notifications/list/"),
    ("post", "notifications/set-flags/"),
    ("post", "notifications/clear/"),
    ("get", "notifications/stats/"),
    ("get", "me/notifications"),
    ("patch", "me/notifications"),
    ("post", "stream-token/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_requests_are_refused_everywhere(alice: User, method: str, url: str) -> None:
    send("mine", [alice])
    response = getattr(APIClient(), method)(API + url, {}, format="json")
    assert response.status_code in (401, 403)
    assert Notification.objects.get().read_at is None


def test_session_authentication_needs_csrf_for_changes(alice: User) -> None:
    mine = send("mine", [alice])
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(API + "notifications/list/").status_code == 200
    refused = client.post(API + "notifications/set-flags/", {"add": [Flag.READ]}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    mine.refresh_from_db()
    assert mine.read_at is None
    for url in ("me/notifications", "me/notifications/"):  # both spellings check CSRF
        refused = client.patch(API + url, {"action_choice": "MARK_ALL_AS_READ"}, format="json")
        assert refused.status_code == 403
    mine.refresh_from_db()
    assert mine.read_at is None
    client.get("/inbox/")  # a page of the site sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    done = client.post(API + "notifications/set-flags/", {"add": [Flag.READ]}, format="json", HTTP_X_CSRFTOKEN=token)
    assert done.status_code == 200 and done.json() == {"count": 1}


def test_drf_token_authentication(alice: User, bob: User) -> None:
    send("mine", [alice])
    send("theirs", [bob])
    token = Token.objects.create(user=alice)
    client = APIClient()
    # 403, not 401: DRF answers 401 only when its first authentication class sends a challenge
    assert client.get(API + "notifications/list/", HTTP_AUTHORIZATION="Token wrong").status_code in (401, 403)
    response = client.get(API + "notifications/list/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200 and [row["message"] for row in response.json()["results"]] == ["mine"]


def test_jwt_authentication_with_simplejwt(alice: User, bob: User) -> None:
    send("mine", [alice])
    send("theirs", [bob])
    client = APIClient()
    pair = client.post("/api/token/", {"username": "alice", "password": "pw"}, format="json")
    assert pair.status_code == 200
    access = pair.json()["access"]
    response = client.get(API + "me/notifications", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 200
    assert [row["message"] for row in response.json()["notifications"]] == ["mine"]
    forged = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert client.get(API + "me/notifications", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code in (401, 403)


def test_the_hosts_throttling_applies(api: APIClient, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"user": "2/minute"},
    }
    from django.core.cache import cache

    cache.clear()
    statuses = [api.get(API + "flags/list/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    cache.clear()


class TwoPerPage(PageNumberPagination):
    page_size = 2  # DRF reads PAGE_SIZE into the class once, at import: a site's class sets it here


def test_the_hosts_pagination_applies(api: APIClient, alice: User, settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_PAGINATION_CLASS": "tests.test_contrib_drf.TwoPerPage"}
    for index in range(3):
        send(f"n{index}", [alice])
    body = api.get(API + "notifications/list/").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_make_urlpatterns_replaces_a_view_and_refuses_unknown_names(api: APIClient, alice: User) -> None:
    send("mine", [alice])
    response = api.get("/custom/notifications/list/")
    assert response.status_code == 200 and response["X-Short"] == "yes"
    assert api.get("/custom/flags/list/").status_code == 200
    with pytest.raises(TypeError, match="unknown views nosuch"):
        make_urlpatterns(nosuch=NotificationListView)


# -- stream-token/ ----------------------------------------------------------------------------------


def test_stream_token_opens_the_stream_for_its_user(api: APIClient, alice: User) -> None:
    response = api.post(API + "stream-token/")
    assert response.status_code == 200
    body = response.json()
    assert body["token"] and body["expires_in"] > 0 and body["url"].startswith("/inbox/events/?token=")
    stream = APIClient().get(body["url"])  # no cookie, no header: only the token
    try:
        assert stream.status_code == 200
        assert stream["Content-Type"].startswith("text/event-stream")
        assert b"event: badge" in next(iter(stream.streaming_content))
    finally:
        stream.close()
    refused = APIClient().get(body["url"] + "x")
    assert refused.status_code == 401


# -- schema -----------------------------------------------------------------------------------------


def test_openapi_schema_lists_every_endpoint_without_warnings(tmp_path: Any) -> None:
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--file", str(out), "--urlconf", "tests.test_contrib_drf")
    text = out.read_text()
    for _method, url in ENDPOINTS:
        assert f"/api/inbox/{url.rstrip('/')}" in text
    assert "sent_at_before" in text and "action_choice" in text

"""The API's views. Every one reads and changes only the requester's recipients' notifications.

Scoping is the same as the kit's pages: ``INBOX["RECIPIENTS_RESOLVER"]`` turns the (authenticated)
request into recipients, and every queryset starts from theirs, sent and unexpired. Another
person's uid in a filter or a body selects nothing: it is ignored, never changed.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, F, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework import serializers as drf_serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from inbox import recipients, stats
from inbox.contrib.api import params
from inbox.contrib.drf import objects, schema
from inbox.contrib.drf import serializers as api
from inbox.contrib.drf.pagination import NewestFirstPagination, NumberedPage
from inbox.contrib.drf.permissions import HasRecipients
from inbox.models import Notification, Stats
from inbox.querysets import NotificationQuerySet, flag_q
from inbox.recipients import Key, key_of, keys_q
from inbox.services import manager
from inbox.sse import tokens


class InboxAPIView(APIView):
    """The site's REST_FRAMEWORK settings, read per request (so they can change under tests), plus
    :class:`HasRecipients`. A subclass may still set ``authentication_classes`` and friends."""

    @property
    def authentication_classes(self) -> list[Any]:  # type: ignore[override]
        return list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)

    @property
    def throttle_classes(self) -> list[Any]:  # type: ignore[override]
        return list(api_settings.DEFAULT_THROTTLE_CLASSES)

    @property
    def permission_classes(self) -> list[Any]:  # type: ignore[override]
        return [*api_settings.DEFAULT_PERMISSION_CLASSES, HasRecipients]

    @cached_property
    def recipients(self) -> list[Any]:
        return recipients.for_request(self.request._request)

    def visible(self) -> NotificationQuerySet:
        """What the requester may see and change: as on the kit's pages."""
        return Notification.objects.recipients(self.recipients).sent().unexpired()

    def filtered(self, queryset: QuerySet[Notification], source: Any) -> QuerySet[Notification]:
        """``queryset`` narrowed by seed 000's filters; a bad one is a 400 naming it, before any change."""
        try:
            return params.filter_queryset(queryset, source)
        except params.BadParameter as error:
            raise drf_serializers.ValidationError({error.name: [error.message]}) from None

    def page_context(self, rows: list[Notification]) -> dict[str, Any]:
        """What serializers need for a page: the request and every object it points at (one query per model)."""
        return {
            "request": self.request,
            "related_objects": objects.load(rows, api.FIELD_SERIALIZERS.queryset),
        }


def for_page(queryset: QuerySet[Notification]) -> QuerySet[Notification]:
    """A page's rows with their custom flags and their parent's uid, in two queries for any size."""
    return queryset.prefetch_related("custom_flag_rows").annotate(parent_uid=F("parent__uid"))


def recipient_json(key: Key) -> dict[str, str]:
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_id(key[0])
    return {"type": f"{content_type.app_label}.{content_type.model}", "id": key[1]}


class FlagsListView(InboxAPIView):
    """``GET flags/list/``: every registered flag."""

    @schema.extend_schema(responses=api.FlagSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([api.FlagSerializer(flag).data for flag in Notification.flags_registry])


class NotificationListView(InboxAPIView, GenericAPIView):
    """``GET notifications/list/``: newest first, with seed 000's filters."""

    serializer_class = api.NotificationSerializer

    @property
    def pagination_class(self) -> Any:  # type: ignore[override]
        return api_settings.DEFAULT_PAGINATION_CLASS or NewestFirstPagination

    def get_queryset(self) -> QuerySet[Notification]:
        return for_page(self.filtered(self.visible(), self.request.query_params).order_by("-sent_at", "-id"))

    @schema.extend_schema(parameters=schema.parameters(), responses=api.NotificationSerializer(many=True))
    def get(self, request: Request) -> Response:
        queryset = self.get_queryset()
        page = self.paginate_queryset(queryset)
        rows = list(page) if page is not None else list(queryset)
        data = api.NotificationSerializer(rows, many=True, context=self.page_context(rows)).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class SetFlagsView(InboxAPIView):
    """``POST notifications/set-flags/``: change the flags of what the filters select."""

    @schema.extend_schema(parameters=schema.parameters(), request=api.ChangeFlagsSerializer,
                          responses=api.ChangedSerializer)
    def post(self, request: Request) -> Response:
        body = api.ChangeFlagsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        selected = self.filtered(self.visible(), request.query_params)
        count = manager.change_flags(
            selected, add=body.validated_data["add"], remove=body.validated_data["remove"],
            specify=body.validated_data["specify"],
        )
        return Response({"count": count})


class ClearView(InboxAPIView):
    """``POST notifications/clear/``: delete what the filters select (the requester's own only)."""

    @schema.extend_schema(parameters=schema.parameters(), request=None, responses=api.ChangedSerializer)
    def post(self, request: Request) -> Response:
        count = manager.delete(self.filtered(self.visible(), request.query_params))
        return Response({"count": count})


class StatsView(InboxAPIView):
    """``GET notifications/stats/``: per recipient, the total and a count per flag.

    Unfiltered, the counts are Stats rows (one indexed read). With ``actor_types``,
    ``action_types`` or ``target_types`` they count only the matching notifications, which takes
    a grouped count over the requester's rows: the only count this API ever runs.
    """

    @schema.extend_schema(parameters=schema.parameters(schema.TYPE_FILTERS),
                          responses=api.RecipientStatsSerializer(many=True))
    def get(self, request: Request) -> Response:
        keys = [key_of(recipient) for recipient in self.recipients]
        given = {name: request.query_params.getlist(name) for name in schema.TYPE_FILTERS
                 if name in request.query_params}
        counts = self.filtered_counts(keys, given) if given else self.stored_counts(keys)
        flags = list(Notification.flags_registry)
        return Response([
            {
                "recipient": recipient_json(key),
                "total": counts.get(key, {}).get("total", 0),
                "flags": [{"flag": flag.value, "count": counts.get(key, {}).get(flag.value, 0)} for flag in flags],
            }
            for key in keys
        ])

    def stored_counts(self, keys: list[Key]) -> dict[Key, dict[Any, int]]:
        result: dict[Key, dict[Any, int]] = {}
        for row in Stats.objects.filter(keys_q(keys)):
            result[(row.recipient_type_id, row.recipient_id)] = {
                "total": row.total, **{flag.value: count for flag, count in row.flags.items()}
            }
        return result

    def filtered_counts(self, keys: list[Key], given: dict[str, list[str]]) -> dict[Key, dict[Any, int]]:
        flags = list(Notification.flags_registry)
        matching = self.filtered(Notification.objects.filter(keys_q(keys)).visible(), given)
        rows = matching.order_by().values("recipient_type_id", "recipient_id").annotate(
            total=Count("pk"),
            **{f"flag_{index}": Count("pk", filter=Q(flag_q(flag))) for index, flag in enumerate(flags)},
        )
        return {
            (row["recipient_type_id"], row["recipient_id"]): {
                "total": row["total"], **{flag.value: row[f"flag_{index}"] for index, flag in enumerate(flags)}
            }
            for row in rows
        }


class MeNotificationsView(InboxAPIView):
    """``GET`` / ``PATCH me/notifications``: seed 002's counts, page and actions."""

    @schema.extend_schema(parameters=schema.page_parameters(), responses=api.MeNotificationsSerializer)
    def get(self, request: Request) -> Response:
        queryset = self.visible().order_by("-sent_at", "-id")
        is_read = request.query_params.get("is_read")
        if is_read is not None:
            lowered = is_read.strip().lower()
            if lowered not in ("true", "false"):
                raise drf_serializers.ValidationError({"is_read": [_("true or false, not %(value)r.") % {"value": is_read}]})
            queryset = queryset.filter(read_at__isnull=lowered == "false")
        page = NumberedPage(request)
        rows = page.rows(queryset)
        return Response({
            **self.counts(),
            "notifications": api.MeNotificationSerializer(rows, many=True, context=self.page_context(rows)).data,
            "page": page.number,
            "next_page": page.next_number,
        })

    @schema.extend_schema(request=api.ActionSerializer, responses=api.ActionResultSerializer)
    def patch(self, request: Request) -> Response:
        body = api.ActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        choice = body.validated_data["action_choice"]
        named = self.visible().filter(uid__in=body.validated_data.get("notification_uids", []))
        if choice == api.ActionChoice.MARK_AS_READ:
            count = manager.mark_read(named)
        elif choice == api.ActionChoice.MARK_AS_REMOVED:
            count = manager.delete(named)
        elif choice == api.ActionChoice.MARK_ALL_AS_READ:
            count = manager.mark_read(self.visible().unread())
        else:  # REMOVED_ALL: expired ones too, but never those still scheduled (the person has not seen them)
            count = manager.delete(Notification.objects.recipients(self.recipients).sent())
        return Response({"action_choice": choice, "count": count, **self.counts()})

    def counts(self) -> dict[str, int]:
        counts = stats.counts_for(self.recipients)
        return {"total_notifications": counts.total, "read_notifications": counts.read,
                "unread_notifications": counts.unread}


class StreamTokenView(InboxAPIView):
    """``POST stream-token/``: a token that opens the event stream without a cookie or a header."""

    @schema.extend_schema(request=None, responses=api.StreamTokenSerializer)
    def post(self, request: Request) -> Response:
        try:  # a resolver may serve visitors, an authentication class inactive users: tokens are for neither
            token = tokens.issue(request.user)
        except ValueError:
            raise PermissionDenied(_("A stream token is issued to a signed-in, active user.")) from None
        return Response({
            "token": token,
            "expires_in": tokens.max_age(),
            "url": f"{reverse('inbox:events')}?{urlencode({'token': token})}",
        })

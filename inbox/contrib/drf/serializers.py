"""How notifications, flags and counts look in JSON, and the registries sites extend.

``FIELD_SERIALIZERS.add(Model, Serializer)`` (seed 000's name) shows a model's objects in detail
wherever a notification points at one, under ``props``. ``SHORTCODES_REGISTRY`` is the kit's
shortcode registry (:mod:`inbox.shortcodes`), so the same ``[name attr=value]`` tags expand in the
API and in the HTML pages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from inbox import shortcodes
from inbox.contrib.drf import objects
from inbox.models import Notification

#: Seed 000's name for the kit's shortcode registry.
SHORTCODES_REGISTRY = shortcodes.SHORTCODES


@dataclass(frozen=True)
class _Entry:
    serializer_class: type[serializers.BaseSerializer]
    queryset: models.QuerySet | None


class FieldSerializers:
    """Serializers for the objects notifications point at, one per model (seed 000's registry)."""

    def __init__(self) -> None:
        self._entries: dict[type[models.Model], _Entry] = {}

    def add(self, model: type[models.Model], serializer_class: type[serializers.BaseSerializer], *,
            queryset: models.QuerySet | None = None) -> None:
        """Show ``model``'s objects with ``serializer_class``; ``queryset`` (e.g. with ``select_related``)
        is how a page reads them, one query per model."""
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise TypeError(f"FIELD_SERIALIZERS.add() takes a model class, not {model!r}.")
        if not (isinstance(serializer_class, type) and issubclass(serializer_class, serializers.BaseSerializer)):
            raise TypeError(f"FIELD_SERIALIZERS.add() takes a serializer class, not {serializer_class!r}.")
        if queryset is not None and queryset.model is not model:
            raise TypeError(f"The queryset for {model.__name__} must be of {model.__name__}, not {queryset.model.__name__}.")
        self._entries[model] = _Entry(serializer_class, queryset)

    def remove(self, model: type[models.Model]) -> None:
        self._entries.pop(model, None)

    def get(self, model: type[models.Model]) -> type[serializers.BaseSerializer] | None:
        entry = self._entries.get(model)
        return entry.serializer_class if entry else None

    def queryset(self, model: type[models.Model]) -> models.QuerySet | None:
        entry = self._entries.get(model)
        return entry.queryset.all() if entry and entry.queryset is not None else None

    def __contains__(self, model: object) -> bool:
        return model in self._entries


FIELD_SERIALIZERS = FieldSerializers()


def flag_values(notification: Notification) -> list[int]:
    return sorted(flag.value for flag in notification.flags)


def describe_object(notification: Notification, relation: str, context: dict[str, Any]) -> dict[str, Any] | None:
    """``{"type": "app_label.model", "id": "7", "label": str(obj), "props": ...}``, or None.

    ``label`` and ``props`` are null when the object no longer exists; ``props`` also when no
    serializer is registered for its model.
    """
    type_id = getattr(notification, f"{relation}_type_id")
    if type_id is None:
        return None
    object_id = getattr(notification, f"{relation}_id")
    content_type = ContentType.objects.get_for_id(type_id)
    found: dict[objects.ObjectKey, models.Model] = context.get("related_objects", {})
    obj = found.get((type_id, object_id))
    props = None
    if obj is not None:
        serializer_class = FIELD_SERIALIZERS.get(type(obj))
        if serializer_class is not None:
            props = serializer_class(obj, context=context).data
    return {
        "type": f"{content_type.app_label}.{content_type.model}",
        "id": object_id,
        "label": str(obj) if obj is not None else None,
        "props": props,
    }


def message_text(notification: Notification, context: dict[str, Any]) -> str:
    return shortcodes.expand_text(
        notification.message, {"notification": notification, "request": context.get("request")}
    )


class ObjectSerializer(serializers.Serializer):
    """The schema of an actor/action/target summary (read only)."""

    type = serializers.CharField(help_text=_("The model, as app_label.model."))
    id = serializers.CharField(help_text=_("The object's primary key, as text."))
    # A field named like Field.label: DRF's metaclass takes declared fields off the class.
    label = serializers.CharField(allow_null=True, help_text=_("str() of the object; null when it is gone."))  # type: ignore[assignment]
    props = serializers.DictField(allow_null=True, help_text=_("What FIELD_SERIALIZERS registers for its model."))


class RecipientSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()


class NotificationSerializer(serializers.ModelSerializer):
    """One notification as seed 000's list shows it, by its public ``uid``."""

    id = serializers.UUIDField(source="uid", read_only=True)
    recipient = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    action = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    level_name = serializers.CharField(read_only=True)
    flags = serializers.SerializerMethodField()
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]  # (declared fields leave the class)

    class Meta:
        model = Notification
        fields = [
            "id", "recipient", "actor", "action", "target", "message", "category", "level", "level_name",
            "url", "extra", "flags", "parent", "sent_at", "read_at", "seen_at", "archived_at", "starred_at",
            "expires_at", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_recipient(self, notification: Notification) -> dict[str, str]:
        content_type = ContentType.objects.get_for_id(notification.recipient_type_id)
        return {"type": f"{content_type.app_label}.{content_type.model}", "id": notification.recipient_id}

    def get_actor(self, notification: Notification) -> dict[str, Any] | None:
        return describe_object(notification, "actor", self.context)

    def get_action(self, notification: Notification) -> dict[str, Any] | None:
        return describe_object(notification, "action", self.context)

    def get_target(self, notification: Notification) -> dict[str, Any] | None:
        return describe_object(notification, "target", self.context)

    def get_message(self, notification: Notification) -> str:
        return message_text(notification, self.context)

    def get_flags(self, notification: Notification) -> list[int]:
        return flag_values(notification)

    def get_parent(self, notification: Notification) -> str | None:
        return parent_uid(notification)


def parent_uid(notification: Notification) -> str | None:
    """The parent's uid: from the page's ``parent_uid`` annotation (no query per row), else read."""
    if notification.parent_id is None:
        return None
    if hasattr(notification, "parent_uid"):
        return str(notification.parent_uid)
    return str(notification.parent.uid)  # type: ignore[union-attr]


class MeNotificationSerializer(serializers.ModelSerializer):
    """One notification in seed 002's ``me/notifications`` shape."""

    uid = serializers.UUIDField(read_only=True)
    message = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = ["uid", "message", "actor", "target", "category", "level", "url", "is_read", "extra",
                  "sent_at", "read_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_message(self, notification: Notification) -> str:
        return message_text(notification, self.context)

    def get_actor(self, notification: Notification) -> dict[str, Any] | None:
        return describe_object(notification, "actor", self.context)

    def get_target(self, notification: Notification) -> dict[str, Any] | None:
        return describe_object(notification, "target", self.context)


class ActionChoice(models.TextChoices):
    MARK_AS_READ = "MARK_AS_READ"
    MARK_AS_REMOVED = "MARK_AS_REMOVED"
    MARK_ALL_AS_READ = "MARK_ALL_AS_READ"
    REMOVED_ALL = "REMOVED_ALL"


#: The choices that act on the notifications named in ``notification_uids``.
NAMED_CHOICES = (ActionChoice.MARK_AS_READ, ActionChoice.MARK_AS_REMOVED)


class ActionSerializer(serializers.Serializer):
    """Seed 002's PATCH body: ``{"action_choice": "MARK_AS_READ", "notification_uids": [...]}``."""

    action_choice = serializers.ChoiceField(choices=ActionChoice.choices)
    notification_uids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=500)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["action_choice"] in NAMED_CHOICES and not data.get("notification_uids"):
            raise serializers.ValidationError(
                {"notification_uids": [_("%(choice)s needs the notifications' uids.") % {"choice": data["action_choice"]}]}
            )
        if data["action_choice"] not in NAMED_CHOICES and data.get("notification_uids"):
            raise serializers.ValidationError(
                {"notification_uids": [_("%(choice)s acts on every notification: leave notification_uids out.")
                                       % {"choice": data["action_choice"]}]}
            )
        return data


class CountsSerializer(serializers.Serializer):
    total_notifications = serializers.IntegerField()
    read_notifications = serializers.IntegerField()
    unread_notifications = serializers.IntegerField()


class MeNotificationsSerializer(CountsSerializer):
    notifications = MeNotificationSerializer(many=True)
    page = serializers.IntegerField()
    next_page = serializers.IntegerField(allow_null=True)


class ActionResultSerializer(CountsSerializer):
    action_choice = serializers.CharField()
    count = serializers.IntegerField(help_text=_("Notifications marked read or removed."))


class FlagSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # (declared fields leave the class)

    def to_representation(self, flag: enum.Enum) -> dict[str, Any]:
        label = getattr(flag, "label", None) or flag.name.replace("_", " ").capitalize()
        return {"value": flag.value, "name": flag.name, "label": str(label)}


class FlagListField(serializers.ListField):
    """A list of registered flag values; an unknown value is a validation error naming it."""

    child = serializers.IntegerField()

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[int]:
        values = super().to_internal_value(data)
        unknown = [value for value in values if value not in Notification.flags_registry]
        if unknown:
            raise serializers.ValidationError(
                _("Not registered flags: %(values)s.") % {"values": ", ".join(map(str, unknown))}
            )
        return values


class ChangeFlagsSerializer(serializers.Serializer):
    """Seed 000's set-flags body: ``{"add": [...], "remove": [...], "specify": [...]}``."""

    add = FlagListField(help_text=_("Flags to set."))
    remove = FlagListField(help_text=_("Flags to clear."))
    specify = FlagListField(help_text=_("When given, exactly these flags (add and remove are then not allowed)."))

    def validate(self, data: dict[str, list[int]]) -> dict[str, list[int]]:
        if not (data["add"] or data["remove"] or data["specify"]):
            raise serializers.ValidationError(_("Give flags to add, remove or specify."))
        if data["specify"] and (data["add"] or data["remove"]):
            raise serializers.ValidationError(_("specify sets the flags exactly: give it alone."))
        both = sorted(set(data["add"]) & set(data["remove"]))
        if both:
            raise serializers.ValidationError(
                _("Flags both added and removed: %(values)s.") % {"values": ", ".join(map(str, both))}
            )
        return data


class ChangedSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=_("Notifications changed or deleted."))


class FlagCountSerializer(serializers.Serializer):
    flag = serializers.IntegerField()
    count = serializers.IntegerField()


class RecipientStatsSerializer(serializers.Serializer):
    recipient = RecipientSerializer()
    total = serializers.IntegerField()
    flags = FlagCountSerializer(many=True)


class StreamTokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text=_("Seconds left to open a stream with it."))
    url = serializers.CharField(help_text=_("The event stream's URL with the token."))

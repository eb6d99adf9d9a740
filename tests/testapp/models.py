"""Models standing in for a site's own: recipients with UUID and string keys, a target with a URL."""

import uuid

from django.db import models


class Team(models.Model):
    """A shared-inbox recipient with a UUID primary key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A model with a string primary key."""

    slug = models.SlugField(primary_key=True)

    def __str__(self) -> str:
        return self.slug


class Article(models.Model):
    title = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"/articles/{self.pk}/"


class Document(models.Model):
    """A target with a relation, a sensitive column and a property, for the message-template rule."""

    title = models.CharField(max_length=200)
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, null=True, related_name="documents")
    secret_note = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.title

    @property
    def summary(self) -> str:
        return f"{self.title}: {self.secret_note}"


class Attachment(models.Model):
    """A site's row that belongs to a notification and goes with it."""

    notification = models.ForeignKey("inbox.Notification", on_delete=models.CASCADE, related_name="attachments")
    name = models.CharField(max_length=100)


class Bookmark(models.Model):
    """A site's row that outlives the notification it points at."""

    notification = models.ForeignKey(
        "inbox.Notification", on_delete=models.SET_NULL, null=True, related_name="bookmarks"
    )


class Pin(models.Model):
    """A site's row that forbids deleting its notification."""

    notification = models.ForeignKey("inbox.Notification", on_delete=models.PROTECT, related_name="pins")

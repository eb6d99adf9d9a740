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

from django.db import models


class Project(models.Model):
    """Something for demo notifications to be about (their target)."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name

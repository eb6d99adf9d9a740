from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Project(models.Model):
    """Something for demo notifications to be about (their target). Its status has a rule: when it
    changes, the project's members hear about it (demo/rules.py, seeded by seed_demo)."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        IN_PROGRESS = "in_progress", _("In progress")
        IN_REVIEW = "in_review", _("In review")
        DONE = "done", _("Done")

    name = models.CharField(max_length=100)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PLANNED)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects",
                                     verbose_name=_("members"))

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("project", args=[self.pk])

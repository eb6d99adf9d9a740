"""Demo users and notifications, so a newcomer sees a lived-in inbox."""

import contextlib
import logging
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from demo.models import Project
from inbox.contrib.rules.models import Subscription, Trigger
from inbox.events.inprocess import UNSERVED_HINT
from inbox.flags import Flag
from inbox.models import Level, Notification
from inbox.services import manager, notifier

PASSWORD = "inbox-demo"
CATEGORIES = ["comments", "deploys", "billing", "mentions", "security"]
TEMPLATES = {
    "comments": "{actor.username} commented on {target}: “{excerpt}”",
    "deploys": "Deploy of {target} finished in {seconds}s",
    "billing": "Invoice {number} for {target} is ready",
    "mentions": "{actor.username} mentioned you in {target}",
    "security": "New sign-in to your account from {place}",
}
LEVELS = {"comments": Level.INFO, "deploys": Level.SUCCESS, "billing": Level.INFO, "mentions": Level.INFO,
          "security": Level.WARNING}
#: The demo's projects: status and members (by username).
PROJECTS = {
    "Apollo": (Project.Status.IN_PROGRESS, ("alice", "bob")),
    "Borealis": (Project.Status.PLANNED, ("alice", "bob")),
    "Cygnus": (Project.Status.IN_REVIEW, ("bob",)),
}
#: The demo's notification rule: a project's status changed → its members (demo/rules.py).
RULE = "A project's status changed"
# changed_data holds the stored values ("in_review"); the instance gives the new one's label.
RULE_MESSAGE = "{{ actor|default:'Someone' }} moved {{ instance }} to {{ instance.get_status_display }}"
RULE_URL = "{{ instance.get_absolute_url }}"


class Command(BaseCommand):
    help = "Create demo users alice and bob (password printed) with a few hundred notifications."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=300, help="Notifications per user.")
        parser.add_argument("--reset", action="store_true", help="Delete the demo users' notifications first.")

    def handle(self, *args: Any, count: int = 300, reset: bool = False, **options: Any) -> None:
        with _without_unserved_hint():
            self._handle(count=count, reset=reset)

    @transaction.atomic
    def _handle(self, *, count: int, reset: bool) -> None:
        users = []
        for name in ("alice", "bob"):
            user, created = User.objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})
            if created:
                user.set_password(PASSWORD)
                user.save()
            users.append(user)
        admin, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        if created:
            admin.set_password(PASSWORD)
            admin.save()
        projects = self._projects(users, reset=reset)
        self._rule(reset=reset)
        if reset:
            manager.delete(Notification.objects.recipients(users))
        if Notification.objects.recipients(users).exists():
            self.stdout.write("Demo data already present (use --reset to recreate).")
        else:
            self._seed(users, projects, count)
        self.stdout.write(self.style.SUCCESS(f"Demo users: alice, bob (and admin) — password: {PASSWORD}"))

    def _projects(self, users: list[User], *, reset: bool) -> list[Project]:
        """The three projects, with their members; --reset puts their statuses back. (update(), not
        save(): putting a status back is not news, and must not fire the rule.)"""
        by_name = {user.username: user for user in users}
        projects = []
        for name, (status, members) in PROJECTS.items():
            project, created = Project.objects.get_or_create(name=name, defaults={"status": status})
            if reset and not created and project.status != status:
                Project.objects.filter(pk=project.pk).update(status=status)
                project.status = status
            project.members.set([by_name[username] for username in members])
            projects.append(project)
        return projects

    def _rule(self, *, reset: bool) -> None:
        """The rule, as a site owner would set it up in the admin; --reset restores it as seeded.
        (Saved, not update()d: an edit must reach every process's cached rules.)"""
        trigger, created = Trigger.objects.get_or_create(name=RULE, defaults={"signal": "post_save"})
        if created or reset:
            trigger.signal = "post_save"
            trigger.sender = ContentType.objects.get_for_model(Project)
            trigger.created = Trigger.Created.UPDATED
            trigger.changed_fields = "status"
            trigger.condition_field = trigger.condition_value = trigger.actor_field = trigger.target_field = ""
            trigger.enabled = True
            trigger.save()
        subscription = trigger.subscriptions.order_by("pk").first()
        if subscription is None or reset:
            subscription = subscription or Subscription(trigger=trigger)
            subscription.dynamic_receivers = "project_members"
            subscription.template = RULE_MESSAGE
            subscription.template_name = ""
            subscription.url_template = RULE_URL
            subscription.category = "projects"
            subscription.level = Level.INFO
            subscription.channels = []
            subscription.enabled = True
            subscription.save()
            subscription.users.clear()
            subscription.groups.clear()

    def _seed(self, users: list[User], projects: list[Project], count: int) -> None:
        rng = random.Random(42)
        now = timezone.now()
        for user in users:
            other = next(u for u in users if u != user)
            for i in range(count):
                category = rng.choice(CATEGORIES)
                project = rng.choice(projects)
                [notification] = notifier.send(
                    TEMPLATES[category],
                    user,
                    actor=other,
                    target=project,
                    category=category,
                    level=LEVELS[category] if rng.random() > 0.05 else Level.ERROR,
                    extra={"excerpt": rng.choice(["Looks good", "Can you check?", "Shipped!"]),
                           "seconds": rng.randint(20, 400), "number": f"INV-{1000 + i}",
                           "place": rng.choice(["Lisbon", "Osaka", "Denver"])},
                    # A page alice and bob can open: they are not staff, so the admin is a login wall.
                    url=reverse("project", args=[project.pk]),
                    now=now - timedelta(minutes=(count - i) * 37),
                    channels=(),  # history: nobody is e-mailed about the past
                )
                if category == "comments" and rng.random() < 0.3:
                    notifier.send("{actor.username} replied in the thread", user, actor=other, target=project,
                                  parent=notification, category=category, now=notification.sent_at + timedelta(minutes=5),
                                  channels=())
            # The newest quarter stays unread, the oldest fifth is archived: a lived-in inbox at any --count.
            mine = Notification.objects.recipients([user])
            total = mine.count()
            manager.mark_read(mine.order_by("-sent_at", "-id")[total // 4 :])
            manager.archive(mine.order_by("sent_at", "id")[: total // 5])
            manager.change_flags(mine.filter(category="security"), add=[Flag.STARRED])
            self._group_and_snooze(user, projects[0], now)
        self.stdout.write(f"Seeded {Notification.objects.recipients(users).count()} notifications.")


    def _group_and_snooze(self, user: User, project: Project, now: Any) -> None:
        """Four people comment on Apollo in the last hour (one row: "dana and 3 others commented on
        Apollo"), and one notification waits, snoozed, until tomorrow morning."""
        commenters = []
        for name in ("carol", "dana", "erin"):
            person, _created = User.objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})
            commenters.append(person)
        others = [u for u in User.objects.filter(username__in=["alice", "bob"]) if u != user]
        for minutes, (actor, excerpt) in enumerate(zip([*others, *commenters],
                                                       ["Shipping it Friday?", "Docs look good.",
                                                        "Found a typo in step 3.", "+1, ready from my side."], strict=False)):
            notifier.send("{actor} commented on {target}: “{excerpt}”", user, actor=actor, target=project,
                          category="comments", extra={"excerpt": excerpt}, url=reverse("project", args=[project.pk]),
                          group_key=f"comments:project:{project.pk}", now=now - timedelta(minutes=40 - minutes * 10),
                          channels=())
        [later] = notifier.send("Quarterly report for {target} is due next week", user, target=project,
                                category="billing", url=reverse("project", args=[project.pk]), channels=(),
                                now=now - timedelta(minutes=90))
        tomorrow = timezone.localtime(now).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
        manager.snooze(Notification.objects.filter(pk=later.pk), tomorrow, now=now)


@contextlib.contextmanager
def _without_unserved_hint() -> Iterator[None]:
    """The seed runs before any browser connects, so nobody missing its events live is expected:
    the in-process broker's warning about that would only alarm someone running ``make demo``."""

    def keep(record: logging.LogRecord) -> bool:
        return record.msg != UNSERVED_HINT

    logger = logging.getLogger("inbox.events")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from inbox import erasure
from inbox.management.commands._recipients import parse_recipients
from inbox.models import Notification
from inbox.recipients import keys_q
from inbox.services import manager


class Command(BaseCommand):
    help = (
        "Delete notifications (and update Stats): by age, by recipient, read ones only, or expired ones; "
        "or, with --orphans, those (and the Stats rows) of recipients that no longer exist."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, metavar="DAYS", help="Sent more than DAYS days ago.")
        parser.add_argument("--recipient", action="append", metavar="APP_LABEL.MODEL:PK", help="Repeatable.")
        parser.add_argument("--read-only", action="store_true", help="Only notifications that were read.")
        parser.add_argument("--expired", action="store_true", help="Only notifications past their expires_at.")
        parser.add_argument("--all", action="store_true", help="Allow deleting with no other filter.")
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="Only notifications and Stats rows whose recipient no longer exists (alone, not with other filters).",
        )
        parser.add_argument("--batch-size", type=int, metavar="N", help="Recipients per batch with --orphans.")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["orphans"]:
            self._orphans(options)
            return
        queryset = Notification.objects.all()
        now = timezone.now()
        filtered = False
        if options["older_than"] is not None:
            if options["older_than"] < 0:
                raise CommandError("--older-than takes a number of days, 0 or more.")
            queryset = queryset.filter(sent_at__lt=now - timedelta(days=options["older_than"]))
            filtered = True
        keys = parse_recipients(options["recipient"])
        if keys:
            queryset = queryset.filter(keys_q(keys))
            filtered = True
        if options["read_only"]:
            queryset = queryset.read()
            filtered = True
        if options["expired"]:
            queryset = queryset.expired(now)
            filtered = True
        if not filtered and not options["all"]:
            raise CommandError("Refusing to delete every notification: give a filter, or --all.")
        if options["dry_run"]:
            self.stdout.write(f"Would delete {queryset.count()} notification(s).")
            return
        count = manager.delete(queryset)
        self.stdout.write(f"Deleted {count} notification(s).")

    def _orphans(self, options: dict[str, Any]) -> None:
        others = [name for name in ("older_than", "recipient") if options[name] is not None]
        others += [name for name in ("read_only", "expired", "all") if options[name]]
        if others:
            # An orphan's notifications are all of them, read or not, old or new: a filter
            # here would leave part of a deleted person's data behind.
            raise CommandError("--orphans takes no other filter.")
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size takes a number, 1 or more.")
        sweep = erasure.erase_orphans(batch_size=options["batch_size"], dry_run=options["dry_run"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            f"{verb} {sweep.notifications} notification(s), {sweep.stats} stats row(s) and {sweep.other} "
            f"other row(s) (deliveries, preferences, digests, mutes) of {sweep.recipients} missing recipient(s)."
        )

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from inbox.channels import digests


class Command(BaseCommand):
    help = (
        "Send every digest whose window has ended: one message per recipient, channel and window, "
        "listing what collected in it. Safe to run in several copies at once (each window is sent "
        "once). Run it every few minutes (cron), or enqueue the inbox.channels.digest_tasks.send_digests task."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", help="Act as if it were this time (ISO 8601 with an offset), for testing.")
        parser.add_argument("--limit", type=int, default=None, help="Look at no more than this many windows.")

    def handle(self, *args: Any, now: str | None = None, limit: int | None = None, **options: Any) -> None:
        when = None
        if now:
            try:
                when = parse_datetime(now)
            except ValueError:  # well formed, but no such day or hour
                when = None
            if when is None or when.tzinfo is None:
                raise CommandError(f"--now must be an ISO 8601 time with its offset (2025-03-30T09:00+02:00), not {now!r}.")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        count = digests.send_due_digests(when, limit=limit)
        self.stdout.write(f"Sent {count} digest(s).")

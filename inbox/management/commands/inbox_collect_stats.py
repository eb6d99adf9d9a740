from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox import stats
from inbox.management.commands._recipients import parse_recipients


class Command(BaseCommand):
    help = "Recount notification Stats from the notifications (after bulk edits that bypassed inbox.services)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recipient",
            action="append",
            metavar="APP_LABEL.MODEL:PK",
            help="Only this recipient (repeatable), e.g. auth.user:42. Default: every recipient.",
        )

    def handle(self, *args: Any, recipient: list[str] | None = None, **options: Any) -> None:
        count = stats.collect(parse_recipients(recipient))
        self.stdout.write(f"Collected stats for {count} recipient(s).")

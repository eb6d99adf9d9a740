from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox.services import manager


class Command(BaseCommand):
    help = (
        "Make scheduled notifications whose send_at has come visible: counted and announced exactly once, "
        "even when several copies run at once. Run it every minute (cron, a task scheduler)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="Rows per transaction.")

    def handle(self, *args: Any, batch_size: int | None = None, **options: Any) -> None:
        count = manager.publish_due(batch_size=batch_size)
        self.stdout.write(f"Published {count} due notification(s).")

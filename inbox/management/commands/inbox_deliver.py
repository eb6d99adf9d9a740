from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox import conf
from inbox.channels import tasks


class Command(BaseCommand):
    help = (
        "Deliver every pending delivery that is due and not held by a worker: retries after a backoff "
        "when the task backend cannot run tasks later (the immediate backend), deliveries a broker "
        "outage kept from being enqueued, and those of a worker that died. Safe to run while "
        "workers run and in several copies at once: each delivery is claimed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enqueue", action="store_true",
                            help="Enqueue one task per due batch on the task backend instead of sending here.")

    def handle(self, *args: Any, enqueue: bool = False, **options: Any) -> None:
        if enqueue:
            batches = tasks.due_batches()
            tasks.enqueue(batches)
            self.stdout.write(f"Enqueued {len(batches)} batch(es).")
            return
        totals: Counter[str] = Counter()
        while counts := tasks.run(None, limit=conf.get("DELIVERY_BATCH_SIZE")):
            totals.update(counts)
        summary = ", ".join(f"{count} {status}" for status, count in sorted(totals.items())) or "nothing due"
        self.stdout.write(f"Deliveries: {summary}.")

"""django-notifs' side of bench/channels.py, run with bench/.venv-notifs/bin/python (settings:
bench.notifs.peer_settings). Prints one JSON line.

    python -m bench.notifs.peer prepare SIZE     migrate, then SIZE users with addresses
    python -m bench.notifs.peer none             notify() per user, no channel (the baseline)
    python -m bench.notifs.peer each             notify() per user, channels=["email"]
    python -m bench.notifs.peer bulk             one silent notify(), context bulk=True: send_bulk()

The per-user loops run in one transaction, as our send() does (one commit instead of 10,000).
"""

import json
import os
import sys
import time


def main(argv):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.notifs.peer_settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import transaction
    from notifications.utils import notify

    from bench.notifs import peer_channels

    if argv[0] == "prepare":
        size = int(argv[1])
        call_command("migrate", verbosity=0)
        for start in range(0, size, 5000):
            User.objects.bulk_create([User(username=f"user{i}", email=f"user{i}@example.com")
                                      for i in range(start, min(size, start + 5000))])
        print(json.dumps({"users": User.objects.count(), "django": django.get_version()}))
        return 0
    variant = argv[0]
    started_wall, started = time.time(), time.perf_counter()
    if variant == "bulk":
        addresses = list(User.objects.values_list("email", flat=True))
        notify(silent=True, channels=["email"], action="maintenance", category="system",
               short_description=peer_channels.SUBJECT, extra_data={"context": {"bulk": True, "addresses": addresses}})
    else:
        channels = ["email"] if variant == "each" else []
        with transaction.atomic():
            for user in User.objects.all():
                notify(recipient=user, action="maintenance", category="system", short_description=peer_channels.SUBJECT,
                       url="https://inbox.example/maintenance/", channels=channels)
    elapsed = time.perf_counter() - started
    from notifications.utils import get_notification_model

    print(json.dumps({"seconds": elapsed, "started": started_wall, "ended": time.time(),
                      "stored": get_notification_model().objects.count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Send → the badge changing in a real Chromium page (the example site under uvicorn, Redis broker).

The page records Date.now() when the badge's label changes; the sending process records
time.time() right before send(). Both read the same machine clock.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from typing import Any

SAMPLES = 20


def measure() -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Site, _login, site_env
    from tests.services import RedisServer, free_port

    redis = RedisServer().start()
    workdir = tempfile.mkdtemp(prefix="inbox-bench-browser-")
    port = free_port()
    site = Site(f"http://127.0.0.1:{port}", site_env(workdir, INBOX_REDIS_URL=redis.url), port)
    try:
        site.manage("migrate", "--noinput", "-v0")
        site.manage("seed_demo", "--count", "20")
        site.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            _login(page, site, "alice")
            page.goto(f"{site.url}/")
            page.wait_for_function("document.documentElement.dataset.inboxLive === 'leader'", timeout=15_000)
            page.evaluate("""() => {
                window.__badgeChanges = [];
                let last = document.getElementById('inbox-badge').getAttribute('aria-label');
                new MutationObserver(() => {
                    const badge = document.getElementById('inbox-badge');
                    const label = badge && badge.getAttribute('aria-label');
                    if (label && label !== last) { last = label; window.__badgeChanges.push(Date.now()); }
                }).observe(document.body, {subtree: true, childList: true, attributes: true});
            }""")
            latencies = []
            for i in range(SAMPLES):
                time.sleep(0.7)  # past the stream's render interval
                sent_at = float(site.python(
                    "import time; from django.contrib.auth.models import User; from inbox.services import notifier; "
                    "alice = User.objects.get(username='alice'); t = time.time(); "
                    f"notifier.send('browser ping {i}', alice); print(t)"
                ).splitlines()[-1])
                page.wait_for_function(f"window.__badgeChanges.length >= {i + 1}", timeout=15_000)
                changed_at = page.evaluate(f"window.__badgeChanges[{i}]")
                latencies.append(changed_at - sent_at * 1000)
            browser.close()
        ordered = sorted(latencies)
        return {"browser_p50_ms": statistics.median(ordered), "browser_max_ms": ordered[-1], "samples": len(ordered)}
    finally:
        site.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    import json

    print(json.dumps(measure()))

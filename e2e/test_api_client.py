"""docs/api.md's Python client, run as written against the example site under uvicorn."""

from __future__ import annotations

import queue
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.conftest import PASSWORD, ROOT, Site

DOC = ROOT / "docs" / "api.md"
USER = "api-client"


def client_code() -> str:
    blocks = [block for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
              if block.startswith("# client.py")]
    assert len(blocks) == 1, "docs/api.md should hold one client.py example"
    return blocks[0]


@pytest.fixture(scope="module")
def client_user(site: Site) -> str:
    """A user of its own, so the other e2e tests' counts never move under this one; returns its pk."""
    return site.python(
        "from django.contrib.auth.models import User; "
        f"user = User.objects.create_user({USER!r}); user.set_password({PASSWORD!r}); user.save(); print(user.pk)"
    )


def send_through_the_server(site: Site, recipient_pk: str, message: str) -> None:
    """alice sends from the demo's form, in the server process whose broker holds the stream."""
    with httpx.Client(base_url=site.url, timeout=10) as browser:
        browser.get("/login/")
        signed_in = browser.post("/login/", data={"username": "alice", "password": PASSWORD,
                                                  "csrfmiddlewaretoken": browser.cookies["csrftoken"]})
        assert signed_in.status_code == 302, signed_in.text[:500]
        response = browser.post("/send/", data={
            "recipient": recipient_pk, "message": message, "level": "20", "category": "test",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        })
        assert response.status_code in (200, 302), response.text[:500]


def test_the_docs_client_lists_marks_read_and_follows_the_stream(site: Site, client_user: str) -> None:
    site.send(USER, "first unread")
    site.send(USER, "second unread")
    namespace: dict[str, Any] = {"__name__": "docs_client"}
    exec(compile(client_code(), str(DOC), "exec"), namespace)

    with namespace["connect"](site.url, USER, PASSWORD) as client:
        items = namespace["unread"](client)
        assert sorted(item["message"] for item in items) == ["first unread", "second unread"]
        assert namespace["mark_read"](client, [item["uid"] for item in items]) == 2
        assert namespace["unread"](client) == []
        assert site.unread(USER) == 0

        received: queue.Queue[tuple[str, Any]] = queue.Queue()

        def read_stream() -> None:
            try:
                for event, data in namespace["follow"](client):
                    received.put((event, data))
                    if event == "notification":
                        return
            except Exception as error:  # reported to the test below, never lost in the thread
                received.put(("error", repr(error)))

        reader = threading.Thread(target=read_stream, daemon=True)
        reader.start()
        event, data = received.get(timeout=15)
        assert event == "counts", (event, data)
        assert data["unread"] == 0  # the stream opens with the counts
        send_through_the_server(site, client_user, "sent while following")
        seen: list[tuple[str, Any]] = []
        while not any(event in ("notification", "error") for event, _data in seen):
            seen.append(received.get(timeout=15))
        assert [data for event, data in seen if event == "error"] == []
        notification = next(data for event, data in seen if event == "notification")
        assert [item["message"] for item in notification] == ["sent while following"]
        counts = [data for event, data in seen if event == "counts"]
        assert counts and counts[-1]["unread"] == 1
        reader.join(timeout=15)


def test_the_docs_client_is_the_file_the_docs_show() -> None:
    code = client_code()
    assert 'if __name__ == "__main__":' in code
    assert Path(DOC).read_text().count("python client.py http://127.0.0.1:8000 alice inbox-demo") == 1

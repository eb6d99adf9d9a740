"""The examples in docs/preferences.md run, in order, against a real database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "preferences.md"


def examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return [block for block in blocks if block.startswith("# example")]


@pytest.mark.django_db(transaction=True)
def test_docs_examples_run(alice, bob, settings):
    settings.INBOX = {**getattr(settings, "INBOX", {}), "PROVIDERS": {"email": {}}, "SITE_URL": "https://example.com"}
    alice.email = "alice@example.com"
    alice.save()
    blocks = examples()
    assert len(blocks) == 5
    namespace = {"alice": alice, "bob": bob}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)

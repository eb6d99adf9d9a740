"""The examples in docs/core.md run, in order, against a real database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inbox.models import Notification

DOC = Path(__file__).resolve().parent.parent / "docs" / "core.md"


def examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return [block for block in blocks if block.startswith("# example")]


@pytest.mark.django_db
def test_docs_examples_run(alice, bob, capsys):
    blocks = examples()
    assert len(blocks) >= 8
    namespace = {"alice": alice, "bob": bob}
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
    finally:
        if "Priority" in namespace:
            Notification.flags_registry.remove(namespace["Priority"])
    assert "actor.nickname" in capsys.readouterr().out

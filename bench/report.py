"""BENCHMARKS.md is written by several runners: each owns a section between markers."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: str | Path, name: str, text: str) -> None:
    """Put ``text`` between ``<!-- name -->`` and ``<!-- /name -->``, keeping the rest of the file."""
    path = Path(path)
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    content = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if start in content and end in content:
        before = content[: content.index(start)]
        after = content[content.index(end) + len(end) :].lstrip("\n")
        content = before + block + ("\n" + after if after else "")
    else:
        content = content.rstrip() + "\n\n" + block
    path.write_text(content)

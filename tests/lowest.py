"""Print pip constraints that pin the package's declared dependencies to their floors.

    python tests/lowest.py [EXTRA ...] > constraints.txt

Every ``name>=X`` in pyproject's ``dependencies`` (and in the named extras) becomes ``name==X``, so
``pip install -c constraints.txt -e ".[test,redis]"`` installs exactly the lowest versions the package
claims to work with. Their own dependencies resolve as usual (pip's "lowest direct"). A dependency
declared without a ``>=`` floor is an error: a floor nobody tests is a guess.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def floors(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    name = project["name"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        if not match:
            raise SystemExit(f"cannot read the requirement {requirement!r}")
        package, _, specifier, marker = match.groups()
        if package == name:
            continue  # a self-reference such as "django-htmx-inbox[test]"
        floor = [part.strip()[2:].strip() for part in specifier.split(",") if part.strip().startswith(">=")]
        if not floor:
            raise SystemExit(f"{requirement!r} declares no '>=' floor")
        pins.append(f"{package}=={floor[0]}{marker or ''}")
    return pins


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print("\n".join(floors(root / "pyproject.toml", sys.argv[1:])))

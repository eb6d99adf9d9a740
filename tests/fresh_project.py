"""A fresh ``django-admin startproject mysite`` with README.md's "Add it to a site" steps applied.

The steps are read from the README's code blocks, not copied here, so a README that drifts from
what works breaks the tests that use this (tests/test_integration_readme.py without a browser,
e2e/test_fresh_project.py in Chromium). Only what a terminal session cannot do unattended is
adapted, each in one visible place: ``createsuperuser`` gets ``--noinput`` and its answers from the
environment, ``runserver`` a free port and ``--noreload``, and ``pip install`` lines are checked
against this virtualenv instead of run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: The virtualenv's bin folder: its django-admin makes the project, its python runs it.
BIN = Path(sys.executable).parent
PROJECT = "mysite"
USERNAME, PASSWORD, EMAIL = "ada", "fresh-project-pw", "ada@example.com"

SECTION = "Add it to a site"
REDIS_SECTION = "Sending from other processes"
OVERRIDE_SECTION = "Overriding a partial"


def section(markdown: str, heading: str, level: int = 2) -> str:
    """The text under the heading that starts with ``heading``, up to the next one of its level."""
    marks = "#" * level
    match = re.search(rf"^{marks} {re.escape(heading)}.*?$(.*?)(?=^{marks} |\Z)", markdown, flags=re.M | re.S)
    if match is None:
        raise AssertionError(f"README.md has no {marks} {heading!r} section")
    return match.group(1)


def intro(text: str) -> str:
    """A section's text before its first subsection: the required steps."""
    return re.split(r"^### ", text, maxsplit=1, flags=re.M)[0]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


@dataclass
class Steps:
    """One part of the README's steps: code for the project's files, and shell commands."""

    files: list[tuple[str, str]] = field(default_factory=list)  # ("mysite/settings.py", code to append)
    commands: list[str] = field(default_factory=list)  # shell lines, as written

    @classmethod
    def parse(cls, text: str) -> Steps:
        steps = cls()
        for language, code in code_blocks(text):
            if language == "python":
                first, _, body = code.partition("\n")
                match = re.match(rf"# ({PROJECT}/\w+\.py)\b", first)
                if match is None:
                    raise AssertionError(f"a python block of the steps does not say which file it goes in:\n{code}")
                steps.files.append((match.group(1), body))
            elif language == "sh":
                steps.commands += [line for line in code.splitlines() if line.strip()]
        return steps

    def manage_commands(self) -> list[list[str]]:
        """The ``python manage.py ...`` lines, as argument lists after ``manage.py``."""
        found = []
        for line in self.commands:
            words = shlex.split(line)
            if words[:2] == ["python", "manage.py"]:
                found.append(words[2:])
            elif words[:2] != ["pip", "install"]:
                raise AssertionError(f"a step the tests do not know how to run: {line}")
        return found

    def installs(self) -> list[str]:
        return [shlex.split(line)[2] for line in self.commands if line.startswith("pip install ")]


def readme_steps() -> tuple[Steps, Steps, Steps]:
    """The required steps, the Redis broker's, and the project templates folder's."""
    text = section(README.read_text(), SECTION)
    return (
        Steps.parse(intro(text)),
        Steps.parse(section(text, REDIS_SECTION, level=3)),
        Steps.parse(section(text, OVERRIDE_SECTION, level=3)),
    )


class FreshProject:
    """``django-admin startproject mysite`` in a temporary directory; ``cleanup()`` removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="inbox-fresh-"))
        self.path = self.root / PROJECT
        env = {**os.environ, "DJANGO_SUPERUSER_USERNAME": USERNAME, "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
               "DJANGO_SUPERUSER_EMAIL": EMAIL}
        # Nothing of the test run's may leak in: the project must work on its own settings alone.
        for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL", "INBOX_REDIS_URL"):
            env.pop(name, None)
        self.env = env
        try:
            self.run([str(BIN / "django-admin"), "startproject", PROJECT], cwd=self.root)
        except BaseException:
            self.cleanup()
            raise

    def run(self, argv: list[str], cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(argv, cwd=cwd or self.path, env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode:
            raise AssertionError(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def manage(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "manage.py", *args], timeout=timeout)

    def apply_files(self, steps: Steps, replace: dict[str, str] | None = None) -> None:
        for name, code in steps.files:
            for old, new in (replace or {}).items():
                code = code.replace(old, new)
            with open(self.path / name, "a") as handle:
                handle.write(f"\n# --- from README.md ---\n{code}")

    def run_commands(self, steps: Steps) -> list[list[str]]:
        """Run the steps' manage.py commands except runserver and shell, which are returned."""
        for package in steps.installs():
            # Installed here already (the venv has the package and its extras): check, do not reinstall.
            distribution = re.sub(r"\[.*\]", "", package)
            self.run([sys.executable, "-m", "pip", "show", "--quiet", distribution])
        deferred = []
        for argv in steps.manage_commands():
            if argv[0] == "createsuperuser":
                self.manage(*argv, "--noinput")
            elif argv[0] in ("runserver", "shell"):
                deferred.append(argv)
            else:
                self.manage(*argv)
        return deferred

    def write(self, name: str, text: str) -> None:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


#: What the project's copy of the bell carries, so a test can see that copy win over the kit's.
BADGE_MARKER = "data-fresh-project-badge"


def marked_badge_template() -> str:
    """The kit's ``inbox/badge.html``, copied and edited as the README says, with a marker on the bell.

    Copying the installed template (rather than writing a stand-in) keeps every partial the kit
    renders from it, whatever their names: the override changes one thing and breaks nothing.
    """
    import inbox

    kit = (Path(inbox.__file__).parent / "templates" / "inbox" / "badge.html").read_text()
    marked = kit.replace('id="inbox-badge"', f'id="inbox-badge" {BADGE_MARKER}')
    if marked == kit:
        raise AssertionError('inbox/badge.html no longer has id="inbox-badge": update the override in this test')
    return marked

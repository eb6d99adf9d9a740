"""Seed 000's filter syntax (inbox.contrib.api.params): every filter against a recount in Python
over random data, and a BadParameter naming the parameter for every malformed value."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.http import QueryDict
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.contrib.api.params import BadParameter, filter_queryset
from inbox.models import Notification
from inbox.services import manager, notifier
from tests.test_flags_any_value import Wide
from tests.testapp.models import Article

NOW = timezone.now().replace(microsecond=0)
FLAG_FIELDS = {1: "seen_at", 2: "read_at", 3: "archived_at", 4: "starred_at"}
TYPES = ["auth.user", "testapp.article"]
#: Built-ins, custom flags inside the old 5-62 range, and outside it (zero, negative, 32-bit edges).
FLAG_VALUES = [1, 2, 3, 4, 10, 11, *(member.value for member in Wide)]


class World:
    """Alice's random inbox, and what each row is, for recounting in Python."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.objects: dict[str, list[Any]] = {}


@pytest.fixture
def wide_flags() -> Any:
    Notification.flags_registry.add(Wide)
    yield Wide
    Notification.flags_registry.remove(Wide)


@pytest.fixture
def world(alice: User, bob: User, carol: User, priority_flags: Any, wide_flags: Any) -> World:
    rng = random.Random(20261123)
    articles = [Article.objects.create(title=f"Article {n}") for n in range(3)]
    people = [alice, bob, carol]
    candidates = people + articles
    world = World()
    world.objects = {"auth.user": people, "testapp.article": articles}
    sent: list[Notification] = []
    for n in range(40):
        actor = rng.choice([None, *candidates])
        target = rng.choice([None, *candidates])
        parent = rng.choice([None, None, *sent[-5:]]) if sent else None
        at = NOW - timedelta(hours=rng.randint(0, 200))
        [note] = notifier.send(f"n{n}", [alice], actor=actor, target=target, parent=parent, now=at)
        flags = [flag for flag in FLAG_VALUES if rng.random() < 0.3]
        if flags:
            manager.change_flags(Notification.objects.filter(pk=note.pk), add=flags)
        sent.append(note)
    later = notifier.send("scheduled", [alice], send_at=NOW + timedelta(days=1), now=NOW)
    for note in [*sent, *later]:
        note.refresh_from_db()
        world.rows.append(row_of(note))
    return world


def row_of(note: Notification) -> dict[str, Any]:
    def key(prefix: str) -> str | None:
        ct = getattr(note, f"{prefix}_type")
        return f"{ct.app_label}.{ct.model}~{getattr(note, f'{prefix}_id')}" if ct else None

    flags = {value for value, field in FLAG_FIELDS.items() if getattr(note, field) is not None}
    flags |= set(note.custom_flag_values())
    return {
        "uid": str(note.uid), "actor": key("actor"), "action": key("action"), "target": key("target"),
        "sent_at": note.sent_at, "published": note.is_published, "parent": str(note.parent.uid) if note.parent else None,
        "flags": flags,
    }


def type_of(key: str | None) -> str | None:
    return key.split("~")[0] if key else None


def expected(world: World, params: dict[str, list[str]]) -> set[str]:
    def split(name: str) -> list[list[str]]:
        return [[v for v in item.split(",") if v] for item in params.get(name, [])]

    def flat(name: str) -> list[str]:
        return [v for group in split(name) for v in group]

    def keep(row: dict[str, Any]) -> bool:
        if "ids" in params and row["uid"] not in flat("ids"):
            return False
        for name, field in (("actors", "actor"), ("targets", "target")):
            if name in params and row[field] not in flat(name):
                return False
        for name, field in (("actor_types", "actor"), ("target_types", "target")):
            if name in params and type_of(row[field]) not in flat(name):
                return False
        if "sent_at_before" in params and not row["sent_at"] <= datetime.fromisoformat(params["sent_at_before"][0]):
            return False
        if "sent_at_after" in params and not row["sent_at"] >= datetime.fromisoformat(params["sent_at_after"][0]):
            return False
        if "is_sent" in params:
            sent = row["published"] and row["sent_at"] <= NOW
            if sent != (params["is_sent"][0] == "true"):
                return False
        if "is_root" in params and (row["parent"] is None) != (params["is_root"][0] == "true"):
            return False
        if "parents" in params and row["parent"] not in flat("parents"):
            return False
        for group in split("flags"):
            if not row["flags"] & {int(v) for v in group}:
                return False
        return True

    return {row["uid"] for row in world.rows if keep(row)}


def params_strategy(world: World) -> st.SearchStrategy[dict[str, list[str]]]:
    uids = [row["uid"] for row in world.rows]
    keys = [f"{label}~{obj.pk}" for label, objs in world.objects.items() for obj in objs] + ["auth.user~999"]
    # The rows' own times, so "at or before" and "before" differ on the boundary.
    times = sorted({row["sent_at"].isoformat() for row in world.rows})

    def lists(values: list[str]) -> st.SearchStrategy[list[str]]:
        return st.lists(st.lists(st.sampled_from(values), min_size=1, max_size=3).map(",".join), min_size=1, max_size=2)

    one = st.sampled_from
    options = {
        "ids": lists(uids), "actors": lists(keys), "targets": lists(keys),
        "actor_types": lists(TYPES), "target_types": lists(TYPES),
        "sent_at_before": one(times).map(lambda t: [t]), "sent_at_after": one(times).map(lambda t: [t]),
        "is_sent": one(["true", "false"]).map(lambda v: [v]), "is_root": one(["true", "false"]).map(lambda v: [v]),
        "parents": lists(uids), "flags": lists([str(value) for value in FLAG_VALUES]),
    }
    return st.fixed_dictionaries({}, optional=options)


@pytest.mark.django_db
def test_every_filter_matches_a_recount_in_python(world: World, alice: User) -> None:
    base = Notification.objects.recipients([alice])

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(params=params_strategy(world))
    def check(params: dict[str, list[str]]) -> None:
        query = QueryDict(mutable=True)
        for name, values in params.items():
            query.setlist(name, values)
        found = {str(uid) for uid in filter_queryset(base, query, now=NOW).values_list("uid", flat=True)}
        assert found == expected(world, params), params

    check()


@pytest.mark.django_db
def test_flags_are_and_between_parameters_and_or_within_one(alice: User, priority_flags: Any) -> None:
    [read], [starred], [both] = (notifier.send(text, [alice]) for text in ("read", "starred", "both"))
    manager.mark_read(Notification.objects.filter(pk__in=[read.pk, both.pk]))
    manager.star(Notification.objects.filter(pk__in=[starred.pk, both.pk]))

    def found(text: str) -> set[str]:
        return set(filter_queryset(Notification.objects.all(), QueryDict(text)).values_list("message", flat=True))
    assert found("flags=2,4") == {"read", "starred", "both"}
    assert found("flags=2&flags=4") == {"both"}
    assert found("flags=2,&flags=") == {"read", "both"}  # blanks are ignored


@pytest.mark.parametrize("query, name", [
    ("ids=not-a-uid", "ids"),
    ("actors=auth.user", "actors"),
    ("actors=nosuch.model~1", "actors"),
    ("targets=auth.user~" + "9" * 65, "targets"),
    ("actor_types=user", "actor_types"),
    ("target_types=auth.nosuch", "target_types"),
    ("sent_at_before=yesterday", "sent_at_before"),
    ("sent_at_after=2026-13-40T00:00", "sent_at_after"),
    ("sent_at_after=2026-01-01&sent_at_after=2026-02-01", "sent_at_after"),
    ("is_sent=maybe", "is_sent"),
    ("is_root=2", "is_root"),
    ("parents=1", "parents"),
    ("flags=read", "flags"),
    ("flags=999", "flags"),
    ("ids=" + ",".join(str(uuid.uuid4()) for _ in range(501)), "ids"),
])
@pytest.mark.django_db
def test_a_malformed_value_names_its_parameter(query: str, name: str) -> None:
    with pytest.raises(BadParameter) as raised:
        filter_queryset(Notification.objects.all(), QueryDict(query))
    assert raised.value.name == name and str(raised.value).startswith(f"{name}: ")


@pytest.mark.django_db
def test_a_plain_dict_works_too(alice: User) -> None:
    [note] = notifier.send("hello", [alice])
    assert list(filter_queryset(Notification.objects.all(), {"ids": [str(note.uid)], "is_root": "true"})) == [note]

"""What each person receives outside the inbox: preferences per category × channel, and digest schedules.

The inbox itself always receives; these choices govern the channels a notification *leaves* it by
(e-mail, Slack, webhooks, a site's own), each channel whose ``in_preferences`` is true.

Only choices are stored (:class:`~inbox.models.Preference`): no row means on. A delivery goes when

    locked(category) or (master(channel) and cell(category, channel))

where ``master`` is the row (category "", channel), else on, and ``cell`` is the row
(category, channel), else the row (category, ""), else on. A locked category (a security notice)
always goes, and always at once: it never waits for a digest.

``send()`` asks :func:`decide` once for all its recipients: one query for their preferences and
one for their digest schedules, whatever their number.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_time
from django.utils.translation import gettext as _

from inbox import categories, dialect
from inbox.categories import Category
from inbox.channels import registry, windows
from inbox.channels.base import Channel
from inbox.exceptions import PreferenceError
from inbox.models import DigestSchedule, Frequency, Preference
from inbox.recipients import Key, key_of

#: Recipient keys per query when reading the choices of a send's recipients: one query up to
#: this many (about 1 MB of JSON), well under MariaDB's default 16 MB packet.
KEYS_PER_QUERY = 50_000


# -- Channels -------------------------------------------------------------------------------------


def preferences_channels() -> list[type[Channel]]:
    """The channels people choose for, in registration order: registered, ``in_preferences``, and
    usable on this site (their providers are configured)."""
    return [
        channel for channel in Channel.registry.values()
        if channel.in_preferences and all(
            name in registry.Provider.registry and registry.is_configured(name) for name in channel.providers
        )
    ]


def _is_preference_channel(name: str) -> bool:
    channel = Channel.registry.get(name)
    return channel is not None and channel.in_preferences


# -- Validation -----------------------------------------------------------------------------------


def _check_category(category: Any, *, master_allowed: bool) -> str:
    if category == "" and master_allowed:
        return ""
    if not categories.is_slug(category):
        raise PreferenceError(_("category must be a slug of 1 to 64 characters, not %(value)r.") % {"value": category})
    return category


def _check_channel(channel: Any) -> str:
    if not isinstance(channel, str) or channel not in Channel.registry:
        raise PreferenceError(_("Unknown channel %(value)r.") % {"value": channel})
    if not Channel.registry[channel].in_preferences:
        raise PreferenceError(
            _("The %(channel)s channel always receives everything: it has no preferences.")
            % {"channel": Channel.registry[channel].label}
        )
    return channel


def _check_enabled(enabled: Any) -> bool:
    if not isinstance(enabled, bool):
        raise PreferenceError(_("enabled must be True or False, not %(value)r.") % {"value": enabled})
    return enabled


def _refuse_locked(category: Category) -> None:
    raise PreferenceError(
        _("%(category)s notifications cannot be turned off.") % {"category": category.label}
    )


# -- Writing choices ------------------------------------------------------------------------------


def set_preference(recipient: models.Model, category: str, channel: str | None, enabled: bool) -> None:
    """Store one person's choice.

    ``channel=None`` sets ``category`` on every channel (and forgets its per-channel choices);
    ``category=""`` with a channel is that channel's master switch. Turning a locked category off
    raises :class:`PreferenceError` (turning it on is allowed and changes nothing: it is always on).
    Nothing is stored when the input is refused.
    """
    enabled = _check_enabled(enabled)
    category = _check_category(category, master_allowed=channel is not None)
    if channel is not None:
        channel = _check_channel(channel)
    type_id, object_id = key_of(recipient)
    if category and categories.get(category).locked:
        if not enabled:
            _refuse_locked(categories.get(category))
        return  # always on: a stored "on" would say nothing
    db = dialect.alias()
    now = timezone.now()
    with transaction.atomic(using=db):
        if channel is None:
            # The category-wide choice replaces the per-channel ones, so "off everywhere" means it.
            Preference.objects.using(db).filter(
                recipient_type_id=type_id, recipient_id=object_id, category=category
            ).exclude(channel="").delete()
        _upsert(
            Preference,
            Preference(recipient_type_id=type_id, recipient_id=object_id, category=category, channel=channel or "",
                       enabled=enabled, updated_at=now),
            unique=["recipient_type", "recipient_id", "category", "channel"],
            update=["enabled", "updated_at"],
            db=db,
        )


def set_schedule(
    recipient: models.Model,
    channel: str,
    frequency: str,
    *,
    time: datetime.time | str | None = None,
    weekday: int | None = None,
    time_zone: str | None = None,
) -> DigestSchedule:
    """How often ``recipient`` hears through ``channel``: immediately, or an hourly, daily (at
    ``time`` in ``time_zone``) or weekly (on ``weekday``, 0 = Monday) digest. A value left None
    keeps the stored one (or the default: 09:00, Monday, the site's time zone)."""
    channel = _check_channel(channel)
    if frequency not in Frequency.values:
        raise PreferenceError(
            _("frequency must be one of %(choices)s, not %(value)r.")
            % {"choices": ", ".join(Frequency.values), "value": frequency}
        )
    values: dict[str, Any] = {"frequency": str(frequency)}
    if time is not None:
        values["time"] = _check_time(time)
    if weekday is not None:
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise PreferenceError(_("weekday must be a number from 0 (Monday) to 6 (Sunday), not %(value)r.")
                                  % {"value": weekday})
        values["weekday"] = weekday
    if time_zone is not None:
        values["time_zone"] = _check_time_zone(time_zone)
    type_id, object_id = key_of(recipient)
    db = dialect.alias()
    values["updated_at"] = timezone.now()
    with transaction.atomic(using=db):
        _upsert(
            DigestSchedule,
            DigestSchedule(recipient_type_id=type_id, recipient_id=object_id, channel=channel, **values),
            unique=["recipient_type", "recipient_id", "channel"],
            update=list(values),
            db=db,
        )
        return DigestSchedule.objects.using(db).get(recipient_type_id=type_id, recipient_id=object_id, channel=channel)


def _check_time(value: datetime.time | str) -> datetime.time:
    parsed = value if isinstance(value, datetime.time) else None
    if isinstance(value, str):
        try:
            parsed = parse_time(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise PreferenceError(_("time must be a time of day such as 09:00, not %(value)r.") % {"value": value})
    return parsed.replace(tzinfo=None, microsecond=0)


def _check_time_zone(value: Any) -> str:
    if value == "" or windows.is_time_zone(value):
        return value
    raise PreferenceError(_("time_zone must be a time zone name such as Europe/Paris, not %(value)r.")
                          % {"value": value})


def _upsert(model: type[models.Model], row: models.Model, *, unique: list[str], update: list[str], db: str) -> None:
    """Insert ``row`` or, when its unique key exists, overwrite ``update``: one statement, so two
    requests saving at once never collide on the unique constraint."""
    features = connections[db].features
    # MariaDB/MySQL's ON DUPLICATE KEY UPDATE names no target: Django refuses one there.
    target = unique if features.supports_update_conflicts_with_target else None
    model._default_manager.using(db).bulk_create(
        [row], update_conflicts=True, unique_fields=target, update_fields=update
    )


# -- Reading them ---------------------------------------------------------------------------------


def is_enabled(recipient: models.Model, category: str, channel: str) -> bool:
    """Whether a notification of ``category`` reaches ``recipient`` through ``channel`` (one query;
    none for a locked category or a channel without preferences)."""
    key = key_of(recipient)
    if (category and categories.get(category).locked) or not _is_preference_channel(channel):
        return True
    rows = Preference.objects.using(dialect.alias()).filter(
        recipient_type_id=key[0], recipient_id=key[1], category__in={category, ""}, channel__in={channel, ""}
    ).values_list("category", "channel", "enabled")
    return _effective({(c, ch): e for c, ch, e in rows}, category, channel)


def _effective(choices: dict[tuple[str, str], bool], category: str, channel: str) -> bool:
    """The rule of the module docstring, over one person's stored (category, channel) choices."""
    if not choices.get(("", channel), True):
        return False
    cell = choices.get((category, channel))
    if cell is None:
        cell = choices.get((category, ""), True)
    return cell


@dataclasses.dataclass(frozen=True)
class Cell:
    """One switch of the grid: ``enabled`` is the person's choice for the cell (the master switch
    is shown apart); ``explicit`` says whether a stored choice, not the default, decides it."""

    channel: str
    enabled: bool
    locked: bool
    explicit: bool


@dataclasses.dataclass
class PreferenceGrid:
    """What the preferences page shows for one person."""

    #: (name, label) of each channel shown, in order.
    channels: list[tuple[str, Any]]
    #: Each channel's master switch.
    masters: dict[str, bool]
    #: Each declared category with its cells, one per channel of ``channels``.
    rows: list[tuple[Category, list[Cell]]]
    #: Each channel's schedule: the stored one, or an unsaved default (immediately, 09:00, Monday).
    schedules: dict[str, DigestSchedule]


def grid(recipient: models.Model) -> PreferenceGrid:
    """The page's grid for ``recipient``: two queries (choices, schedules)."""
    type_id, object_id = key_of(recipient)
    shown = preferences_channels()
    names = [channel.name for channel in shown]
    choices = {
        (c, ch): e for c, ch, e in Preference.objects.filter(recipient_type_id=type_id, recipient_id=object_id)
        .values_list("category", "channel", "enabled")
    }
    stored = {
        schedule.channel: schedule
        for schedule in DigestSchedule.objects.filter(recipient_type_id=type_id, recipient_id=object_id, channel__in=names)
    }
    rows = []
    for category in categories.registry:
        cells = []
        for name in names:
            own = choices.get((category.slug, name))
            if own is None:
                own = choices.get((category.slug, ""))
            cells.append(Cell(
                channel=name,
                enabled=True if category.locked else (True if own is None else own),
                locked=category.locked,
                explicit=own is not None and not category.locked,
            ))
        rows.append((category, cells))
    return PreferenceGrid(
        channels=[(channel.name, channel.label) for channel in shown],
        masters={name: choices.get(("", name), True) for name in names},
        rows=rows,
        schedules={
            name: stored.get(name) or DigestSchedule(recipient_type_id=type_id, recipient_id=object_id, channel=name)
            for name in names
        },
    )


# -- Deciding at send time ------------------------------------------------------------------------


#: What becomes of one delivery: (Delivery status, the digest window's end or None).
Outcome = tuple[str, "datetime.datetime | None"]

_PENDING, _SKIPPED, _DIGEST = "pending", "skipped", "digest"  # Delivery.Status values


def skipped_reason() -> str:
    """What a delivery that preferences turned off records as its ``last_error``."""
    return _("Turned off in the recipient's preferences")


@dataclasses.dataclass
class Decisions:
    """The choices of one send's recipients, read once; ask :meth:`outcome` per recipient × channel."""

    category: str
    #: The channels asked about that have preferences; any other channel always gets everything.
    channels: frozenset[str]
    now: datetime.datetime
    choices: dict[Key, dict[tuple[str, str], bool]]
    schedules: dict[Key, dict[str, DigestSchedule]]
    _locked: dict[str, bool] = dataclasses.field(default_factory=dict)
    _windows: dict[tuple[str, datetime.time, int, str], datetime.datetime] = dataclasses.field(default_factory=dict)

    def locked(self, category: str) -> bool:
        if category not in self._locked:
            self._locked[category] = bool(category) and categories.get(category).locked
        return self._locked[category]

    def enabled(self, key: Key, channel: str, category: str | None = None) -> bool:
        category = self.category if category is None else category
        if channel not in self.channels or self.locked(category):
            return True
        return _effective(self.choices.get(key, {}), category, channel)

    def outcome(self, key: Key, channel: str, category: str | None = None) -> Outcome:
        """("pending", None), ("skipped", None) or ("digest", end of the recipient's window)."""
        category = self.category if category is None else category
        if channel not in self.channels or self.locked(category):
            return _PENDING, None
        if not _effective(self.choices.get(key, {}), category, channel):
            return _SKIPPED, None
        schedule = self.schedules.get(key, {}).get(channel)
        if schedule is None or schedule.frequency == Frequency.IMMEDIATELY:
            return _PENDING, None
        return _DIGEST, self._window_end(schedule)

    def _window_end(self, schedule: DigestSchedule) -> datetime.datetime:
        # Recipients mostly share a few schedules: work each window out once.
        time_zone = schedule.time_zone or settings.TIME_ZONE
        cache_key = (schedule.frequency, schedule.time, schedule.weekday, time_zone)
        if cache_key not in self._windows:
            self._windows[cache_key] = windows.window_end(
                schedule.frequency, time=schedule.time, weekday=schedule.weekday, time_zone=time_zone, now=self.now
            )
        return self._windows[cache_key]


def decide(
    keys: Iterable[Key], category: str, channels: Iterable[str], now: datetime.datetime, *, using: str | None = None
) -> Decisions:
    """The choices of every recipient in ``keys`` for ``category`` on ``channels``: one query for
    their preferences and one for their digest schedules, whatever their number (none for
    channels without preferences; no schedules for a locked category). ``now`` is when the
    deliveries become due: a digest waits for the end of the window that contains it."""
    return decide_many(keys, [category], channels, now, using=using)


def decide_many(
    keys: Iterable[Key], categories_: Collection[str], channels: Iterable[str], now: datetime.datetime, *,
    using: str | None = None, schedules: bool = True,
) -> Decisions:
    """:func:`decide` for notifications of several categories (a preparation pipeline may change
    them): still one query each, reading the rows of all of them. ``schedules=False`` reads only
    the preferences (whether each may go, not when)."""
    wanted = frozenset(name for name in channels if _is_preference_channel(name))
    cats = list(dict.fromkeys(categories_)) or [""]
    decisions = Decisions(category=cats[0], channels=wanted, now=now, choices={}, schedules={})
    unique_keys = list(dict.fromkeys(keys))
    if not wanted or not unique_keys:
        return decisions
    db = using or dialect.alias()
    for row in _read(Preference, unique_keys, db, category__in={*cats, ""}, channel__in={*wanted, ""}):
        decisions.choices.setdefault((row.recipient_type_id, row.recipient_id), {})[(row.category, row.channel)] = row.enabled
    if schedules and not all(decisions.locked(category) for category in cats):
        for schedule in _read(DigestSchedule, unique_keys, db, channel__in=wanted):
            if schedule.frequency != Frequency.IMMEDIATELY:
                decisions.schedules.setdefault(
                    (schedule.recipient_type_id, schedule.recipient_id), {}
                )[schedule.channel] = schedule
    return decisions


def _read(model: type[models.Model], keys: Sequence[Key], db: str, **filters: Iterable[str]) -> Iterable[Any]:
    """The rows of ``model`` for ``keys`` matching ``filters`` (``field__in``): the keys travel as one
    JSON parameter and the database joins them, so a send to 100,000 people is still one query."""
    connection = connections[db]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    conditions, params = [], []
    for lookup, values in filters.items():
        field = model._meta.get_field(lookup.removesuffix("__in"))
        assert isinstance(field, models.Field)
        column = quote(str(field.column))
        ordered = sorted(values)
        conditions.append(f"t.{column} IN ({', '.join(['%s'] * len(ordered))})")
        params += ordered
    rows: list[Any] = []
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start:start + KEYS_PER_QUERY]
        join, matches, key_params = dialect.recipient_keys_join(connection, "t", chunk)
        sql = f"SELECT t.* FROM {table} t {join} WHERE {' AND '.join([matches, *conditions])}"
        # raw() runs the fields' converters (a TimeField comes back a time on every database).
        # The keys' parameters come first: in the JOIN, or in the WHERE's first condition.
        rows += model._default_manager.using(db).raw(sql, [*key_params, *params])
    return rows


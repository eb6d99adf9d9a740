"""The inbox list's rows as HTML, built in Python: the same markup as ``inbox/inbox.html#row``.

The row partial costs about a thousand template nodes per row (a page of 25 rows was most of the
page's time). This renderer writes the same HTML with what every row shares worked out once per
page (URLs reversed once, words translated once, icons and the snooze menu built once) and only
the row's own values escaped per row. ``{% inbox_rows %}`` uses it when it renders the kit's own
``inbox/inbox.html``; a site's copy of that template renders its own ``row`` partial instead, and
a site's ``inbox/avatar.html`` is still rendered for each row (see :func:`kit_template`).

tests/test_rows.py renders many kinds of row both ways and requires the same HTML.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.template import Context
from django.template.defaultfilters import truncatechars
from django.template.loader import get_template
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.formats import get_format, localize
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

from inbox import categories, shortcodes
from inbox.models import Notification
from inbox.templatetags import icons

#: Columns the row lays out itself; any other column a Table subclass declares is shown in the
#: row's meta line, so subclassing the Table still adds what it adds.
ROW_COLUMNS = frozenset({"message", "category", "level", "sent_at"})
#: A uid no notification has: reversed once per page, then replaced by each row's uid.
_UID_HOLE = "00000000-0000-0000-0000-000000000000"
_TEMPLATES = Path(__file__).resolve().parent / "templates"
#: What the template engine applies to a value before a filter or output (django-stubs lacks it).
_template_localtime: Callable[[Any], Any] = timezone.template_localtime  # type: ignore[attr-defined]


@functools.cache
def _is_kit_file(origin_name: str, template_name: str) -> bool:
    try:
        return Path(origin_name).resolve() == _TEMPLATES / template_name
    except (OSError, ValueError):
        return False


def kit_template(origin: Any, template_name: str) -> bool:
    """Whether ``origin`` (a template's) is the kit's own file ``template_name``, not a site's copy."""
    name = getattr(origin, "name", None)
    return isinstance(name, str) and _is_kit_file(name, template_name)


def _value(value: Any) -> str:
    """A value as ``{{ value }}`` writes it (django.template.base.render_value_in_context)."""
    value = localize(_template_localtime(value))
    return conditional_escape(value if issubclass(type(value), str) else str(value))


def _time_attributes(value: Any, title_format: str) -> str:
    """``datetime="{{ value|date:'c' }}" title="{{ value|date:'DATETIME_FORMAT' }}"`` with the
    format looked up once per page ("c" is the local time's isoformat())."""
    local = _template_localtime(value)
    return (f'datetime="{conditional_escape(local.isoformat())}" '
            f'title="{conditional_escape(dateformat.format(local, title_format))}"')


def _uid_url(name: str) -> tuple[str, str]:
    """``name``'s URL around its uid, reversed once: (before, after)."""
    url = reverse(name, args=[_UID_HOLE])
    before, _hole, after = url.partition(_UID_HOLE)
    return conditional_escape(before), conditional_escape(after)


class RowRenderer:
    """Renders the rows of one page. Build one per render: it holds the request's URLs and time."""

    def __init__(self, context: Context | dict[str, Any]) -> None:
        from inbox.templatetags.inbox import inbox_ago, inbox_ago_long, inbox_avatar_url, inbox_initials, inbox_tone

        self._ago, self._ago_long = inbox_ago, inbox_ago_long
        self._avatar_url, self._initials, self._tone = inbox_avatar_url, inbox_initials, inbox_tone
        table = context.get("table")
        self.table = table
        detail_query = getattr(table, "detail_query", "") if table is not None else ""
        self.detail_before, self.detail_after = _uid_url("inbox:detail")
        if detail_query:
            self.detail_after += "?" + conditional_escape(detail_query)
        self.action_before, self.action_after = _uid_url("inbox:action")
        self.extra_columns = [column for column in table.columns if column.name not in ROW_COLUMNS] if table is not None else []
        self.title_format = get_format("DATETIME_FORMAT")
        self.icons: dict[tuple[str, int], str] = {}
        # An actor's face (initials and colour, or picture) is the same on each of its rows.
        self.faces: dict[tuple[type, Any], str] = {}
        self.categories: dict[str, categories.Category | None] = {}
        self.words = {
            word: conditional_escape(gettext(word))
            for word in ("Unread.", "Starred", "Unsnooze", "Mark unread", "Mark read", "Unstar", "Star",
                         "Move to inbox", "Archive", "Snooze", "Snooze until", "Pick a time…")
        }
        # The snooze menu differs between rows only by the action URL and the uid.
        self.snooze_presets = [(conditional_escape(localize(value)), conditional_escape(localize(label)))
                               for value, label in context.get("snooze_presets") or ()]
        self.snooze_min = _value(context.get("snooze_min", ""))
        self.snooze_max = _value(context.get("snooze_max", ""))
        # A site's avatar partial gets the page's context, as the template's {% include %} gives it.
        self.context = context if isinstance(context, Context) else None
        avatar = get_template("inbox/avatar.html#avatar")
        # A site's own avatar partial is rendered for each row; the kit's is written here.
        self.avatar_template = None if kit_template(getattr(avatar, "origin", None), "inbox/avatar.html") else avatar

    # -- pieces shared by rows --------------------------------------------------------------

    def icon(self, name: str, size: int) -> str:
        key = (name, size)
        if key not in self.icons:
            from inbox.templatetags.inbox import inbox_icon

            self.icons[key] = inbox_icon(name, size)
        return self.icons[key]

    def category(self, slug: str) -> categories.Category | None:
        if slug not in self.categories:
            self.categories[slug] = categories.get(slug) if slug else None
        return self.categories[slug]

    def category_icon(self, category: categories.Category | None) -> str:
        return icons.icon_for_category(category.slug, category.icon) if category else "bell"

    # -- one row ----------------------------------------------------------------------------

    def render_rows(self, rows: Iterable[Any]) -> SafeString:
        return mark_safe("".join(self.render(row) for row in rows))

    def render(self, row: Any) -> str:
        """One ``<li>``: ``row`` is a django-tables2 BoundRow (``row.record`` the Notification)."""
        notification: Notification = getattr(row, "record", row)
        uid = escape(notification.uid)
        published = notification.is_published
        is_read, is_starred = notification.is_read, notification.is_starred
        unread = not is_read and published
        grouped = notification.group_size > 1
        classes = "inbox-row"
        if unread:
            classes += " is-unread"
        if is_starred:
            classes += " is-starred"
        if grouped:
            classes += " is-group"
        if not published:
            classes += " is-snoozed"
        category = self.category(notification.category)
        text = shortcodes.expand_text(notification.message, {"request": None, "notification": notification})
        select_label = gettext("Select “%(message)s”") % {"message": conditional_escape(truncatechars(text, 80))}
        message_html = shortcodes.expand_html(notification.message, {"request": None, "notification": notification})
        stack = " inbox-row__avatar--stack" if notification.group_actors > 1 else ""
        parts = [
            f'<li id="inbox-row-{uid}" class="{classes}"\n    data-inbox-row tabindex="-1" '
            f'data-unread="{"0" if is_read else "1"}" data-starred="{"1" if is_starred else "0"}"\n'
            f'    data-archived="{"1" if notification.is_archived else "0"}">\n'
            f'  <span class="inbox-row__select">\n'
            f'    <input type="checkbox" name="uid" value="{uid}" id="inbox-select-{uid}"\n'
            f'           aria-label="{select_label}">\n'
            f'    <input type="hidden" name="page_uid" value="{uid}">\n'
            f'  </span>\n'
            f'  <span class="inbox-row__avatar{stack}">{self.avatar(notification, category)}</span>\n'
            f'  <div class="inbox-row__main">\n'
            f'    <button type="submit" form="inbox-open" class="inbox-open"\n'
            f'            formaction="{self.detail_before}{uid}{self.detail_after}">{message_html}</button>\n'
            f'    <span class="inbox-row__meta">\n',
        ]
        if unread:
            parts.append(f'      <span class="inbox-visually-hidden">{self.words["Unread."]}</span>\n')
        if grouped:
            parts.append(self.group_pill(notification.group_size))
        if category is not None:
            parts.append(f'      <span class="inbox-chip inbox-chip--static">{self.icon(self.category_icon(category), 12)}'
                         f'{_value(category.label)}</span>\n')
        level_name = notification.level_name
        if level_name in ("warning", "error"):
            parts.append(f'      <span class="inbox-level inbox-level--{level_name}">'
                         f'{_value(notification.get_level_display())}</span>\n')
        if is_starred:
            parts.append(f'      <span class="inbox-row__star">{self.icon("star-fill", 14)}'
                         f'<span class="inbox-visually-hidden">{self.words["Starred"]}</span></span>\n')
        for column in self.extra_columns:
            cell = row.get_cell(column.name)
            parts.append(f'<span class="inbox-row__extra inbox-cell--{_value(column.name)}">'
                         f'<span class="inbox-visually-hidden">{_value(column.header)}: </span>{_value(cell)}</span>')
        parts.append('    </span>\n  </div>\n')
        parts.append(self.time(notification, published))
        parts.append(self.actions(notification, uid, published, is_read, is_starred))
        parts.append("</li>\n")
        return "".join(parts)

    def avatar(self, notification: Notification, category: categories.Category | None) -> str:
        actor = notification.actor
        if self.avatar_template is not None:
            if self.context is None:
                return self.avatar_template.render({"notification": notification, "actor": actor})
            with self.context.push(notification=notification, actor=actor):
                compiled: Any = self.avatar_template.template  # type: ignore[attr-defined]  # the compiled partial
                return str(compiled.render(self.context))
        level_name = notification.level_name
        if not actor:
            return (f'\n<span class="inbox-avatar inbox-avatar--icon inbox-avatar--{level_name}" aria-hidden="true">'
                    f'{self.icon(self.category_icon(category), 16)}</span>\n')
        key = (type(actor), actor.pk)
        face = self.faces.get(key) if actor.pk is not None else None
        if face is None:
            face = self.face(actor)
            if actor.pk is not None:
                self.faces[key] = face
        badge = ""
        if category is not None:
            badge = (f'<span class="inbox-avatar__badge inbox-avatar__badge--{level_name}" aria-hidden="true">'
                     f'{self.icon(self.category_icon(category), 10)}</span>')
        return f'\n<span class="inbox-avatar-wrap">\n  {face}\n  {badge}\n</span>\n'

    def face(self, actor: Any) -> str:
        picture = self._avatar_url(actor)
        if picture:
            return f'<img class="inbox-avatar" src="{_value(picture)}" alt="" width="32" height="32" loading="lazy">'
        tone = self._tone(actor.pk or actor)
        return (f'<span class="inbox-avatar inbox-avatar--tone-{_value(tone)}" aria-hidden="true">'
                f'{_value(self._initials(actor))}</span>')

    def group_pill(self, size: int) -> str:
        count = _value(size)
        title = ngettext("%(counter)s notification", "%(counter)s notifications", size) % {"counter": count}
        spoken = ngettext("%(counter)s notification in this group.", "%(counter)s notifications in this group.",
                          size) % {"counter": count}
        return (f'      <span class="inbox-count-pill" title="{title}"><span aria-hidden="true">{count}</span>'
                f'<span class="inbox-visually-hidden">{spoken}</span></span>\n')

    def time(self, notification: Notification, published: bool) -> str:
        until = notification.snoozed_until
        if until and not published:
            from inbox.templatetags.inbox import inbox_until

            when = gettext("Until %(when)s") % {"when": conditional_escape(inbox_until(until))}
            return (f'  <time class="inbox-row__time inbox-row__time--until" {_time_attributes(until, self.title_format)}>'
                    f'{self.icon("clock", 14)}{when}</time>\n')
        sent_at = notification.sent_at
        return (f'  <time class="inbox-row__time" {_time_attributes(sent_at, self.title_format)}><span aria-hidden="true">'
                f'{conditional_escape(self._ago(sent_at))}</span><span class="inbox-visually-hidden">'
                f'{conditional_escape(self._ago_long(sent_at))}</span></time>\n')

    def actions(self, notification: Notification, uid: str, published: bool, is_read: bool, is_starred: bool) -> str:
        url = f"{self.action_before}{uid}{self.action_after}"
        parts = ['<span class="inbox-row__actions">\n']
        if not published:
            parts.append(self.action(url, "unsnooze", "bell", "Unsnooze"))
        else:
            parts.append(self.action(url, "unread", "mail", "Mark unread") if is_read
                         else self.action(url, "read", "check", "Mark read"))
            parts.append(self.action(url, "unstar", "star-fill", "Unstar", on=True) if is_starred
                         else self.action(url, "star", "star", "Star"))
            parts.append(self.snooze_menu(url, uid))
            parts.append(self.action(url, "unarchive", "unarchive", "Move to inbox") if notification.is_archived
                         else self.action(url, "archive", "archive", "Archive"))
        parts.append("</span>\n")
        return "".join(parts)

    def action(self, url: str, action: str, icon: str, word: str, *, on: bool = False) -> str:
        label = self.words[word]
        return (
            f'  <button type="submit" form="inbox-act" formaction="{url}" name="action" value="{action}" '
            f'class="inbox-button inbox-button--icon inbox-button--ghost{" is-on" if on else ""}"\n'
            f'          hx-post="{url}" hx-include="#inbox-act" hx-vals=\'{{"action": "{action}"}}\' '
            f'hx-target="#inbox-results" hx-swap="outerHTML"\n'
            f'          hx-sync="#inbox-results:replace" data-inbox-row-action="{action}" title="{label}">'
            f'{self.icon(icon, 16)}<span class="inbox-visually-hidden">{label}</span></button>\n'
        )

    def snooze_menu(self, url: str, uid: str) -> str:
        words = self.words
        presets = "".join(
            f'    <button type="submit" form="inbox-act" formaction="{url}" name="until" value="{value}" '
            f'class="inbox-menu__item"\n'
            f'            hx-post="{url}" hx-include="#inbox-act" hx-vals=\'{{"action": "snooze", "until": "{value}"}}\' '
            f'hx-target="#inbox-results"\n'
            f'            hx-swap="outerHTML" hx-sync="#inbox-results:replace" data-inbox-snooze="{value}">{label}</button>\n'
            for value, label in self.snooze_presets
        )
        return (
            f'<details class="inbox-menu" data-inbox-menu>\n'
            f'  <summary class="inbox-button inbox-button--icon inbox-button--ghost" title="{words["Snooze"]}">'
            f'{self.icon("clock", 16)}<span class="inbox-visually-hidden">{words["Snooze"]}</span></summary>\n'
            f'  <div class="inbox-menu__panel" role="group" aria-label="{words["Snooze until"]}">\n'
            f'{presets}'
            f'    <div class="inbox-menu__pick">\n'
            f'      <label for="inbox-until-{uid}">{words["Pick a time…"]}</label>\n'
            f'      <input type="datetime-local" id="inbox-until-{uid}" name="until_at" form="inbox-act" '
            f'min="{self.snooze_min}" max="{self.snooze_max}">\n'
            f'      <button type="submit" form="inbox-act" formaction="{url}" name="action" value="snooze" '
            f'class="inbox-button inbox-button--small inbox-button--primary">{words["Snooze"]}</button>\n'
            f'    </div>\n  </div>\n</details>\n'
        )

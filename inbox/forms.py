"""Validation of the inbox's request parameters: anything bad is a 400 with a message, never a 500."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox import conf, snooze_times

BULK_ACTIONS = [
    ("read", _("Mark read")),
    ("unread", _("Mark unread")),
    ("archive", _("Archive")),
    ("unarchive", _("Move to inbox")),
    ("star", _("Star")),
    ("unstar", _("Unstar")),
    ("snooze", _("Snooze")),
    ("unsnooze", _("Unsnooze")),
    ("delete", _("Delete")),
]
#: One notification's actions beyond the bulk ones: a thread is muted from its detail page.
ONE_ACTIONS = [*BULK_ACTIONS, ("mute", _("Mute thread")), ("unmute", _("Unmute thread"))]
SCOPES = [
    ("selected", _("Selected")),
    ("page", _("All on this page")),
    ("matching", _("All matching")),
]
#: The highest page number the list accepts. The database skips (page - 1) * per_page rows,
#: which overflows a 64-bit OFFSET (a 500) for absurd numbers long before it is useful:
#: a million pages of the smallest size is deeper than any inbox is read by paging.
MAX_PAGE = 1_000_000
#: Most notifications one request may name (uid / page_uid), so a POST cannot build a huge IN ().
MAX_SELECTED = 1000


class ListParamsForm(forms.Form):
    """Page, page size and sort of the inbox list."""

    page = forms.IntegerField(
        min_value=1, max_value=MAX_PAGE, required=False,
        error_messages={"max_value": _("There are no pages past %(limit_value)s.")},
    )
    per_page = forms.TypedChoiceField(coerce=int, required=False)
    sort = forms.CharField(required=False, max_length=40)

    def __init__(self, *args: Any, sortable: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sizes = conf.get("PAGE_SIZES")
        per_page = self.fields["per_page"]
        assert isinstance(per_page, forms.TypedChoiceField)
        per_page.choices = [(size, size) for size in sizes]
        self.sortable = sortable

    def clean_sort(self) -> str:
        sort = self.cleaned_data.get("sort") or ""
        # One leading "-" means descending; "--level" is not a column.
        if sort and sort.removeprefix("-") not in self.sortable:
            raise forms.ValidationError(_("Cannot sort by %(sort)s."), params={"sort": sort})
        return sort


class SnoozeFieldsMixin(forms.Form):
    """``until`` for ``action=snooze``: a preset or a ``datetime-local`` value.

    A button sends one name and value, so the snooze menu's presets are buttons ``until=<preset>``
    with no ``action`` (it is implied), and its time pickers are inputs ``until_at`` (the rows'
    pickers share one form: the one filled in counts).
    """

    until = forms.CharField(required=False, max_length=40)
    until_at = forms.Field(required=False)

    def clean_snooze(self, data: dict[str, Any]) -> dict[str, Any]:
        until = data.get("until") or ""
        if not data.get("action"):
            if until:
                data["action"] = "snooze"
            elif "action" not in self.errors:
                self.add_error("action", forms.ValidationError(_("Choose an action."), code="required"))
                return data
        if data.get("action") != "snooze":
            data["until"] = None
            return data
        if not until:
            picked = self.data.getlist("until_at") if hasattr(self.data, "getlist") else [self.data.get("until_at", "")]
            values = {str(value).strip() for value in picked if value and str(value).strip()}
            if len(values) > 1:
                self.add_error(None, forms.ValidationError(_("Choose one time to snooze until."), code="ambiguous"))
                return data
            until = values.pop() if values else ""
        try:
            data["until"] = snooze_times.until_from(until)
        except forms.ValidationError as error:
            self.add_error(None, error)
        return data


class BulkForm(SnoozeFieldsMixin, forms.Form):
    action = forms.ChoiceField(choices=BULK_ACTIONS, required=False)
    scope = forms.ChoiceField(choices=SCOPES, required=False)
    # Repeated fields of uids, validated in clean_<name>.
    uid = forms.Field(required=False)
    page_uid = forms.Field(required=False)
    confirm = forms.BooleanField(required=False)
    # The "select all" checkbox: without JavaScript it cannot tick the rows, so ticking it
    # means "this page" when the scope is left at "selected".
    select_page = forms.BooleanField(required=False)

    def _uids(self, name: str) -> list[str]:
        import uuid

        values = self.data.getlist(name) if hasattr(self.data, "getlist") else self.data.get(name, [])
        if len(values) > MAX_SELECTED:
            raise forms.ValidationError(_("Too many notifications selected at once."))
        try:
            return [str(uuid.UUID(value)) for value in values]
        except (ValueError, TypeError, AttributeError):
            raise forms.ValidationError(_("That is not a valid notification id.")) from None

    def clean_uid(self) -> list[str]:
        return self._uids("uid")

    def clean_page_uid(self) -> list[str]:
        return self._uids("page_uid")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scope = data.get("scope") or "selected"
        if scope == "selected" and data.get("select_page"):
            scope = "page"
        data["scope"] = scope
        if scope == "selected" and not data.get("uid") and "uid" not in self.errors:
            raise forms.ValidationError(_("Select at least one notification."))
        return self.clean_snooze(data)


class ActionForm(SnoozeFieldsMixin, forms.Form):
    """One action on one notification (a row's buttons, the detail page's)."""

    action = forms.ChoiceField(choices=ONE_ACTIONS, required=False)
    #: Where the answer goes: back to the list (with its state) or the detail page.
    next = forms.ChoiceField(choices=[("list", "list"), ("detail", "detail")], required=False)
    confirm = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        return self.clean_snooze(super().clean() or {})

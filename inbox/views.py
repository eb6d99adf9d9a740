"""Inbox pages and fragments.

Every query starts from the requester's recipients (``INBOX["RECIPIENTS_RESOLVER"]``), so
another user's notification is a 404. Changes are POST-only, with CSRF; each works without
JavaScript (post, redirect, get) and, for HTMX requests, answers with the fragments to swap.

A change validates everything it will use (the action, the selection, the filters and the
list's page, size and sort) before it touches a row: once rows have changed, the answer must
say so, never fail with a 500 that tells the reader it did not happen.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import EmptyPage
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseClientRefresh,
    push_url,
    replace_url,
    reswap,
    retarget,
    trigger_client_event,
)
from django_htmx.middleware import HtmxDetails
from django_tables2.paginators import LazyPaginator

from inbox import categories, conf, recipients, sections, stats
from inbox.exceptions import NotificationError
from inbox.filters import UNPUBLISHED_STATUSES
from inbox.forms import BULK_ACTIONS, SCOPES, ActionForm, BulkForm, ListParamsForm
from inbox.models import GroupedItem, Notification
from inbox.recipients import key_of
from inbox.services import manager
from inbox.snooze_times import describe_until, picker_context

logger = logging.getLogger(__name__)

ACTIONS: dict[str, Callable[[QuerySet[Notification]], int]] = {
    "read": manager.mark_read,
    "unread": manager.mark_unread,
    "archive": manager.archive,
    "unarchive": manager.unarchive,
    "star": manager.star,
    "unstar": manager.unstar,
    "unsnooze": manager.unsnooze,
    "delete": manager.delete,
}
#: Actions that also reach snoozed notifications (unpublished until their time); the others change
#: only published ones, so a stale "Archive" on a row snoozed since changes nothing.
SNOOZED_ACTIONS = frozenset({"snooze", "unsnooze", "delete", "mute", "unmute"})
#: How many earlier items of a group the detail page lists (it says how many more there are).
GROUP_ITEMS_SHOWN = 50
#: Request parameters that are not filters but belong to the list's state.
LIST_PARAMS = ("sort", "per_page", "page")
#: The element of the inbox page that HTMX requests for the list swap.
RESULTS_ID = "inbox-results"
#: The client event that tells the kit's fragments (the preview) the inbox changed.
CHANGED_EVENT = "inbox:changed"
#: The element of the detail page that its actions re-render in place.
DETAIL_ID = "inbox-detail"
#: The status tabs: (status, label). Their counts come from Stats (see tab_counts), never a COUNT(*).
TABS = [
    ("all", gettext_lazy("Inbox")),
    ("unread", gettext_lazy("Unread")),
    ("starred", gettext_lazy("Starred")),
    ("snoozed", gettext_lazy("Snoozed")),
    ("archived", gettext_lazy("Archived")),
    ("everything", gettext_lazy("All")),
]
#: Bulk actions that make no sense in a tab (everything there is already so).
HIDDEN_ACTIONS: dict[str, set[str]] = {
    "all": {"unarchive", "unsnooze"},
    "unread": {"unread", "unarchive", "unsnooze"},
    "read": {"read", "unarchive", "unsnooze"},
    "starred": {"star", "unsnooze"},
    # A snoozed notification waits for its time: it can only come back now or go.
    "snoozed": {value for value, _label in BULK_ACTIONS} - {"unsnooze", "delete"},
    "archived": {"archive", "unsnooze"},
    "everything": {"unsnooze"},
}


def tab_counts(counts: stats.Counts) -> dict[str, int]:
    """How many each status holds, from the one Stats read the page makes anyway.

    Snoozed notifications are not counted (Stats count published ones), so that tab has no number.
    """
    active = counts.total - counts.archived
    return {
        "all": active,
        "unread": counts.unread,
        "read": active - counts.unread,
        "starred": counts.starred,
        "archived": counts.archived,
        "everything": counts.total,
    }


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``?`` + params with changes applied (None or "" removes one); "" when nothing is left."""
    merged = {**params, **changes}
    query = urlencode({key: value for key, value in merged.items() if value not in (None, "")})
    return f"?{query}" if query else ""


def htmx_details(request: HttpRequest) -> HtmxDetails:
    """``request.htmx``, also where a site left django-htmx's middleware out (check inbox.W010)."""
    details = getattr(request, "htmx", None)
    if not isinstance(details, HtmxDetails):
        details = HtmxDetails(request)
        request.htmx = details  # type: ignore[attr-defined]
    return details


def is_htmx(request: HttpRequest) -> bool:
    """An HTMX request for a fragment; a history restore (cache miss) wants the whole page."""
    details = htmx_details(request)
    return bool(details) and not details.history_restore_request


class InboxViewMixin:
    """Resolves the requester's recipients; anonymous visitors with none are sent to log in."""

    request: HttpRequest
    recipients: list[Any]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        htmx_details(request)
        self.recipients = recipients.for_request(request)
        response: HttpResponseBase
        if not self.recipients and not request.user.is_authenticated:
            response = HttpResponse(status=401) if is_htmx(request) else redirect_to_login(request.get_full_path())
        else:
            response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        # Every answer here is one person's inbox: no shared cache, proxy or back-forward cache
        # may keep it (add_never_cache_headers also says "private").
        add_never_cache_headers(response)
        # Whether the answer is a fragment, a page or a 401 depends on HX-Request.
        patch_vary_headers(response, ("HX-Request",))
        return response

    def visible(self) -> QuerySet[Notification]:
        """Everything this request may see: its recipients' notifications that are sent and unexpired."""
        return Notification.objects.recipients(self.recipients).sent().unexpired()

    def snoozed(self) -> QuerySet[Notification]:
        """This request's snoozed notifications: unpublished until their time, listed only in "Snoozed"."""
        return Notification.objects.recipients(self.recipients).snoozed().unexpired()

    def reachable(self) -> QuerySet[Notification]:
        """What the detail page and the snooze, delete and mute actions reach: visible or snoozed."""
        mine = Notification.objects.recipients(self.recipients).unexpired()
        return mine.sent() | mine.snoozed()

    def owner(self, notification: Notification) -> Any:
        """The requester's recipient that ``notification`` belongs to (no query when it is one of them)."""
        key = (notification.recipient_type_id, notification.recipient_id)
        for recipient in self.recipients:
            if key_of(recipient) == key:
                return recipient
        return notification.recipient

    def counts(self) -> stats.Counts:
        if not hasattr(self, "_counts"):
            self._counts = stats.counts_for(self.recipients)
        return self._counts

    def base_context(self) -> dict[str, Any]:
        return {"inbox_base_template": conf.get("BASE_TEMPLATE"), "inbox_counts": self.counts()}


class InboxListMixin(InboxViewMixin):
    """Builds the inbox list (filters, table, pagination) from a set of parameters."""

    template_name = "inbox/inbox.html"

    def get_table_class(self) -> type:
        return conf.load(conf.get("TABLE_CLASS"))

    def get_filterset_class(self) -> type:
        return conf.load(conf.get("FILTERSET_CLASS"))

    def get_filterset(self, params: QueryDict) -> Any:
        # Snoozed notifications are unpublished: that tab starts from them, every other from visible().
        base = self.snoozed() if params.get("status") in UNPUBLISHED_STATUSES else self.visible()
        return self.get_filterset_class()(params, queryset=base, request=self.request)

    def get_list_form(self, params: QueryDict) -> ListParamsForm:
        return ListParamsForm(params, sortable=sortable_columns(self.get_table_class()))

    def list_errors(self, filterset: Any, list_form: ListParamsForm) -> list[str]:
        """Every problem with the filters and the list's page, size and sort, as readable lines."""
        errors = []
        if not filterset.is_valid():
            fields = filterset.form.fields
            errors += [f"{fields[name].label}: {_joined(e)}" if name in fields else _joined(e)
                       for name, e in filterset.errors.items()]
        if not list_form.is_valid():
            errors += [_joined(e) for e in list_form.errors.values()]
        return errors

    def list_context(self, params: QueryDict, *, clamp: bool = False) -> tuple[dict[str, Any], int]:
        """The context of the list for ``params``, and the status code (400 for bad input).

        A page past the end is a 404; with ``clamp`` (after a change emptied the page the
        reader was on) it is the first page instead.
        """
        filterset = self.get_filterset(params)
        table_class = self.get_table_class()
        list_form = self.get_list_form(params)
        errors = self.list_errors(filterset, list_form)
        valid = not errors
        options = list_form.cleaned_data if valid else {}
        # The rows show who acted (an avatar): one query per actor model for the page, not one per row.
        rows = filterset.qs.prefetch_related("actor") if valid else Notification.objects.none()
        status = filterset.current_status if valid else "all"
        snoozed_tab = status in UNPUBLISHED_STATUSES
        # A snoozed row's sent_at is when it comes back: the soonest first ("-sent_at" reverses the
        # column's newest-first order).
        table = table_class(rows, order_by=options.get("sort") or ("-sent_at" if snoozed_tab else None))
        per_page = options.get("per_page") or conf.get("PAGE_SIZES")[0]
        try:
            table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=options.get("page") or 1)
        except EmptyPage:
            if not clamp:
                raise Http404(_("That page is past the end of the list.")) from None
            table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=1)
        filter_params = filterset.active_filters()
        state = dict(filter_params)
        if options.get("sort"):
            state["sort"] = options["sort"]
        if options.get("per_page") and options["per_page"] != conf.get("PAGE_SIZES")[0]:
            state["per_page"] = options["per_page"]
        table.detail_query = urlencode(filter_params)
        context = {
            **self.base_context(),
            "filterset": filterset,
            "table": table,
            "page": table.page,
            "filter_errors": errors,
            "filter_params": filter_params,
            "list_state": state,
            "list_query": urlencode(state),
            "bulk_actions": [(value, label) for value, label in BULK_ACTIONS
                             if value not in HIDDEN_ACTIONS.get(status, set())],
            "bulk_scopes": SCOPES,
            "matching_count": self.matching_count(filterset) if valid else None,
            "has_filters": valid and not filterset.only_status(),
            "page_sizes": [(size, size) for size in conf.get("PAGE_SIZES")],
            "status": status,
            "tabs": self.tabs(state, status),
            "category_chips": self.category_chips(state, filter_params.get("category", "")),
            "advanced_count": len(getattr(filterset, "advanced_filters", dict)()) if valid else 0,
            "sort_options": self.sort_options(table),
            # Today / Yesterday / Earlier describe the past; snoozed rows wait in the future.
            "grouped": options.get("sort", "") in ("", "sent_at") and not snoozed_tab,
            "snoozed_tab": snoozed_tab,
            **picker_context(),
        }
        return context, 200 if valid else 400

    def tabs(self, state: dict[str, Any], current: str) -> list[dict[str, Any]]:
        counts = tab_counts(self.counts())
        return [
            {"status": value, "label": label, "count": counts.get(value), "current": value == current,
             "query": query_string(state, status=None if value == "all" else value, page=None)}
            for value, label in TABS
        ]

    def category_chips(self, state: dict[str, Any], current: str) -> list[dict[str, Any]]:
        """"All" and the registry's categories (plus the current one if nobody declared it).

        No counts: Stats counts per recipient and flag, not per category, and a COUNT(*) per
        chip on every page view is what the kit never does.
        """
        declared = list(categories.registry)
        if current and current not in categories.registry:
            declared.append(categories.get(current))
        chips: list[dict[str, Any]] = [{"slug": "", "label": _("All categories"), "category": None, "current": not current,
                  "query": query_string(state, category=None, page=None)}]
        chips += [{"slug": category.slug, "label": category.label, "category": category,
                   "current": category.slug == current,
                   "query": query_string(state, category=category.slug, page=None)} for category in declared]
        return chips

    def sort_options(self, table: Any) -> list[tuple[str, str]]:
        """The table's sortable columns as a "Sort" menu: the Table class stays the declaration."""
        options = [("", _("Newest first"))]
        for column in table.columns:
            if not column.orderable:
                continue
            if column.name == "sent_at":
                options.append(("-sent_at", _("Oldest first")))
            else:
                options.append((column.name, str(column.header)))
        return options

    def matching_count(self, filterset: Any) -> int | None:
        """How many match, when Stats already knows (status-only filters); None rather than a COUNT(*)."""
        if not filterset.only_status() or filterset.current_status in UNPUBLISHED_STATUSES:
            return None
        counts = self.counts()
        active = counts.total - counts.archived
        return tab_counts(counts).get(filterset.current_status, active)

    def list_url(self, context: dict[str, Any]) -> str:
        """The tidy URL of a list (no empty fields, page kept) rather than the raw form submission."""
        page = context["page"].number
        query = urlencode({**context["list_state"], **({"page": page} if page > 1 else {})})
        return f"{reverse('inbox:list')}?{query}" if query else reverse("inbox:list")

    def render_results(self, params: QueryDict, *, extra: str = "", push: bool = False,
                       clamp: bool = False) -> HttpResponse:
        """The results fragment for HTMX, with out-of-band extras (badge, toast) appended."""
        context, status = self.list_context(params, clamp=clamp)
        html = render_to_string(f"{self.template_name}#results", context, request=self.request)
        response = HttpResponse(html + extra, status=status)
        if status == 200:
            if push:
                push_url(response, self.list_url(context))
            elif clamp and str(context["page"].number) != params.get("page", "1"):
                # The reader's page is gone (its rows were deleted or moved): the address
                # bar must not keep pointing at it, nor add a history entry for it.
                replace_url(response, self.list_url(context))
        return response


class InboxView(InboxListMixin, View):
    """The inbox page. HTMX requests for the results get only that fragment."""

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponse:
        response = self.page(request)
        # One URL answers the page or its results fragment, depending on these headers.
        patch_vary_headers(response, ("HX-Request", "HX-Target", "HX-History-Restore-Request"))
        return response

    def page(self, request: HttpRequest) -> HttpResponse:
        if is_htmx(request) and htmx_details(request).target == RESULTS_ID:
            return self.render_results(request.GET, push=True)
        context, status = self.list_context(request.GET)
        return HttpResponse(render_to_string(self.template_name, context, request=request), status=status)


class NotificationDetailView(InboxListMixin, View):
    """One notification. GET shows it; POST marks it read ("open") and redirects to GET."""

    template_name = "inbox/detail.html"
    http_method_names = ["get", "head", "post"]

    def get(self, request: HttpRequest, uid: Any) -> HttpResponse:
        # A snoozed notification opens too (from the Snoozed tab), without being marked read.
        notification = get_object_or_404(self.reachable(), uid=uid)
        # With htmx, an unread page marks itself read on load (a POST): only on this first render,
        # never in the actions re-rendered after "Mark unread", which would undo it at once.
        auto_read = not notification.is_read and notification.is_published
        context = {**self.detail_context(notification, request.GET), "auto_read": auto_read}
        return HttpResponse(render_to_string(self.template_name, context, request=request))

    def detail_context(self, notification: Notification, params: QueryDict) -> dict[str, Any]:
        visible = self.visible()
        extra_sections = sections.render(self.request, notification)
        if extra_sections.replaces_thread:
            parent, replies = None, []
        else:
            parent = visible.filter(pk=notification.parent_id).first() if notification.parent_id else None
            replies = list(visible.filter(parent=notification).order_by("sent_at", "id")[:50])
        return {
            **self.base_context(),
            "notification": notification,
            "parent": parent,
            "replies": replies,
            "sections": extra_sections.html,
            "back_query": params.urlencode(),
            **self.snooze_context(notification),
            **self.group_context(notification),
            **self.neighbours(notification, params),
        }

    def snooze_context(self, notification: Notification) -> dict[str, Any]:
        """The snooze menu and the mute button: whether it is snoozed, and whether its thread is muted."""
        return {
            "snoozed_until": notification.snoozed_until if not notification.is_published else None,
            "muted": manager.is_muted(self.owner(notification), notification),
            **picker_context(),
        }

    def group_context(self, notification: Notification) -> dict[str, Any]:
        """A group's notifications in their own words, newest first: at most GROUP_ITEMS_SHOWN, and how
        many more. inbox.services.grouping keeps every one of them as a GroupedItem (the newest is the
        head's own), and ``group_size`` says how many, so "and N earlier" needs no COUNT(*).
        """
        if notification.group_size <= 1:
            return {"group_items": [], "group_more": 0}
        items = list(GroupedItem.objects.filter(head=notification).order_by("-sent_at", "-id")
                     .prefetch_related("actor")[:GROUP_ITEMS_SHOWN])
        return {"group_items": items, "group_more": max(0, notification.group_size - len(items))}

    def neighbours(self, notification: Notification, params: QueryDict) -> dict[str, Any]:
        """Newer and older notifications within the filter the reader came from (newest-first order)."""
        filterset = self.get_filterset(params)
        if not filterset.is_valid():
            return {"newer": None, "older": None}
        rows = filterset.qs.order_by()
        same_time = Q(sent_at=notification.sent_at)
        newer = rows.filter(Q(sent_at__gt=notification.sent_at) | same_time & Q(id__gt=notification.id))
        older = rows.filter(Q(sent_at__lt=notification.sent_at) | same_time & Q(id__lt=notification.id))
        return {
            "newer": newer.order_by("sent_at", "id").only("uid").first(),
            "older": older.order_by("-sent_at", "-id").only("uid").first(),
        }

    def post(self, request: HttpRequest, uid: Any) -> HttpResponse:
        notification = get_object_or_404(self.reachable(), uid=uid)
        if not notification.is_published:
            # Opening a snoozed one from the Snoozed tab: it is not news yet, so nothing is marked.
            url = reverse("inbox:detail", args=[notification.uid])
            query = request.GET.urlencode()
            target = f"{url}?{query}" if query else url
            return HttpResponseClientRedirect(target) if is_htmx(request) else HttpResponseRedirect(target, status=303)
        manager.mark_read(Notification.objects.filter(pk=notification.pk))
        if is_htmx(request):
            # The page's actions again, now without "Mark as read", and the badge.
            notification.refresh_from_db()
            context = {**self.base_context(), "notification": notification, "back_query": request.GET.urlencode(),
                       **self.snooze_context(notification)}
            html = render_to_string(f"{self.template_name}#actions", context, request=request)
            response = HttpResponse(html + render_badge(request, self.recipients, oob=True, counts=self.counts()))
            return trigger_client_event(response, CHANGED_EVENT)
        url = reverse("inbox:detail", args=[notification.uid])
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{url}?{query}" if query else url, status=303)


class BulkView(InboxListMixin, View):
    """POST ``action`` with the selected ``uid``s (or ``scope=page`` / ``scope=matching``)."""

    http_method_names = ["post"]
    confirm_template_name = "inbox/confirm.html"

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BulkForm(request.POST)
        filterset = self.get_filterset(request.POST)
        errors = [_joined(e) for e in form.errors.values()] if not form.is_valid() else []
        errors += self.list_errors(filterset, self.get_list_form(request.POST))
        if errors:
            return self.refuse(" ".join(errors))
        data = form.cleaned_data
        selected = self.selection(data, filterset)
        if data["action"] == "delete" and not data["confirm"]:
            return self.confirm(selected, data)
        try:
            count = apply_action(data["action"], selected, until=data.get("until"))
        except NotificationError as error:  # the snooze's time passed while the request ran
            return self.refuse(str(error))
        return self.done(done_message(data["action"], count, until=data.get("until")))

    def selection(self, data: dict[str, Any], filterset: Any) -> QuerySet[Notification]:
        if data["scope"] == "matching":
            return filterset.qs
        uids = data["page_uid"] if data["scope"] == "page" else data["uid"]
        # Another recipient's uid is simply not in visible(): it is ignored, never touched.
        base = self.reachable() if data["action"] in SNOOZED_ACTIONS else self.visible()
        return base.filter(uid__in=uids)

    def confirm(self, selected: QuerySet[Notification], data: dict[str, Any], **extra: Any) -> HttpResponse:
        cancel_query = urlencode(self.params_from_post())
        context = {
            **self.base_context(),
            "count": None if data.get("scope") == "matching" else selected.count(),
            "scope": data.get("scope", "selected"),
            "fields": [(key, value) for key, values in self.request.POST.lists() if key != "csrfmiddlewaretoken"
                       for value in values],
            "cancel_query": cancel_query,
            # Where the dialog posts, what it replaces with htmx, and where "Cancel" goes.
            "confirm_url": reverse("inbox:bulk"),
            "dialog_id": RESULTS_ID,
            "cancel_url": reverse("inbox:list") + (f"?{cancel_query}" if cancel_query else ""),
            "cancel_in_place": True,
            **extra,
        }
        template = f"{self.confirm_template_name}#dialog" if is_htmx(self.request) else self.confirm_template_name
        return HttpResponse(render_to_string(template, context, request=self.request))

    def params_from_post(self) -> dict[str, str]:
        names = [*getattr(self.get_filterset_class(), "base_filters", ()), *LIST_PARAMS]
        return {name: self.request.POST[name] for name in names if self.request.POST.get(name)}

    def done(self, message: str) -> HttpResponse:
        """The answer after a change: the rows have changed, so every path here must say so."""
        query = QueryDict(mutable=True)
        query.update(self.params_from_post())
        if is_htmx(self.request):
            try:
                extra = (render_badge(self.request, self.recipients, oob=True, counts=self.counts())
                         + render_toast(self.request, message, oob=True))
                response = self.render_results(query, extra=extra, clamp=True)
            except Exception:
                # The parameters were validated before the change, so this is a fault of the site
                # (a broken template override, say). A 500 would tell the reader the change failed
                # when it happened: reload the page instead, with the message waiting as a toast.
                logger.exception("Rendering the inbox after a bulk change failed; reloading the page.")
                messages.success(self.request, message, extra_tags="inbox")
                return HttpResponseClientRefresh()
            return trigger_client_event(response, CHANGED_EVENT)
        messages.success(self.request, message, extra_tags="inbox")
        return HttpResponseRedirect(self.list_url_after_change(query), status=303)

    def list_url_after_change(self, params: QueryDict) -> str:
        """Where a change without JavaScript returns: the list as it was, or its first page when
        the change emptied the page the reader was on (that page would now be a 404)."""
        if params.get("page", "1") == "1":
            return f"{reverse('inbox:list')}?{params.urlencode()}" if params else reverse("inbox:list")
        context, _status = self.list_context(params, clamp=True)
        return self.list_url(context)

    def refuse(self, message: str) -> HttpResponse:
        if is_htmx(self.request):
            response = HttpResponse(render_toast(self.request, message, level="error"), status=400)
            return reswap(retarget(response, "#inbox-toasts"), "beforeend")
        context = {**self.base_context(), "message": message}
        return HttpResponse(render_to_string("inbox/error.html", context, request=self.request), status=400)


class MarkAllReadView(BulkView):
    def post(self, request: HttpRequest) -> HttpResponse:
        # The answer shows the list with these filters and page: check them before changing.
        errors = self.list_errors(self.get_filterset(request.POST), self.get_list_form(request.POST))
        if errors:
            return self.refuse(" ".join(errors))
        count = sum(manager.mark_all_read(recipient) for recipient in self.recipients)
        return self.done(done_message("read", count))


class NotificationActionView(BulkView):
    """POST ``action`` on one notification: a row's buttons and the detail page's.

    ``next=list`` answers like a bulk action (the list with its state); ``next=detail`` stays on
    the detail page: with htmx its card is re-rendered in place, without it a redirect (303, so
    a reload never re-posts) brings the page back. A delete asks first, then goes to the list.
    """

    def post(self, request: HttpRequest, uid: Any) -> HttpResponse:  # type: ignore[override]
        notification = get_object_or_404(self.reachable(), uid=uid)
        form = ActionForm(request.POST)
        if not form.is_valid():
            return self.refuse(" ".join(_joined(e) for e in form.errors.values()))
        data = form.cleaned_data
        action = data["action"]
        to_detail = data.get("next") != "list"
        if not to_detail:
            errors = self.list_errors(self.get_filterset(request.POST), self.get_list_form(request.POST))
            if errors:
                return self.refuse(" ".join(errors))
        base = self.reachable() if action in SNOOZED_ACTIONS else self.visible()
        selected = base.filter(pk=notification.pk)
        if action == "delete" and not data["confirm"]:
            return self.confirm_one(notification, selected, data, to_detail)
        if action in ("mute", "unmute"):
            # The thread is muted for the notification's own recipient (a shared inbox's team, say).
            change = manager.mute if action == "mute" else manager.unmute
            change(self.owner(notification), notification)
            count = 1
        else:
            try:
                count = apply_action(action, selected, until=data.get("until"))
            except NotificationError as error:  # the snooze's time passed while the request ran
                return self.refuse(str(error))
        message = done_message(action, count, until=data.get("until"))
        if not to_detail:
            return self.done(message)
        if action == "delete":
            # The page is gone: go to the list the reader came from, by GET.
            messages.success(request, message, extra_tags="inbox")
            back = request.GET.urlencode()
            url = reverse("inbox:list") + (f"?{back}" if back else "")
            return HttpResponseClientRedirect(url) if is_htmx(request) else HttpResponseRedirect(url, status=303)
        return self.stay_on_detail(notification, message)

    def confirm_one(self, notification: Notification, selected: QuerySet[Notification], data: dict[str, Any],
                    to_detail: bool) -> HttpResponse:
        here = self.request.get_full_path()
        if not to_detail:
            return self.confirm(selected, {"scope": "selected"}, confirm_url=here)
        detail = reverse("inbox:detail", args=[notification.uid])
        back = self.request.GET.urlencode()
        return self.confirm(selected, {"scope": "selected"}, confirm_url=here, dialog_id=DETAIL_ID,
                            cancel_url=detail + (f"?{back}" if back else ""), cancel_in_place=False)

    def stay_on_detail(self, notification: Notification, message: str) -> HttpResponse:
        url = reverse("inbox:detail", args=[notification.uid])
        back = self.request.GET.urlencode()
        if not is_htmx(self.request):
            messages.success(self.request, message, extra_tags="inbox")
            return HttpResponseRedirect(url + (f"?{back}" if back else ""), status=303)
        notification.refresh_from_db()
        view = NotificationDetailView()
        view.request, view.recipients = self.request, self.recipients
        context = view.detail_context(notification, self.request.GET)
        html = render_to_string("inbox/detail.html#card", context, request=self.request)
        extra = (render_badge(self.request, self.recipients, oob=True, counts=view.counts())
                 + render_toast(self.request, message, oob=True))
        return trigger_client_event(HttpResponse(html + extra), CHANGED_EVENT)


class BadgeView(InboxViewMixin, View):
    """The badge fragment, for refreshes."""

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(render_badge(request, self.recipients))


class PreviewView(InboxViewMixin, View):
    """The preview dropdown's list, for refreshes."""

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest) -> HttpResponse:
        from inbox.templatetags.inbox import preview_context

        context = preview_context(request, self.recipients, limit=5)
        return HttpResponse(render_to_string("inbox/preview.html#items", context, request=request))


def _joined(errors: Any) -> str:
    """A field's error messages as one line."""
    return " ".join(str(error) for error in errors)


@functools.cache
def sortable_columns(table_class: type) -> list[str]:
    """The names a ``sort`` parameter may use: fixed per table class, so worked out once."""
    return [column.name for column in table_class(Notification.objects.none()).columns if column.orderable]


def apply_action(action: str, selected: QuerySet[Notification], *, until: datetime.datetime | None = None) -> int:
    """Run one of the list's actions on ``selected``; snooze takes its time as well."""
    if action == "snooze":
        assert until is not None  # the forms require it for "snooze"
        return manager.snooze(selected, until)
    return ACTIONS[action](selected)


def done_message(action: str, count: int, *, until: datetime.datetime | None = None) -> str:
    if action == "snooze" and until is not None:
        return ngettext("Snoozed until %(when)s.", "%(count)d notifications snoozed until %(when)s.", count) % {
            "count": count, "when": describe_until(until)}
    if action == "mute":
        return _("Thread muted.")
    if action == "unmute":
        return _("Thread unmuted.")
    texts = {
        "read": ngettext("%(count)d notification marked read.", "%(count)d notifications marked read.", count),
        "unread": ngettext("%(count)d notification marked unread.", "%(count)d notifications marked unread.", count),
        "archive": ngettext("%(count)d notification archived.", "%(count)d notifications archived.", count),
        "unarchive": ngettext("%(count)d notification moved to the inbox.", "%(count)d notifications moved to the inbox.", count),
        "star": ngettext("%(count)d notification starred.", "%(count)d notifications starred.", count),
        "unstar": ngettext("%(count)d notification unstarred.", "%(count)d notifications unstarred.", count),
        "delete": ngettext("%(count)d notification deleted.", "%(count)d notifications deleted.", count),
        "unsnooze": ngettext("%(count)d notification is back in the inbox.",
                             "%(count)d notifications are back in the inbox.", count),
    }
    return texts[action] % {"count": count}


def render_badge(request: HttpRequest, who: list[Any], *, oob: bool = False,
                 counts: stats.Counts | None = None) -> str:
    context = {"inbox_counts": counts if counts is not None else stats.counts_for(who), "oob": oob}
    return render_to_string("inbox/badge.html#badge", context, request=request)


def render_toast(request: HttpRequest, text: str, *, level: str = "success", oob: bool = False) -> str:
    toast = render_to_string("inbox/toasts.html#toast", {"toast": {"text": text, "level": level}}, request=request)
    if oob:
        return f'<div hx-swap-oob="beforeend:#inbox-toasts">{toast}</div>'
    return toast

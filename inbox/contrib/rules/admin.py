"""The admin for notification rules: triggers with their subscriptions inline, a live preview of a
subscription's message against one of the trigger's objects, and "send a test notification to me".

- A signal is picked from a list: Django's five model signals, then those the site registered with
  :func:`inbox.contrib.rules.register_signal`; dynamic receivers and channels likewise.
- A template that does not compile or render is a validation error (:func:`.rendering.validate_template`).
- The preview (``<subscription admin>/preview/``) changes nothing. It answers the form's unsaved
  template rendered for an object of the trigger's sender model: with htmx, a fragment the change
  page swaps in as you type; without JavaScript, an admin page of its own.
- The test (``<subscription admin>/<id>/test/``, POST, and an action on the list) sends the saved
  subscription's message to the admin who asks, and only to them (:func:`.dispatch.send_test`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count, Max, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inbox.channels.base import Channel
from inbox.contrib.rules import dispatch, registry, rendering
from inbox.contrib.rules.models import Subscription, Trigger
from inbox.exceptions import NotificationError
from inbox.templatetags.inbox import inbox_message_text

#: What each of Django's model signals means, for the signal list.
SIGNAL_HELP = {
    "post_save": _("after an object is saved"),
    "pre_save": _("before an object is saved"),
    "post_delete": _("after an object is deleted"),
    "pre_delete": _("before an object is deleted"),
    "m2m_changed": _("a many-to-many relation changed"),
}
#: The form field naming the object a preview or a test renders for (its primary key).
INSTANCE_FIELD = "preview_instance"


# -- Choices, read when a form is built (a signal registered after the admin loaded still shows) ---


def signal_choices(current: str = "") -> list[Any]:
    """Django's model signals, then the site's registered ones, as (group, options) for a select."""
    builtin = [(name, f"{name}: {SIGNAL_HELP[name]}") for name in registry.MODEL_SIGNALS]
    own = [(name, name) for name in registry.signals() if not registry.is_model_signal(name)]
    choices: list[Any] = [(_("Django's model signals"), builtin)]
    if own:
        choices.append((_("This site's signals"), own))
    if current and current not in registry.signals():
        choices.append((_("Not registered"), [(current, gettext("%(name)s (not registered)") % {"name": current})]))
    return choices


def receiver_choices(current: str = "") -> list[tuple[str, str]]:
    choices = [("", gettext("None: only the users and groups above"))] + registry.receiver_choices()
    if current and current not in dict(choices):
        choices.append((current, gettext("%(name)s (not registered)") % {"name": current}))
    return choices


def channel_choices(current: Any = ()) -> list[tuple[str, str]]:
    names = sorted(Channel.registry)
    extra = [name for name in current if isinstance(name, str) and name not in names] if isinstance(current, list) else []
    return [(name, name) for name in names + extra]


class TriggerForm(forms.ModelForm):
    signal = forms.ChoiceField(label=_("Signal"), help_text=_("Which signal fires the rule."))

    class Meta:
        model = Trigger
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A saved rule whose signal the site no longer registers keeps its value (and the model's
        # clean() says what is wrong) rather than silently turning into the first choice.
        field = self.fields["signal"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = signal_choices(self.instance.signal if self.instance.pk else "")


class SubscriptionForm(forms.ModelForm):
    dynamic_receivers = forms.ChoiceField(
        label=_("Dynamic receivers"), required=False,
        help_text=_("Receivers computed by code: a function registered with @inbox.contrib.rules.receivers(name)."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Also deliver by"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("Besides the inbox. None ticked: the inbox only."),
    )

    class Meta:
        model = Subscription
        fields = "__all__"
        widgets = {
            "template": forms.Textarea(attrs={"rows": 3, "cols": 80, "class": "vLargeTextField"}),
            "url_template": forms.TextInput(attrs={"size": 80, "class": "vTextField"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        receivers, channels = self.fields["dynamic_receivers"], self.fields["channels"]
        assert isinstance(receivers, forms.ChoiceField) and isinstance(channels, forms.ChoiceField)
        receivers.choices = receiver_choices(self.instance.dynamic_receivers)
        channels.choices = channel_choices(self.instance.channels)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        # A template that does not compile, reads a hidden field or does not render cannot be saved.
        # (add_error() takes it out of cleaned_data, so the model's own clean() does not say it again.)
        for name in ("template", "url_template"):
            text = data.get(name) or ""
            if text.strip():
                try:
                    rendering.validate_template(text)
                except ValidationError as error:
                    self.add_error(name, error)
        return data


MESSAGE_FIELDSET: Any = (_("Message"), {
    "fields": ("template", "template_name", "url_template", ("category", "level"), "channels"),
})
RECEIVERS_FIELDSET: Any = (_("Receivers"), {
    "fields": ("users", "groups", "dynamic_receivers"),
    "description": _("Everyone listed hears it once, however many ways they are named."),
})
FAILURE_FIELDS = ("last_error", "last_error_at")


class SubscriptionInline(admin.StackedInline):
    model = Subscription
    form = SubscriptionForm
    extra = 0
    filter_horizontal = ("users", "groups")
    readonly_fields = (*FAILURE_FIELDS, "preview_and_test")
    fieldsets = (
        (None, {"fields": ("enabled", "preview_and_test")}),
        MESSAGE_FIELDSET,
        RECEIVERS_FIELDSET,
        (_("Last failure"), {"fields": FAILURE_FIELDS, "classes": ("collapse",)}),
    )

    def get_extra(self, request: HttpRequest, obj: Trigger | None = None, **kwargs: Any) -> int:
        return 1 if obj is None else 0

    @admin.display(description=_("Preview and test"))
    def preview_and_test(self, subscription: Subscription | None) -> str:
        """Its own page has the live preview and "send a test notification to me"."""
        if subscription is None or subscription.pk is None:
            return gettext("Once saved, on the subscription's own page.")
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[subscription.pk])
        return format_html('<a href="{}#inbox-rules-preview-title">{}</a>', url,
                           gettext("Preview the message, or send yourself a test"))


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    form = TriggerForm
    inlines = [SubscriptionInline]
    list_display = ("name", "signal", "sender", "created", "enabled", "subscription_count", "last_failure")
    list_filter = ("enabled", "signal")
    search_fields = ("name",)
    list_select_related = ("sender",)
    fieldsets = (
        (None, {"fields": ("name", "enabled", "signal", "sender")}),
        (_("When"), {"fields": ("created", "changed_fields", ("condition_field", "condition_value"))}),
        (_("Actor, target and changed data"), {"fields": ("actor_field", "target_field", "exclude_fields")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Trigger]:
        return super().get_queryset(request).annotate(
            subscription_total=Count("subscriptions"), last_error_at=Max("subscriptions__last_error_at"))

    @admin.display(description=_("subscriptions"), ordering="subscription_total")
    def subscription_count(self, trigger: Any) -> int:
        return trigger.subscription_total

    @admin.display(description=_("last failure"), ordering="last_error_at")
    def last_failure(self, trigger: Any) -> Any:
        return trigger.last_error_at or "-"


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ("__str__", "trigger", "message", "enabled", "last_error_at", "short_error")
    list_filter = ("enabled", "trigger")
    list_select_related = ("trigger",)
    search_fields = ("trigger__name", "template", "template_name")
    filter_horizontal = ("users", "groups")
    readonly_fields = FAILURE_FIELDS
    actions = ["send_test_to_me"]

    def get_fieldsets(self, request: HttpRequest, obj: Subscription | None = None) -> Any:
        # A failing rule says so first; the message comes last, right above its preview.
        failing = obj is not None and bool(obj.last_error)
        return (
            *([(_("Last failure"), {"fields": FAILURE_FIELDS, "classes": ("inbox-rules-failure",)})] if failing else []),
            (None, {"fields": ("trigger", "enabled")}),
            RECEIVERS_FIELDSET,
            MESSAGE_FIELDSET,
        )

    @admin.display(description=_("message"))
    def message(self, subscription: Subscription) -> str:
        return Truncator(subscription.template or subscription.template_name or gettext("(the default message)")).chars(80)

    @admin.display(description=_("last error"))
    def short_error(self, subscription: Subscription) -> str:
        return Truncator(subscription.last_error).chars(80) or "-"

    # -- Preview and test ---------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        own = [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="{}_{}_preview".format(*info)),
            path("<path:object_id>/test/", self.admin_site.admin_view(self.test_view), name="{}_{}_test".format(*info)),
        ]
        return own + super().get_urls()

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **self._tools()})

    def add_view(self, request: HttpRequest, form_url: str = "",
                 extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().add_view(request, form_url, {**(extra_context or {}), **self._tools()})

    def _tools(self) -> dict[str, Any]:
        return {"instance_field": INSTANCE_FIELD,
                "preview_url": reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_preview")}

    @staticmethod
    def _pick(model: type[models.Model], key: Any) -> models.Model | None:
        """The object with primary key ``key``, or the latest one for a blank key; None when none."""
        manager = model._default_manager
        key = str(key or "").strip()
        if not key:
            return manager.order_by("-pk").first()
        try:
            return manager.filter(pk=key).first()
        except (ValueError, TypeError, ValidationError):
            return None

    def preview_context(self, request: HttpRequest, data: Any) -> dict[str, Any]:
        """The unsaved template in ``data`` rendered for an object of the trigger's sender model."""
        context: dict[str, Any] = {"error": "", "message": "", "url": "", "instance": None, "model_name": ""}
        trigger_id = str(data.get("trigger") or "")
        trigger = Trigger.objects.select_related("sender").filter(pk=trigger_id).first() if trigger_id.isdigit() else None
        if trigger is None:
            context["error"] = gettext("Choose a trigger: the preview renders the message for one of its objects.")
            return context
        model = trigger.sender_model()
        if model is None:
            context["error"] = gettext("This trigger has no sender model, so there is no object to preview with.")
            return context
        context["model_name"] = model._meta.verbose_name
        instance = self._pick(model, data.get(INSTANCE_FIELD))
        if instance is None:
            context["error"] = (gettext("No %(model)s has the key %(key)r.") if str(data.get(INSTANCE_FIELD) or "").strip()
                                else gettext("There is no %(model)s yet to preview with.")) % {
                "model": model._meta.verbose_name, "key": str(data.get(INSTANCE_FIELD)).strip()}
            return context
        subscription = Subscription(trigger=trigger, template=str(data.get("template") or ""),
                                    template_name=str(data.get("template_name") or ""),
                                    url_template=str(data.get("url_template") or ""))
        context["instance"] = instance
        try:
            prepared = rendering.prepare_test(subscription, instance, request.user)
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
        except Exception as error:  # a template file that is missing, a receiver's bug: said, never a 500
            context["error"] = gettext("The template does not render: %(error)s") % {
                "error": f"{type(error).__name__}: {error}"}
        else:
            context["message"], context["url"] = prepared.message, prepared.url
        return context

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """GET or POST (the change form's fields, CSRF-checked by the admin): changes nothing."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        context = self.preview_context(request, data)
        if request.headers.get("HX-Request") == "true":
            return TemplateResponse(request, "admin/inbox_rules/preview.html", context)
        page = {**self.admin_site.each_context(request), **context, "opts": self.opts,
                "title": gettext("Preview of a notification rule's message")}
        return TemplateResponse(request, "admin/inbox_rules/preview_page.html", page)

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        subscription = self.get_object(request, unquote(object_id))
        if subscription is None:
            raise Http404
        if not self.has_change_permission(request, subscription):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.send_test(request, subscription, request.POST.get(INSTANCE_FIELD))
        return HttpResponseRedirect(reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change", args=[subscription.pk]))

    @admin.action(description=_("Send a test notification to me"), permissions=["change"])
    def send_test_to_me(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset.select_related("trigger__sender"):
            self.send_test(request, subscription, None)

    def send_test(self, request: HttpRequest, subscription: Subscription, key: Any) -> None:
        """Send ``subscription``'s message to the requesting admin, for the object ``key`` (blank: the
        latest of the trigger's sender model), and say how it went."""
        model = subscription.trigger.sender_model()
        if model is None:
            self.message_user(request, gettext("%(rule)s: its trigger has no sender model, so there is no object "
                                               "to test with.") % {"rule": subscription}, messages.WARNING)
            return
        instance = self._pick(model, key)
        if instance is None:
            self.message_user(request, gettext("%(rule)s: there is no %(model)s to test with.") % {
                "rule": subscription, "model": model._meta.verbose_name}, messages.WARNING)
            return
        try:
            notification = dispatch.send_test(subscription, instance, request.user)
        except ValidationError as error:
            self.message_user(request, gettext("%(rule)s: no test sent. %(error)s") % {
                "rule": subscription, "error": " ".join(error.messages)}, messages.ERROR)
            return
        except NotificationError as error:  # e.g. a link template that renders to a link send() refuses
            self.message_user(request, gettext("%(rule)s: no test sent. %(error)s") % {
                "rule": subscription, "error": error}, messages.ERROR)
            return
        try:
            link = reverse("inbox:detail", args=[notification.uid])
        except NoReverseMatch:
            link = ""
        text = gettext("%(rule)s: sent to your inbox: “%(message)s”") % {
            "rule": subscription, "message": Truncator(inbox_message_text(notification)).chars(120)}
        if link:
            self.message_user(request, format_html('{} <a href="{}">{}</a>', text, link, gettext("Open it")), messages.SUCCESS)
        else:
            self.message_user(request, text, messages.SUCCESS)

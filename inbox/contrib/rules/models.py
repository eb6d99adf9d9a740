"""Rules a site owner sets up in the admin: a Trigger (which signal, from which model, on what
condition) and its Subscriptions (who hears it, through which channels, with which message)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inbox.models import Level


def sender_choices() -> models.Q:
    """The models a Trigger may name: not the kit's own rows nor Django's bookkeeping (they never fire)."""
    from inbox.contrib.rules.dispatch import IGNORED_APPS

    return ~models.Q(app_label__in=sorted(IGNORED_APPS))


class Trigger(models.Model):
    class Created(models.TextChoices):
        ANY = "", _("created or updated")
        CREATED = "created", _("only when created")
        UPDATED = "updated", _("only when updated")

    name = models.CharField(_("name"), max_length=200)
    #: "post_save", "pre_save", "pre_delete", "post_delete", "m2m_changed", or a name given to
    #: inbox.contrib.rules.register_signal().
    signal = models.CharField(_("signal"), max_length=100)
    sender = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("sender model"), limit_choices_to=sender_choices,
        help_text=_("The model whose instances fire the signal. Blank: any sender (for a site's own signals)."),
    )
    actor_field = models.CharField(
        _("actor field"), max_length=200, blank=True,
        help_text=_("An attribute of the instance that is the actor (e.g. owner). Blank: the signal's "
                    "actor, or the signed-in user of the request that fired it."),
    )
    target_field = models.CharField(
        _("target field"), max_length=200, blank=True,
        help_text=_("An attribute of the instance that is the target (e.g. project). Blank: the instance itself."),
    )
    created = models.CharField(
        _("on save"), max_length=10, choices=Created.choices, blank=True, default=Created.ANY,
        help_text=_("For save signals: fire on creation, on update, or both."),
    )
    condition_field = models.CharField(
        _("condition field"), max_length=200, blank=True,
        help_text=_("Fire only when this attribute of the instance equals the value below (compared as text)."),
    )
    condition_value = models.CharField(_("condition value"), max_length=200, blank=True)
    changed_fields = models.CharField(
        _("changed fields"), max_length=500, blank=True,
        help_text=_("Fire only for updates that change one of these fields (comma-separated). Blank: any save."),
    )
    exclude_fields = models.CharField(
        _("fields left out"), max_length=500, blank=True,
        help_text=_("Never shown in changed_data (comma-separated). Password-like fields never are."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("trigger")
        verbose_name_plural = _("triggers")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def sender_model(self) -> type[models.Model] | None:
        return self.sender.model_class() if self.sender is not None else None

    def clean(self) -> None:
        from inbox.contrib.rules import capture, registry
        from inbox.contrib.rules.index import split_names

        errors: dict[str, Any] = {}
        if self.signal not in registry.signals():
            errors["signal"] = gettext("Unknown signal %(name)r: one of %(names)s.") % {
                "name": self.signal, "names": ", ".join(registry.signals())}
        model = self.sender_model() if self.sender_id is not None else None
        if registry.is_model_signal(self.signal) and model is None:
            errors["sender"] = gettext("Django's model signals need a sender model.")
        elif model is not None and model._meta.pk is not None and capture.is_hidden(model._meta.pk.name):
            # A row whose key is a secret (an API token's): its key and str() would be in every message.
            errors["sender"] = gettext("%(model)s is keyed by a hidden field (%(field)s): rules cannot name it.") % {
                "model": model._meta.verbose_name, "field": model._meta.pk.name}
        for name in ("actor_field", "target_field", "condition_field"):
            path = getattr(self, name).strip()
            if path:
                try:
                    capture.check_path(model, path)
                except capture.PathError as error:
                    errors[name] = str(error)
        if model is not None:
            fields = {field.name for field in model._meta.concrete_fields}
            for name in ("changed_fields", "exclude_fields"):
                unknown = [field for field in split_names(getattr(self, name)) if field not in fields]
                if unknown:
                    errors[name] = gettext("%(model)s has no field %(fields)s.") % {
                        "model": model._meta.verbose_name, "fields": ", ".join(unknown)}
        if errors:
            raise ValidationError(errors)


class Subscription(models.Model):
    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="subscriptions",
                                verbose_name=_("trigger"))
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+",
                                   verbose_name=_("receiver users"))
    groups = models.ManyToManyField(Group, blank=True, related_name="+", verbose_name=_("receiver groups"))
    dynamic_receivers = models.CharField(
        _("dynamic receivers"), max_length=100, blank=True,
        help_text=_("A name registered with @inbox.contrib.rules.receivers(...): receivers computed by code."),
    )
    channels = models.JSONField(
        _("channels"), default=list, blank=True,
        help_text=_('Also deliver through these channels, e.g. ["email"]. Empty: the inbox only.'),
    )
    category = models.SlugField(_("category"), max_length=64, blank=True)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.INFO)
    template = models.TextField(
        _("message template"), blank=True,
        help_text=_("Django template language, e.g. {{ actor }} changed {{ instance }}: {{ changed_data }}."),
    )
    template_name = models.CharField(_("template name"), max_length=200, blank=True,
                                     help_text=_("Or a template file; used when the text above is blank."))
    url_template = models.CharField(_("link template"), max_length=500, blank=True,
                                    help_text=_("Optional: a link, in the template language (e.g. /projects/{{ instance.pk }}/)."))
    enabled = models.BooleanField(_("enabled"), default=True)
    #: The last failure (rendering, receivers, sending), so the admin shows what went wrong.
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["trigger", "pk"]

    def __str__(self) -> str:
        return gettext("%(trigger)s: subscription %(pk)s") % {"trigger": self.trigger, "pk": self.pk or "(new)"}

    def clean(self) -> None:
        from django.template import TemplateDoesNotExist

        from inbox.channels import registry as channel_registry
        from inbox.contrib.rules import registry, rendering
        from inbox.exceptions import NotificationError

        errors: dict[str, Any] = {}
        for name in ("template", "url_template"):
            text = getattr(self, name)
            if text.strip():
                try:
                    rendering.validate_template(text)
                except ValidationError as error:
                    errors[name] = error.messages
        if self.template_name.strip() and not self.template.strip():
            try:
                rendering.load(name=self.template_name)
            except TemplateDoesNotExist:
                errors["template_name"] = gettext("No template is named %(name)r.") % {"name": self.template_name}
            except ValidationError as error:
                errors["template_name"] = error.messages
        name = self.dynamic_receivers.strip()
        if name:
            try:
                registry.get_receivers(name)
            except KeyError:
                known = ", ".join(name for name, _label in registry.receiver_choices()) or "-"
                errors["dynamic_receivers"] = gettext("No dynamic receivers are registered as %(name)r "
                                                      "(registered: %(known)s).") % {"name": name, "known": known}
        if not isinstance(self.channels, list) or not all(isinstance(item, str) for item in self.channels):
            errors["channels"] = gettext('A list of channel names, e.g. ["email"].')
        else:
            try:
                channel_registry.validate(self.channels)
            except NotificationError as error:
                errors["channels"] = str(error)
        if errors:
            raise ValidationError(errors)

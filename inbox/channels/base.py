"""Channels and providers: what a site subclasses to carry notifications out of the inbox.

A **provider** talks to one outside service (an SMTP server, a webhook URL, Slack) and sends
payloads. A **channel** decides what goes out: for each notification it builds a payload for each
of its providers. Subclassing either with a ``name`` registers it, as in django-notifs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext as _

from inbox.models import Notification

#: What one payload's send came to: the provider's message id (or None) on success, the
#: exception otherwise.
Outcome = str | None | BaseException


class DeliveryError(Exception):
    """A provider could not deliver. ``retry`` says whether trying again later may succeed
    (a timeout, a 503) or not (a 400, a redirect the provider refuses to follow)."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class SkipDelivery(Exception):
    """Nothing to deliver to this recipient (no e-mail address, no webhook URL): recorded as skipped."""


class Provider:
    """Sends payloads to one outside service.

    ``options`` are this provider's entry of ``INBOX["PROVIDERS"]``. Override ``send()``;
    override ``send_bulk()`` when the service takes many payloads at once (one SMTP connection,
    one batch API call).
    """

    name: ClassVar[str]
    registry: ClassVar[dict[str, type[Provider]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            Provider.registry[cls.name] = cls

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: Mapping[str, Any] = options or {}

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> list[str]:
        """What is wrong with ``options`` (one sentence each); run by the system checks."""
        return []

    def build_payload(self, notification: Notification, context: Mapping[str, Any]) -> Any:
        """The payload a channel sends when it does not build its own."""
        raise NotImplementedError(_("%(provider)s has no default payload: the channel must build one.")
                                  % {"provider": type(self).__name__})

    def send(self, payload: Any) -> str | None:
        """Send one payload; return the service's message id, if it gives one. Raise on failure."""
        raise NotImplementedError

    def send_bulk(self, payloads: Sequence[Any]) -> list[Outcome]:
        """Send many payloads; one outcome per payload, in order. The default calls ``send()``."""
        outcomes: list[Outcome] = []
        for payload in payloads:
            try:
                outcomes.append(self.send(payload))
            except Exception as error:  # one bad payload must not stop the others
                outcomes.append(error)
        return outcomes


class Channel:
    """Builds, for one notification, the payload each of its ``providers`` sends.

    ``context`` is the ``context=`` given to ``send()`` (JSON-safe, stored with the deliveries).
    """

    name: ClassVar[str]
    providers: ClassVar[Sequence[str]] = ()
    registry: ClassVar[dict[str, type[Channel]]] = {}
    #: What the preferences page calls it; a channel without one is named after ``name``.
    label: ClassVar[str | Promise]
    #: Whether people choose what reaches them here (inbox.services.preferences). A developer's
    #: tool (the console) is not: it always gets everything, and the preferences page leaves it out.
    in_preferences: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            Channel.registry[cls.name] = cls
            if "label" not in cls.__dict__:
                cls.label = cls.name.replace("-", " ").replace("_", " ").capitalize()

    def __init__(self, context: Mapping[str, Any] | None = None) -> None:
        self.context: Mapping[str, Any] = context or {}

    def build_payload(self, notification: Notification, provider: Provider) -> Any:
        """The payload for ``provider``; the default is the provider's own. Raise
        :class:`SkipDelivery` when there is nothing to send to this recipient."""
        return provider.build_payload(notification, self.context)

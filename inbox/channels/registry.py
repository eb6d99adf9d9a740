"""Finding channels and providers by name, configured from ``INBOX["PROVIDERS"]``."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from inbox import conf
from inbox.channels.base import Channel, Provider
from inbox.exceptions import NotificationError

#: Built-in providers that need nothing configured to work.
READY_WITHOUT_OPTIONS = {"email", "console"}


def provider_options(name: str) -> dict:
    options = conf.get("PROVIDERS").get(name)
    return dict(options) if isinstance(options, dict) else {}


def is_configured(name: str) -> bool:
    """A provider may be used: listed in ``INBOX["PROVIDERS"]``, needing nothing, or the site's own."""
    builtin = Provider.registry[name].__module__.startswith("inbox.channels.")
    return name in conf.get("PROVIDERS") or name in READY_WITHOUT_OPTIONS or not builtin


def problems(name: str) -> list[str]:
    """Why provider ``name`` cannot be used now (empty when it can)."""
    if name not in Provider.registry:
        return [_("no provider is named %(name)r") % {"name": name}]
    if not is_configured(name):
        return [_('add %(name)r to INBOX["PROVIDERS"]') % {"name": name}]
    return Provider.registry[name].check(provider_options(name))


def provider(name: str) -> Provider:
    return Provider.registry[name](provider_options(name))


def channel(name: str, context: dict | None = None) -> Channel:
    return Channel.registry[name](context)


def validate(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` checked (each a registered channel whose providers are configured), or NotificationError."""
    checked = []
    for name in names:
        if not isinstance(name, str) or name not in Channel.registry:
            known = ", ".join(sorted(Channel.registry))
            raise NotificationError(_("Unknown channel %(name)r (known: %(known)s).") % {"name": name, "known": known})
        for provider_name in Channel.registry[name].providers:
            if found := problems(provider_name):
                raise NotificationError(
                    _("Channel %(channel)r cannot deliver through %(provider)r: %(problems)s.")
                    % {"channel": name, "provider": provider_name, "problems": "; ".join(found)}
                )
        if name not in checked:
            checked.append(name)
    return tuple(checked)

"""The forms of the messages app's views: a reply, and where a dismissed message's page was."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.contrib.messages.sending import MAX_REPLY_LENGTH


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=_("Reply"),
        max_length=MAX_REPLY_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Write a reply first.")},
    )

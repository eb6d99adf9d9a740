from django import forms
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from demo.models import Project
from inbox.models import Level


class SendTestForm(forms.Form):
    """Send yourself (or another demo user) a notification and watch it arrive."""

    recipient = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True).order_by("username"), empty_label=None)
    message = forms.CharField(max_length=300, initial="Hello from the demo!")
    level = forms.TypedChoiceField(choices=Level.choices, coerce=int, initial=Level.INFO)
    category = forms.SlugField(max_length=64, initial="test", required=False)
    url = forms.CharField(max_length=500, required=False, label=_("Link"), help_text=_("A path like /projects/1/ or an http(s) URL."))
    channels = forms.MultipleChoiceField(
        choices=[("email", _("E-mail")), ("console", _("Console"))], required=False,
        widget=forms.CheckboxSelectMultiple, label=_("Also deliver by"),
        help_text=_("The task worker that make demo starts prints both in its terminal."),
    )


class ProjectStatusForm(forms.ModelForm):
    """A project's status, changed from its page: the demo's notification rule listens for it."""

    class Meta:
        model = Project
        fields = ["status"]
        labels = {"status": _("New status")}

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from demo.forms import ProjectStatusForm, SendTestForm
from demo.models import Project
from inbox import conf
from inbox.contrib import messages as inbox_messages
from inbox.events.inprocess import InProcessBroker
from inbox.events.redis import RedisBroker
from inbox.exceptions import NotificationError
from inbox.models import Notification
from inbox.services import notifier


def _live_context() -> dict[str, Any]:
    """What the home page says about live toasts depends on the broker this demo runs with."""
    broker = conf.load(conf.get("BROKER"))
    across_processes = isinstance(broker, type) and issubclass(broker, RedisBroker)
    in_process = isinstance(broker, type) and issubclass(broker, InProcessBroker) and not across_processes
    return {"across_processes": across_processes, "in_process": in_process}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    form = SendTestForm(initial={"recipient": request.user})
    projects = Project.objects.order_by("name")
    return render(request, "demo/home.html", {"form": form, "projects": projects, **_live_context()})


@login_required
def project(request: HttpRequest, pk: int) -> HttpResponse:
    """What the seeded notifications link to: a page every signed-in demo user may open
    (they used to point at the admin, which alice and bob, not being staff, cannot)."""
    project = get_object_or_404(Project, pk=pk)
    return _project_page(request, project, ProjectStatusForm(instance=project))


def _project_page(request: HttpRequest, project: Project, form: ProjectStatusForm, status: int = 200) -> HttpResponse:
    mine = Notification.objects.recipients([request.user]).sent().targets([project]).order_by("-sent_at", "-id")
    context = {"project": project, "notifications": mine[:10], "form": form,
               "members": project.members.order_by("username"), **_live_context()}
    return render(request, "demo/project.html", context, status=status)


@require_POST
@login_required
def project_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a project's status. Nothing here sends a notification: the rule seed_demo set up in
    the admin ("A project's status changed") hears the save and tells the project's members."""
    project = get_object_or_404(Project, pk=pk)
    before = project.status
    form = ProjectStatusForm(request.POST, instance=project)
    if not form.is_valid():
        project.status = before
        return _project_page(request, project, form, status=400)
    if form.cleaned_data["status"] != before:
        with transaction.atomic():  # the rules' events go out together when it commits
            form.save()
        messages.success(request, _("%(project)s is now %(status)s.") % {
            "project": project.name, "status": project.get_status_display()}, extra_tags="inbox")
    return redirect("project", pk=project.pk)


@require_POST
@login_required
def send_test(request: HttpRequest) -> HttpResponse:
    form = SendTestForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            # The message is the user's own text: a value of the template, never the template
            # itself, so its braces are not fields and its brackets never form a shortcode.
            notifier.send("{message}", data["recipient"], actor=request.user, extra={"message": data["message"]},
                          level=data["level"], category=data["category"], url=data["url"],
                          channels=data["channels"] or None)
        except NotificationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Sent to %(username)s.") % {"username": data["recipient"].username},
                             extra_tags="inbox")
            return redirect("home")
    return render(request, "demo/home.html", {"form": form}, status=400)


@require_POST
@login_required
def add_warning(request: HttpRequest) -> HttpResponse:
    """Django's own messages API with a persistent level: it stays on every page until read."""
    messages.add_message(
        request, inbox_messages.WARNING,
        _("Your trial ends in 3 days. Add a payment method to keep your projects."),
    )
    return redirect("home")

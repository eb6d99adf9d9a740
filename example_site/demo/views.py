from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from inbox.models import Notification
from inbox.services import manager


@login_required
def home(request: HttpRequest) -> HttpResponse:
    latest = (
        Notification.objects.recipients([request.user]).sent().active().select_related("actor_type")[:20]
    )
    return render(request, "demo/home.html", {"latest": latest})


@require_POST
@login_required
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = manager.mark_all_read(request.user)
    messages.success(request, f"{count} notifications marked read.")
    return redirect("home")

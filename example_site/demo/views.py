from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from demo.forms import SendTestForm
from inbox.exceptions import NotificationError
from inbox.services import notifier


@login_required
def home(request: HttpRequest) -> HttpResponse:
    form = SendTestForm(initial={"recipient": request.user})
    return render(request, "demo/home.html", {"form": form})


@require_POST
@login_required
def send_test(request: HttpRequest) -> HttpResponse:
    form = SendTestForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            # The message is the user's own text: escape braces so it is not a format template.
            text = data["message"].replace("{", "{{").replace("}", "}}")
            notifier.send(text, data["recipient"], actor=request.user, level=data["level"],
                          category=data["category"], url=data["url"])
        except NotificationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Sent to {data['recipient'].username}.", extra_tags="inbox")
            return redirect("home")
    return render(request, "demo/home.html", {"form": form}, status=400)

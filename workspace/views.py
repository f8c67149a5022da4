from django.http import HttpRequest, HttpResponsePermanentRedirect, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import reverse

from reps.tenancy.admin import acting_for_user

from .admin import site


def site_root(request: HttpRequest) -> HttpResponseRedirect:
    """The site's root: a signed-in member of a gym's staff to the workspace, anyone else to its sign-in
    page (which links the API's docs and the platform admin)."""
    with acting_for_user(request):
        at_work = site.has_permission(request)
    return HttpResponseRedirect(reverse("workspace:index" if at_work else "workspace:login"))


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """/favicon.ico, which browsers ask for on every page that names no icon (the API's, the admin's)."""
    return HttpResponsePermanentRedirect(static("workspace/favicon.svg"))

from django.urls import reverse

from .scoping import platform_database


class PlatformAdminMiddleware:
    """Requests to the platform admin (/admin/) work through the platform database login.

    From the start, so that the session, the signed-in user and the admin's
    own pages all read through the login that may see every gym
    (reps.core.db.PlatformRouter).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix = None

    def __call__(self, request):
        if self.prefix is None:
            self.prefix = reverse("admin:index")
        if not request.path.startswith(self.prefix):
            return self.get_response(request)
        with platform_database():
            return self.get_response(request)

"""Headers that hold the HTML pages (the admin, the API docs, the browsable API) to the app's own content."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on every HTML response: scripts, styles, images and fonts from the app only.

    The pages run no inline script (the docs load theirs from /api/docs/?script); inline styles stay
    allowed, which the browsable API's templates use.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response

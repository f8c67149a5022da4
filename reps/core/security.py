"""Headers that hold the HTML pages (the admin, the API docs, the browsable API) to the app's own content."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


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


def client_address(request: HttpRequest) -> str:
    """The client's address: the connecting one, unless that is a trusted proxy (settings.TRUSTED_PROXIES).

    Behind trusted proxies, the right-most X-Forwarded-For address that is not one of them: what a
    client writes into the header itself is further left, and never believed.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if address not in settings.TRUSTED_PROXIES:
        return str(address)
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for hop in reversed(forwarded):
        if hop not in settings.TRUSTED_PROXIES:
            return hop
    return str(address)


def locked_out(request: HttpRequest, response: HttpResponse | None = None, credentials: Any = None) -> HttpResponse:
    """The answer to a sign-in while its account or address is locked out (django-axes' lockout callable)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    detail = (f"Too many failed sign-ins for this account or from this address: try again in {minutes} minutes,"
              " or ask an owner to reset the password.")
    if request.path.startswith("/api/"):
        answer: HttpResponse = JsonResponse({"status": 429, "code": "locked_out", "detail": detail}, status=429)
    else:
        answer = HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
    answer["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return answer

"""Every URL of the project, as the production server serves it: as the application role, under row-level security.

The walk signs in as a gym's owner with an API token and with a session,
and requests every URL pattern (details with the gym's own ids). None may answer 401 or 500 to a valid sign-in, as
the API root and the schema did; every view is built on the API base; and
every write endpoint refuses a body field it does not take.
"""

from typing import Any

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tests.factories import RoleFactory, UserFactory, api_token
from appointments.models import Appointment
from calls.models import CallLog
from gyms.models import KnowledgeBaseEntry
from gyms.tests.factories import GymFactory
from leads.models import Lead, LeadImport, LeadTag
from notifications.models import Notification, NotificationTemplate
from reps.core.testing import as_application_role
from reps.tenancy.api import GymAPIView, GymModelViewSet, GymReadOnlyViewSet

pytestmark = pytest.mark.django_db(transaction=True)

# Views that are not the API's, and so not built on its base: they touch no tenant data.
NOT_THE_API = {"livez", "healthz", "metrics", "rest_framework:login", "rest_framework:logout", "site-root", "favicon"}
# GET on these is 405: they only take POST (or DELETE).
POST_ONLY = {"v1:auth-token-detail", "v1:auth-token", "v1:auth-logout", "v1:auth-password", "v1:auth-token-rotate", "v1:leads-import", "v1:calls-queue",
             "v1:retell-webhook", "v1:lead-status", "v1:lead-consent", "v1:call-status", "v1:appointment-status",
             "rest_framework:logout"}
# The site root, to the workspace or its sign-in (the workspace is an admin site, tested apart); the icon.
REDIRECTS = {"site-root": 302, "favicon": 301}


def url_patterns(patterns: list[Any] = None, namespace: str | None = None) -> list[tuple[str | None, URLPattern]]:
    """(name with namespace, pattern) for every URL pattern, the admin's aside (it is the platform's, tested apart)."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            inner = pattern.namespace if not namespace else f"{namespace}:{pattern.namespace}"
            found += url_patterns(pattern.url_patterns, inner if pattern.namespace else namespace)
        else:
            found.append((f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name, pattern))
    return found


@pytest.fixture
def signed_in(add_one_of_everything):
    """A gym with one of everything, its owner signed in with a token and with a session; gym B beside it."""
    gym = GymFactory(name="Gym A")
    lead = add_one_of_everything(gym)
    add_one_of_everything(GymFactory(name="Gym B"))
    owner = UserFactory(gym=gym, role=RoleFactory(name="owner"))
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {api_token(owner)}")
    token = ApiToken.objects.get(user=owner)
    by_session = Client()
    by_session.force_login(owner)
    call = CallLog.objects.unscoped().get(lead=lead)
    rows = {"lead": lead, "tag": LeadTag.objects.unscoped().get(gym=gym), "call": call, "campaign": call.campaign,
            "appointment": Appointment.objects.unscoped().get(lead=lead), "user": owner, "branch": lead.branch,
            "knowledge-base": KnowledgeBaseEntry.objects.unscoped().get(gym=gym),
            "lead-import": LeadImport.objects.unscoped().filter(gym=gym).first(),
            "notification": Notification.objects.unscoped().filter(gym=gym).first(),
            "notification-template": NotificationTemplate.objects.unscoped().filter(gym=gym).first()}
    ids = {name: str(row.pk) for name, row in rows.items()} | {"token": str(token.public_id)}
    return {"token": by_token, "session": by_session, "ids": ids}


def concrete_urls(ids: dict[str, str]) -> list[tuple[str | None, str]]:
    """(name, URL) for every pattern, filled in with the gym's own ids."""
    urls = []
    for name, pattern in url_patterns():
        kwargs = {}
        if "pk" in pattern.pattern.regex.groupindex:
            kwargs["pk"] = ids[name.split(":")[1].rsplit("-", 1)[0]]
        if "token_id" in pattern.pattern.regex.groupindex:
            kwargs["token_id"] = ids["token"]
        urls.append((name, reverse(name, kwargs=kwargs)))
    return sorted(set(urls), key=lambda item: item[1])


@pytest.mark.parametrize("how", ["token", "session"])
def test_every_url_answers_a_signed_in_gym_owner_as_the_application_role(signed_in, how):
    client = signed_in[how]
    answers = {}
    with as_application_role():
        for name, url in concrete_urls(signed_in["ids"]):
            answers[url] = (name, client.get(url).status_code)

    wrong = {url: (name, status) for url, (name, status) in answers.items()
             if status != (405 if name in POST_ONLY else REDIRECTS.get(name, 200))}
    assert wrong == {}
    assert len(answers) > 35


def test_the_browsable_api_pages_render_for_a_signed_in_session(signed_in):
    with as_application_role():
        pages = {url: signed_in["session"].get(url, HTTP_ACCEPT="text/html")
                 for name, url in concrete_urls(signed_in["ids"])
                 if name and name.startswith("v1:") and name not in POST_ONLY}

    assert {url: page.status_code for url, page in pages.items() if page.status_code != 200} == {}
    assert all(b"[invalid name]" not in page.content for page in pages.values())


def test_signing_in_to_the_browsable_api_without_next_lands_on_the_api_root():
    owner = UserFactory(gym=GymFactory(), role=RoleFactory(name="owner"))
    browser = Client()

    with as_application_role():
        signed_in = browser.post("/api-auth/login/", {"username": owner.email, "password": "correct horse battery staple"})
        landing = browser.get(signed_in.headers["Location"], HTTP_ACCEPT="text/html")

    assert (signed_in.status_code, signed_in.headers["Location"]) == (302, "/api/v1/")
    assert landing.status_code == 200


def test_the_browsable_apis_log_out_works_under_the_content_security_policy():
    """No inline handler, which the policy (script-src 'self') blocks: a plain form logs out."""
    import re
    owner = UserFactory(gym=GymFactory(), role=RoleFactory(name="owner"))
    browser = Client()

    with as_application_role():
        browser.post("/api-auth/login/", {"username": owner.email, "password": "correct horse battery staple"})
        page = browser.get("/api/v1/", HTTP_ACCEPT="text/html")
        action = re.search(r'<form method="post" action="([^"]*/api-auth/logout/[^"]*)"', page.content.decode())
        logged_out = browser.post(action.group(1).replace("&amp;", "&"))
        after = browser.get("/api/v1/leads/", HTTP_ACCEPT="application/json")

    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert not re.search(rb"\son[a-z]+=", page.content)
    assert logged_out.status_code in (200, 302) and after.status_code in (401, 403)


def test_every_view_of_the_api_is_built_on_its_base():
    others = {name: pattern.callback for name, pattern in url_patterns() if name not in NOT_THE_API}

    not_on_the_base = sorted(name for name, view in others.items()
                             if not issubclass(getattr(view, "cls", None) or getattr(view, "view_class", object),
                                               GymAPIView))
    assert not_on_the_base == []
    assert admin_site.__class__.__name__ == "PlatformAdminSite"


WRITES = {"post": ["v1:branch-list", "v1:knowledge-base-list", "v1:user-list", "v1:lead-list", "v1:lead-status",
                   "v1:lead-consent",
                   "v1:tag-list", "v1:call-list", "v1:call-status", "v1:campaign-list", "v1:appointment-list",
                   "v1:appointment-status", "v1:calls-queue", "v1:auth-token", "v1:auth-logout",
                   "v1:auth-token-rotate", "v1:leads-import"],
          "patch": ["v1:gym", "v1:branch-detail", "v1:knowledge-base-detail", "v1:user-detail", "v1:lead-detail",
                    "v1:tag-detail", "v1:call-detail", "v1:campaign-detail", "v1:appointment-detail"]}


@pytest.mark.parametrize("method, name", [(method, name) for method, names in WRITES.items() for name in names])
def test_every_write_refuses_a_field_it_does_not_take(signed_in, method, name):
    url = dict(concrete_urls(signed_in["ids"]))[name]
    multipart = name == "v1:leads-import"

    with as_application_role():
        response = getattr(signed_in["token"], method)(url, {"shoe_size": "9"}, format="multipart" if multipart
                                                        else "json")

    assert response.status_code == 400, (url, response.content)
    assert "shoe_size" in response.json()["errors"]


def test_a_viewset_that_would_write_around_the_services_or_read_around_its_gym_is_refused_when_defined():
    with pytest.raises(ImproperlyConfigured, match=r"perform_create\(\) would write through DRF's default"):
        class Careless(GymModelViewSet):  # create, update and destroy with DRF's plain save() and delete()
            model = Lead

    with pytest.raises(ImproperlyConfigured, match=r"overrides get_queryset\(\)"):
        class Everything(GymReadOnlyViewSet):
            model = Lead

            def get_queryset(self):
                return Lead.objects.unscoped()

    class Careful(GymModelViewSet):  # writes through services: fine
        model = Lead

        def perform_create(self, serializer): ...

        def perform_update(self, serializer): ...

        def perform_destroy(self, instance): ...

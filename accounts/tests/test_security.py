import datetime
import logging
import re

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def login(client, email, password):
    return client.post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")


def test_sign_in_attempts_are_throttled(gym, settings):
    UserFactory(gym=gym, email="coach@example.com")
    client = APIClient()

    statuses = [login(client, "coach@example.com", "wrong").status_code for _ in range(10)]
    blocked = login(client, "coach@example.com", PASSWORD)

    assert statuses == [401] * 10
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "throttled"


def test_tokens_expire(gym, settings):
    user = UserFactory(gym=gym)
    token = Token.objects.create(user=user)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - datetime.timedelta(hours=24 * 7 + 1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = client.get("/api/v1/leads/")

    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert client.get("/api/v1/leads/").status_code == 401
    fresh = login(APIClient(), user.email, PASSWORD).json()["token"]
    assert fresh != token.key
    assert list(Token.objects.filter(user=user).values_list("key", flat=True)) == [fresh]


def test_rotation_swaps_the_token(gym):
    user = UserFactory(gym=gym)
    old = login(APIClient(), user.email, PASSWORD).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")

    new = client.post("/api/v1/auth/token/rotate/").json()["token"]

    assert new != old
    assert client.get("/api/v1/leads/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert client.get("/api/v1/leads/").status_code == 200


def test_passwords_and_tokens_never_reach_the_logs(gym, caplog, settings):
    settings.SLOW_QUERY_MS = 0  # log every statement too: parameters must stay out
    user = UserFactory(gym=gym, email="coach@example.com")
    token = Token.objects.create(user=user).key
    client = APIClient()

    with caplog.at_level(logging.DEBUG):
        login(client, "coach@example.com", "s3cret-Wrong-Pass")
        login(client, "coach@example.com", PASSWORD)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        client.get("/api/v1/leads/?search=zz")
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token-value")
        client.get("/api/v1/leads/")

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records  # something was logged, and none of it is a secret
    for secret in ["s3cret-Wrong-Pass", PASSWORD, token, "not-a-real-token-value"]:
        assert secret not in text


def test_security_headers(client, settings):
    response = client.get("/livez")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize("url", ["/api/docs/", "/admin/login/", "/api-auth/login/", "/api/v1/leads/"])
def test_html_pages_carry_a_content_security_policy_and_run_no_inline_script(api, url):
    response = api.get(url, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    html = response.content.decode()
    inline = [tag for tag in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) if "application/json" not in tag]
    assert inline == []


def test_the_docs_start_up_script_is_served_apart(client):
    page = client.get("/api/docs/").content.decode()
    script = re.search(r'<script src="([^"]*script[^"]*)"', page).group(1)

    response = client.get(script)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()
    assert client.get("/api/v1/leads/", HTTP_ACCEPT="application/json")["Content-Type"] == "application/json"

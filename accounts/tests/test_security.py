import datetime
import logging
import re

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tests.factories import PASSWORD, UserFactory, api_token

pytestmark = pytest.mark.django_db


def login(client, email, password):
    return client.post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")


@pytest.fixture
def coach(gym):
    return UserFactory(gym=gym, email="coach@example.com")


def test_the_api_sign_in_locks_out_an_account_after_the_failure_limit(coach, settings):
    statuses = [login(APIClient(), "coach@example.com", "wrong").status_code for _ in range(10)]
    blocked = login(APIClient(), "coach@example.com", PASSWORD)  # the right password, too late

    assert statuses == [401] * 9 + [429]  # the tenth failure locks the account out
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "locked_out"
    assert int(blocked["Retry-After"]) == 15 * 60


def test_a_new_x_forwarded_for_on_each_attempt_does_not_reset_the_count(coach, gym):
    UserFactory(gym=gym, email="other@example.com")
    for n in range(10):  # ten accounts' worth of guesses from one address, each claiming another
        login(APIClient(HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"), f"guess{n}@example.com", "wrong")

    blocked = login(APIClient(HTTP_X_FORWARDED_FOR="198.51.100.99"), "other@example.com", PASSWORD)

    assert blocked.status_code == 429  # the address is the one that connected: no proxy is trusted


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_clients(coach, gym, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    UserFactory(gym=gym, email="other@example.com")
    for n in range(10):
        login(APIClient(HTTP_X_FORWARDED_FOR="203.0.113.7"), f"guess{n}@example.com", "wrong")

    from_there = login(APIClient(HTTP_X_FORWARDED_FOR="203.0.113.7"), "other@example.com", PASSWORD)
    elsewhere = login(APIClient(HTTP_X_FORWARDED_FOR="203.0.113.8"), "other@example.com", PASSWORD)
    spoofed = login(APIClient(HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7"), "other@example.com", PASSWORD)

    assert (from_there.status_code, elsewhere.status_code, spoofed.status_code) == (429, 200, 429)


@pytest.mark.parametrize("path, email", [("/api-auth/login/", "coach@example.com"),
                                         ("/admin/login/", "platform@reps.test")])
def test_the_browsable_api_and_admin_sign_ins_lock_out_too(client, coach, superuser, path, email):
    answers = [client.post(path, {"username": email, "password": "wrong"}).status_code for _ in range(10)]
    # The right password, from another address: the account itself is locked.
    blocked = client.post(path, {"username": email, "password": PASSWORD}, REMOTE_ADDR="192.0.2.1")

    assert answers == [200] * 9 + [429]  # the form again, until the tenth failure
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) == 15 * 60


def test_tokens_expire(gym, settings):
    user = UserFactory(gym=gym)
    key = api_token(user)
    ApiToken.objects.filter(user=user).update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.get("/api/v1/leads/")

    assert response.status_code == 401 and "expired" in response.json()["detail"]
    fresh = login(APIClient(), user.email, PASSWORD).json()["token"]
    assert fresh != key
    assert ApiToken.objects.filter(user=user).count() == 1  # the expired one went with the sign-in


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


def test_tokens_are_kept_hashed_one_per_device_and_listed_and_revoked_by_their_owner(gym, other_gym):
    user = UserFactory(gym=gym, email="coach@example.com")
    phone = APIClient()
    first = phone.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD, "name": "phone"},
                       format="json").json()["token"]
    # The same device signing in again: its new token replaces its old one.
    phone.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD, "name": "phone"}, format="json")
    phone.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert phone.get("/api/v1/auth/tokens/").status_code == 401
    laptop_answer = login(APIClient(HTTP_USER_AGENT="curl/8.0"), user.email, PASSWORD).json()
    laptop = APIClient()
    laptop.credentials(HTTP_AUTHORIZATION=f"Token {laptop_answer['token']}")
    intruder = APIClient()
    intruder.credentials(HTTP_AUTHORIZATION=f"Token {api_token(UserFactory(gym=other_gym))}")

    listed = laptop.get("/api/v1/auth/tokens/").json()
    phone_id = next(token["id"] for token in listed if token["name"] == "phone")

    assert sorted((token["name"], token["current"]) for token in listed) == [("curl/8.0", True), ("phone", False)]
    assert not ApiToken.objects.filter(digest=laptop_answer["token"]).exists()  # only the hash is stored
    assert all(laptop_answer["token"] not in str(value) for value in ApiToken.objects.values_list())
    assert intruder.delete(f"/api/v1/auth/tokens/{phone_id}/").status_code == 404  # another gym's user's token
    assert laptop.delete(f"/api/v1/auth/tokens/{phone_id}/").status_code == 204
    assert [token["name"] for token in laptop.get("/api/v1/auth/tokens/").json()] == ["curl/8.0"]
    assert laptop.post("/api/v1/auth/logout/").status_code == 204
    assert laptop.get("/api/v1/auth/tokens/").status_code == 401


def test_the_admin_never_shows_a_token(admin_client, gym):
    key = api_token(UserFactory(gym=gym, email="coach@example.com"), name="phone")

    listed = admin_client.get("/admin/accounts/apitoken/").content.decode()
    detail = admin_client.get(f"/admin/accounts/apitoken/{ApiToken.objects.get().pk}/change/").content.decode()

    assert "phone" in listed and key not in listed and key not in detail
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_passwords_and_tokens_never_reach_the_logs(gym, caplog, settings):
    settings.SLOW_QUERY_MS = 0  # log every statement too: parameters must stay out
    user = UserFactory(gym=gym, email="coach@example.com")
    token = api_token(user)
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


def test_writing_the_account_in_other_cases_does_not_reset_its_count(coach):
    for n in range(10):
        login(APIClient(REMOTE_ADDR=f"192.0.2.{n}"), "COACH@example.com" if n % 2 else "Coach@Example.com", "wrong")

    assert login(APIClient(REMOTE_ADDR="192.0.2.200"), "coach@example.com", PASSWORD).status_code == 429

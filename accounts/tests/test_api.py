import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def login(email, password=PASSWORD):
    return APIClient().post("/api/v1/auth/token/", {"email": email, "password": password}, format="json")


def test_token_login_and_use(gym):
    UserFactory(gym=gym, email="coach@example.com")

    response = login("Coach@Example.com")

    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/leads/").status_code == 200


@pytest.mark.parametrize("email, password", [("coach@example.com", "wrong"), ("nobody@example.com", PASSWORD)])
def test_wrong_credentials_are_401_in_the_error_shape(gym, email, password):
    UserFactory(gym=gym, email="coach@example.com")

    response = login(email, password)

    assert response.status_code == 401
    assert response.json() == {"status": 401, "code": "authentication_failed", "detail": "Wrong email or password."}


def test_malformed_login_is_400(gym):
    response = APIClient().post("/api/v1/auth/token/", {"email": "not-an-email"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"email", "password"}


def test_logout_revokes_the_token(gym):
    UserFactory(gym=gym, email="coach@example.com")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {login('coach@example.com').json()['token']}")

    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert client.get("/api/v1/leads/").status_code == 401


def test_unauthenticated_requests_are_401(db):
    response = APIClient().get("/api/v1/leads/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_platform_superusers_without_a_gym_use_the_admin_not_the_api(superuser, api_client_for):
    assert login(superuser.email).status_code == 401
    # Row-level security hides users of no gym from the API: their token names nobody.
    assert api_client_for(superuser).get("/api/v1/leads/").status_code == 401


def test_the_browsable_api_works_for_a_signed_in_staff_member(client, gym, add_one_of_everything):
    add_one_of_everything(gym)
    client.force_login(UserFactory(gym=gym))

    for url in ["/api/v1/", "/api/v1/leads/", "/api/v1/appointments/", "/api/v1/gym/"]:
        page = client.get(url, HTTP_ACCEPT="text/html")
        assert page.status_code == 200, url
        assert b"Django REST framework" in page.content


def test_session_writes_need_a_csrf_token(gym):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory(gym=gym))

    response = client.post("/api/v1/tags/", {"name": "vip"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# --- users and roles -----------------------------------------------------------------


@pytest.fixture
def staff(gym, api_client_for):
    def make(role):
        return api_client_for(UserFactory(gym=gym, role=RoleFactory(name=role)))

    return make


def new_user(role="sales", **extra):
    return {"email": f"new-{role}@example.com", "first_name": "New", "last_name": "Person", "role": role,
            "password": "a long and unusual password", **extra}


@pytest.mark.parametrize("role, status", [("owner", 201), ("manager", 201), ("sales", 403)])
def test_owners_and_managers_manage_users(staff, role, status):
    response = staff(role).post("/api/v1/users/", new_user(), format="json")

    assert response.status_code == status


def test_only_an_owner_makes_owners(staff):
    assert staff("manager").post("/api/v1/users/", new_user("owner"), format="json").status_code == 403
    assert staff("owner").post("/api/v1/users/", new_user("owner"), format="json").status_code == 201


def test_a_new_user_needs_a_decent_password(staff):
    response = staff("owner").post("/api/v1/users/", new_user(password="12345678"), format="json")

    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_deleting_a_user_deactivates_them_and_revokes_their_token(staff, gym, api_client_for):
    leaving = UserFactory(gym=gym)
    their_client = api_client_for(leaving)

    assert staff("manager").delete(f"/api/v1/users/{leaving.pk}/").status_code == 204

    leaving.refresh_from_db()
    assert not leaving.is_active
    assert their_client.get("/api/v1/leads/").status_code == 401


def test_a_new_users_gym_is_the_callers(staff, gym, other_gym):
    refused = staff("owner").post("/api/v1/users/", new_user(gym=str(other_gym.pk)), format="json")
    created = staff("owner").post("/api/v1/users/", new_user(), format="json")

    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["gym"]
    assert created.status_code == 201
    assert User.objects.get(email="new-sales@example.com").gym_id == gym.pk


@pytest.mark.parametrize(
    "url, body",
    [("/api/v1/branches/", {"name": "North"}), ("/api/v1/campaigns/", {"name": "Spring"}),
     ("/api/v1/knowledge-base/", {"title": "Parking", "content": "Free after 6pm."})],
)
def test_sales_read_but_do_not_manage_branches_campaigns_and_the_knowledge_base(staff, url, body):
    assert staff("sales").get(url).status_code == 200
    assert staff("sales").post(url, body, format="json").status_code == 403
    assert staff("manager").post(url, body, format="json").status_code == 201


def test_settings_are_for_owners_and_managers(staff):
    change = {"settings": {"default_appointment_minutes": 45}}

    assert staff("sales").patch("/api/v1/gym/", change, format="json").status_code == 403
    response = staff("manager").patch("/api/v1/gym/", change, format="json")
    assert response.status_code == 200
    assert response.json()["settings"]["default_appointment_minutes"] == 45


@pytest.mark.parametrize(
    "url, body",
    [("/api/v1/leads/", {"first_name": "Jo", "last_name": "Lee", "phone": "212 555 0142"}),
     ("/api/v1/tags/", {"name": "vip"})],
)
def test_sales_work_leads(staff, url, body):
    assert staff("sales").post(url, body, format="json").status_code == 201


# --- found by the attack on production settings (issue 14) -----------------------------------------


def test_only_an_owner_sets_another_persons_password(staff, gym):
    fellow = UserFactory(gym=gym, role=RoleFactory(name="manager"), email="fellow@example.com")
    sales = UserFactory(gym=gym, role=RoleFactory(name="sales"), email="seller@example.com")
    new = {"password": "another long unusual password"}

    by_manager = [staff("manager").patch(f"/api/v1/users/{user.pk}/", new, format="json") for user in (fellow, sales)]
    by_owner = staff("owner").patch(f"/api/v1/users/{sales.pk}/", new, format="json")

    assert [response.status_code for response in by_manager] == [403, 403]
    assert by_owner.status_code == 200
    assert login("seller@example.com", new["password"]).status_code == 200
    assert login("fellow@example.com").status_code == 200  # unchanged


def test_changing_your_own_password_takes_your_current_one(api_client_for, gym):
    me = UserFactory(gym=gym, role=RoleFactory(name="manager"), email="me@example.com")
    client = api_client_for(me)
    new = "another long unusual password"

    without = client.patch(f"/api/v1/users/{me.pk}/", {"password": new}, format="json")
    wrong = client.patch(f"/api/v1/users/{me.pk}/", {"password": new, "current_password": "guess"}, format="json")
    right = client.patch(f"/api/v1/users/{me.pk}/", {"password": new, "current_password": PASSWORD}, format="json")

    assert [without.status_code, wrong.status_code] == [400, 400]
    assert list(without.json()["errors"]) == ["current_password"]
    assert right.status_code == 200
    assert login("me@example.com", new).status_code == 200


def test_a_stolen_token_cannot_guess_the_current_password_without_end(api_client_for, gym, settings):
    me = UserFactory(gym=gym, role=RoleFactory(name="manager"))
    client = api_client_for(me)
    change = {"password": "another long unusual password"}

    guesses = [client.patch(f"/api/v1/users/{me.pk}/", {**change, "current_password": f"guess {n}"},
                            format="json").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    right = client.patch(f"/api/v1/users/{me.pk}/", {**change, "current_password": PASSWORD}, format="json")

    assert guesses == [400] * settings.AXES_FAILURE_LIMIT
    assert right.status_code == 429 and right.json()["code"] == "locked_out"
    assert int(right["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    me.refresh_from_db()
    assert me.check_password(PASSWORD)


def test_a_taken_email_reads_the_same_whichever_gym_has_it(staff, gym, other_gym):
    UserFactory(gym=gym, email="here@example.com")
    UserFactory(gym=other_gym, email="there@example.com")

    answers = [staff("owner").post("/api/v1/users/", new_user(email=email), format="json").json()["errors"]
               for email in ("here@example.com", "there@example.com")]

    assert answers[0] == answers[1] == {"email": ["This email is already taken."]}


@pytest.mark.parametrize("email", ["owner@northsıde.test", "оwner@northside.test",  # a dotless ı; a Cyrillic о
                                   "owner@xn--northsde-gwa.test"])  # the dotless ı again, in punycode
def test_look_alike_emails_are_refused(staff, email):
    response = staff("owner").post("/api/v1/users/", new_user(email=email), format="json")

    assert response.status_code == 400 and "email" in response.json()["errors"]


def test_emails_are_compared_as_normalized_text(staff, gym):
    UserFactory(gym=gym, email="coach@example.com")

    duplicate = staff("owner").post("/api/v1/users/", new_user(email="ＣＯＡＣＨ@example.com"), format="json")

    assert duplicate.json()["errors"] == {"email": ["This email is already taken."]}
    assert login("ｃｏａｃｈ@example.com").status_code == 200  # full-width letters sign in as the plain address


@pytest.mark.parametrize("role", ["sales", "manager", "owner"])
def test_everyone_changes_their_own_password_with_the_current_one(api_client_for, gym, role, settings):
    me = UserFactory(gym=gym, role=RoleFactory(name=role), email=f"{role}-self@example.com")
    client = api_client_for(me)
    new = "another long unusual password"

    wrong = client.post("/api/v1/auth/password/", {"current_password": "guess", "password": new}, format="json")
    weak = client.post("/api/v1/auth/password/", {"current_password": PASSWORD, "password": "123"}, format="json")
    right = client.post("/api/v1/auth/password/", {"current_password": PASSWORD, "password": new}, format="json")

    assert wrong.status_code == 400 and "current_password" in wrong.json()["errors"]
    assert weak.status_code == 400 and "password" in weak.json()["errors"]
    assert right.status_code == 204
    assert login(me.email, PASSWORD).status_code == 401 and login(me.email, new).status_code == 200


def test_guessing_the_current_password_through_auth_password_is_limited(api_client_for, gym, settings):
    me = UserFactory(gym=gym, role=RoleFactory(name="sales"))
    client = api_client_for(me)
    new = "another long unusual password"

    guesses = [client.post("/api/v1/auth/password/", {"current_password": f"guess {n}", "password": new},
                           format="json").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    right = client.post("/api/v1/auth/password/", {"current_password": PASSWORD, "password": new}, format="json")

    assert guesses == [400] * settings.AXES_FAILURE_LIMIT
    assert right.status_code == 429 and int(right["Retry-After"]) > 0
    me.refresh_from_db()
    assert me.check_password(PASSWORD)

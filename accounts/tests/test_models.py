import pytest
from django.contrib.auth import authenticate
from django.db.models import ProtectedError
from django.test import RequestFactory

from accounts.models import Role, RoleName, User, UserProfile
from accounts.tests.factories import PASSWORD, RoleFactory, UserFactory
from reps.core.testing import refused_by_database, validation_messages

pytestmark = pytest.mark.django_db


def test_roles_owner_manager_and_sales_exist_from_the_data_migration():
    assert set(Role.objects.values_list("name", flat=True)) == {"owner", "manager", "sales"}


def test_email_is_stored_lower_case_and_logs_in_in_any_case(gym):
    user = User.objects.create_user("Jane.Doe@Example.COM", "a long enough password", gym=gym, role=RoleFactory())

    assert user.email == "jane.doe@example.com"
    sign_in = RequestFactory().post("/api-auth/login/")  # django-axes counts attempts by their request
    assert authenticate(sign_in, username="JANE.DOE@example.com", password="a long enough password") == user
    assert authenticate(sign_in, username="jane.doe@example.com", password="wrong") is None


def test_password_is_hashed(gym):
    user = UserFactory(gym=gym)

    assert user.password.startswith("pbkdf2_sha256$")
    assert user.check_password(PASSWORD)


def test_email_is_unique_whatever_its_case(gym, other_gym):
    UserFactory(gym=gym, email="coach@example.com")

    duplicate = User(email="COACH@example.com", gym=other_gym, role=RoleFactory())
    assert validation_messages(duplicate, exclude=["password"])["email"] == ["This email is already taken."]
    with refused_by_database("accounts_user_email_key"):
        UserFactory(gym=other_gym, email="Coach@Example.com")


def test_database_keeps_emails_lower_case(gym):
    user = UserFactory(gym=gym)

    with refused_by_database("user_email_lowercase"):
        User.objects.filter(pk=user.pk).update(email="Someone@Example.com")


def test_gym_staff_need_a_gym_and_a_role(gym):
    without_gym = User(email="a@example.com", role=RoleFactory())
    assert validation_messages(without_gym, exclude=["password"])["__all__"] == [
        "Everyone but a platform superuser needs a gym and a role."
    ]
    with refused_by_database("user_gym_and_role_unless_superuser"):
        UserFactory(gym=None)
    with refused_by_database("user_gym_and_role_unless_superuser"):
        UserFactory(gym=gym, role=None)


def test_platform_superuser_may_have_no_gym():
    admin = User.objects.create_superuser("root@reps.test", "a long enough password")

    assert admin.gym is None and admin.is_staff and admin.is_superuser


def test_a_role_in_use_cannot_be_deleted(gym):
    UserFactory(gym=gym, role=RoleFactory(name=RoleName.OWNER))

    with pytest.raises(ProtectedError):
        Role.objects.get(name=RoleName.OWNER).delete()


def test_profile_phone_uses_the_gyms_country(gym):
    profile = UserProfile.objects.create(user=UserFactory(gym=gym), phone="212-555-0199")

    assert profile.phone == "+12125550199"

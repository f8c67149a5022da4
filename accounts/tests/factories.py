import functools

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import ApiToken, Role, RoleName, User
from gyms.tests.factories import GymFactory


class RoleFactory(factory.django.DjangoModelFactory):
    # The roles come from a data migration; get_or_create also serves
    # transactional tests, which empty the tables afterwards.
    class Meta:
        model = Role
        django_get_or_create = ("name",)

    name = RoleName.SALES


PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash():
    # Hashing takes a deliberate ~0.3 s; one hash serves every test user.
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Sam"
    last_name = "Staff"
    gym = factory.SubFactory(GymFactory)
    role = factory.SubFactory(RoleFactory)
    password = factory.LazyFunction(password_hash)


def api_token(user, name="test"):
    """A new API token of the user, and its key (what a sign-in answers)."""
    return ApiToken.objects.create(user=user, name=name, last_used_at=timezone.now())[1]

import factory

from accounts.models import Role, RoleName, User
from gyms.tests.factories import GymFactory


class RoleFactory(factory.django.DjangoModelFactory):
    # The roles come from a data migration; get_or_create also serves
    # transactional tests, which empty the tables afterwards.
    class Meta:
        model = Role
        django_get_or_create = ("name",)

    name = RoleName.SALES


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Sam"
    last_name = "Staff"
    gym = factory.SubFactory(GymFactory)
    role = factory.SubFactory(RoleFactory)
    password = factory.django.Password("correct horse battery staple")

import factory

from gyms.models import Branch, Gym, KnowledgeBaseEntry
from gyms.services import ensure_gym_settings


class GymFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Gym
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Gym {n}")
    timezone = "America/New_York"
    country_code = "US"

    @factory.post_generation
    def settings(gym, create, extracted, **kwargs):
        if create:
            ensure_gym_settings(gym)


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    gym = factory.SubFactory(GymFactory)
    name = factory.Sequence(lambda n: f"Branch {n}")
    city = "New York"


class KnowledgeBaseEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KnowledgeBaseEntry

    gym = factory.SubFactory(GymFactory)
    title = factory.Sequence(lambda n: f"Entry {n}")
    content = "Monthly membership is 49 a month."

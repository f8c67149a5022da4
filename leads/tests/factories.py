import factory

from gyms.tests.factories import GymFactory
from leads.models import Lead, LeadQualification, LeadTag, LeadTagAssignment


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    gym = factory.SubFactory(GymFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    # Valid New York numbers: +1 212 555 0000 onwards.
    phone = factory.Sequence(lambda n: f"+1212555{n % 10000:04d}")


class LeadTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadTag

    gym = factory.SubFactory(GymFactory)
    name = factory.Sequence(lambda n: f"tag {n}")


class LeadTagAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadTagAssignment

    lead = factory.SubFactory(LeadFactory)
    gym = factory.SelfAttribute("lead.gym")
    tag = factory.SubFactory(LeadTagFactory, gym=factory.SelfAttribute("..gym"))


class LeadQualificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadQualification

    lead = factory.SubFactory(LeadFactory)
    gym = factory.SelfAttribute("lead.gym")
    score = 50

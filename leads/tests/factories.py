import factory

from gyms.tests.factories import GymFactory
from leads.models import Lead, LeadImport, LeadQualification, LeadTag, LeadTagAssignment


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


class LeadImportFactory(factory.django.DjangoModelFactory):
    """An import job, done (a big upload's LeadImport, as the worker leaves it)."""

    class Meta:
        model = LeadImport

    gym = factory.SubFactory(GymFactory)
    status = "done"
    source_name = "leads.csv"
    text = "Name,Phone\nJane Doe,212-555-0100\n"
    rows_total = 1
    rows_processed = 1
    created_count = 1
    report = factory.LazyFunction(lambda: {"rows": 1, "created": 1, "updated": 0, "skipped": 0, "errors": [],
                                           "complete": True, "errors_truncated": False})

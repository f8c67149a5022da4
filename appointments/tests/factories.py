import datetime

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from appointments.models import Appointment
from leads.tests.factories import LeadFactory


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    lead = factory.SubFactory(LeadFactory)
    gym = factory.SelfAttribute("lead.gym")
    staff = factory.SubFactory(UserFactory, gym=factory.SelfAttribute("..gym"))
    title = "Gym tour"
    scheduled_time = factory.Sequence(
        lambda n: timezone.now().replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=1, hours=n)
    )

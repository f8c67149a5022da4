import factory

from appointments.tests.factories import AppointmentFactory
from notifications.models import Notification, NotificationTemplate


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    appointment = factory.SubFactory(AppointmentFactory)
    lead = factory.SelfAttribute("appointment.lead")
    gym = factory.SelfAttribute("appointment.gym")
    kind = "reminder"
    channel = "email"
    key = factory.Sequence(lambda n: f"test:{n}")
    scheduled_time = factory.SelfAttribute("appointment.scheduled_time")
    send_at = factory.SelfAttribute("appointment.scheduled_time")


class NotificationTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationTemplate

    kind = "reminder"
    channel = "sms"
    body = "{{ gym.name }}: see you {{ appointment.when }}!"

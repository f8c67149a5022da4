import django_filters

from appointments.models import Appointment
from leads.models import Lead
from reps.core.filters import ChoicesFilter, MomentFilter
from reps.tenancy.api import GymModelChoiceFilter

from .choices import Channel, Kind, NotificationStatus
from .models import Notification, NotificationTemplate


class NotificationFilter(django_filters.FilterSet):
    status = ChoicesFilter(choices=NotificationStatus.choices)
    channel = ChoicesFilter(choices=Channel.choices)
    kind = ChoicesFilter(choices=Kind.choices)
    appointment = GymModelChoiceFilter(model=Appointment)
    lead = GymModelChoiceFilter(model=Lead)
    send_after = MomentFilter(field_name="send_at", lookup_expr="gte", label="Due at or after")
    send_before = MomentFilter(field_name="send_at", lookup_expr="lt", label="Due before")

    class Meta:
        model = Notification
        fields = ["status", "channel", "kind", "appointment", "lead", "send_after", "send_before"]


class NotificationTemplateFilter(django_filters.FilterSet):
    channel = ChoicesFilter(choices=Channel.choices)
    kind = ChoicesFilter(choices=Kind.choices)

    class Meta:
        model = NotificationTemplate
        fields = ["channel", "kind"]

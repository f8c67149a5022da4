import django_filters

from accounts.models import User
from gyms.models import Branch
from leads.models import Lead
from reps.core.filters import ChoicesFilter, MomentFilter
from reps.tenancy.api import GymModelChoiceFilter

from .choices import AppointmentStatus
from .models import Appointment


class AppointmentFilter(django_filters.FilterSet):
    status = ChoicesFilter(choices=AppointmentStatus.choices)
    staff = GymModelChoiceFilter(model=User)
    branch = GymModelChoiceFilter(model=Branch)
    lead = GymModelChoiceFilter(model=Lead)
    scheduled_after = MomentFilter(field_name="scheduled_time", lookup_expr="gte", label="At or after")
    scheduled_before = MomentFilter(field_name="scheduled_time", lookup_expr="lt", label="Before")

    class Meta:
        model = Appointment
        fields = ["status", "staff", "branch", "lead", "scheduled_after", "scheduled_before"]

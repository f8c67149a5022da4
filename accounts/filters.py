import django_filters

from reps.core.filters import ChoicesFilter, StrictBooleanFilter

from .choices import RoleName
from .models import User


class UserFilter(django_filters.FilterSet):
    role = ChoicesFilter(field_name="role__name", choices=RoleName.choices)
    is_active = StrictBooleanFilter(label="Active")

    class Meta:
        model = User
        fields = ["role", "is_active"]

import django_filters

from reps.core.api import StrictBooleanFilter

from .models import RoleName, User


class UserFilter(django_filters.FilterSet):
    role = django_filters.MultipleChoiceFilter(field_name="role__name", choices=RoleName.choices)
    is_active = StrictBooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]

import django_filters

from .models import RoleName, User


class UserFilter(django_filters.FilterSet):
    role = django_filters.MultipleChoiceFilter(field_name="role__name", choices=RoleName.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]

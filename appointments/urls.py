from typing import Any

from .views import AppointmentViewSet

routes = [("appointments", AppointmentViewSet, "appointment")]

urlpatterns: list[Any] = []

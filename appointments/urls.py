from .views import AppointmentViewSet

routes = [("appointments", AppointmentViewSet, "appointment")]

urlpatterns = []

from django.apps import AppConfig


class GymsConfig(AppConfig):
    name = "gyms"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self):
        # The outbox relay hands appointment changes to this app's subscriber (services.plan_notifications).
        from . import tasks  # noqa: F401

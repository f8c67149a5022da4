from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "reps.core"
    label = "core"
    verbose_name = "Reps core"

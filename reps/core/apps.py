from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    name = "reps.core"
    label = "core"
    verbose_name = "Reps core"

    def ready(self):
        from django.db.models.signals import post_migrate

        from reps.tenancy.database import grant_application_role

        from . import observability  # noqa: F401  (connects the query timer to every connection)

        # Tables that later migrations create are the application role's to use too.
        post_migrate.connect(grant_application_role, sender=self)


class PlatformAdminConfig(admin_apps.AdminConfig):
    """The admin, with reps.tenancy.admin.PlatformAdminSite as its site."""

    default = False
    default_site = "reps.tenancy.admin.PlatformAdminSite"

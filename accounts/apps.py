import importlib

from django.apps import AppConfig
from django.apps import apps as global_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        # The roles come from a data migration; a flush (between transactional
        # tests, or `manage.py flush`) empties them, so they are put back after
        # it as Django puts back content types and permissions.
        post_migrate.connect(ensure_roles, sender=self)


def ensure_roles(using="default", apps=global_apps, **kwargs):
    try:
        Role = apps.get_model("accounts", "Role")  # as the migrations left it: maybe not there (migrated to zero)
    except LookupError:
        return
    for name, description in importlib.import_module("accounts.migrations.0002_create_roles").ROLES:
        Role.objects.using(using).get_or_create(name=name, defaults={"description": description})

from django.db import migrations

ROLES = [
    ("owner", "Runs the gym: manages users, branches, settings and campaigns."),
    ("manager", "Manages users, branches, settings and campaigns."),
    ("sales", "Works leads, calls and appointments."),
]


def create_roles(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for name, description in ROLES:
        Role.objects.update_or_create(name=name, defaults={"description": description})


def delete_roles(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    Role.objects.filter(name__in=[name for name, _ in ROLES]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_roles, delete_roles)]

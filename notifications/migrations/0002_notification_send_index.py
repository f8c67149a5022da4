"""The platform admin's list of every gym's notifications, the latest first, read from an index. Built
CONCURRENTLY: a live platform's writes go on meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("notifications", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="notification",
            index=models.Index(fields=["-send_at", "-id"], name="notification_send_id_idx"),
        ),
    ]

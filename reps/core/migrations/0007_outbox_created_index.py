"""The platform admin's outbox list, the newest first, read from an index (the outbox keeps every message).
Built CONCURRENTLY: a live platform's writes go on meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("core", "0006_outbox_retries"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outboxmessage",
            index=models.Index(fields=["-created_at", "-id"], name="outbox_created_id_idx"),
        ),
    ]

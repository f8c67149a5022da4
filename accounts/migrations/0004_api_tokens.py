"""API tokens of their own (django-rest-knox): hashed, one per device, under the gym's policy.

The tokens of DRF's authtoken table, kept in plain text, are removed: their holders sign in again.
"""

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


# A token exists for the application only if its user does (in the current gym), as DRF's did.
TOKEN_POLICY = (
    "ALTER TABLE accounts_apitoken ENABLE ROW LEVEL SECURITY;"
    "CREATE POLICY gym_isolation ON accounts_apitoken"
    " USING (EXISTS (SELECT FROM accounts_user u WHERE u.id = user_id))"
    " WITH CHECK (EXISTS (SELECT FROM accounts_user u WHERE u.id = user_id));",
    "DROP POLICY gym_isolation ON accounts_apitoken; ALTER TABLE accounts_apitoken DISABLE ROW LEVEL SECURITY;",
)
GYM_OF_TOKEN = """CREATE OR REPLACE FUNCTION reps_gym_of_token(token_key text) RETURNS uuid LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$ {} $$"""
NEW_GYM_OF_TOKEN = GYM_OF_TOKEN.format(
    "SELECT u.gym_id FROM accounts_apitoken t JOIN accounts_user u ON u.id = t.user_id"
    " WHERE t.token_key = left($1, 15) LIMIT 1")
OLD_GYM_OF_TOKEN = GYM_OF_TOKEN.format(
    "SELECT u.gym_id FROM authtoken_token t JOIN accounts_user u ON u.id = t.user_id WHERE t.key = $1")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_email_plain_and_one_message'),
        ('authtoken', '0004_alter_tokenproxy_options'),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('digest', models.CharField(max_length=128, primary_key=True, serialize=False)),
                ('token_key', models.CharField(db_index=True, max_length=25)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('expiry', models.DateTimeField(blank=True, null=True)),
                ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('name', models.CharField(help_text='Which device or program holds it.', max_length=100)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='auth_token_set', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created'],
            },
        ),
        migrations.RunSQL(*TOKEN_POLICY),
        migrations.RunSQL(NEW_GYM_OF_TOKEN, OLD_GYM_OF_TOKEN),
        migrations.RunSQL("DELETE FROM authtoken_token", migrations.RunSQL.noop),
    ]

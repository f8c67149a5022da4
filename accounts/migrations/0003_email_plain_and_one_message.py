"""Sign-in emails: NFKC-normalized and plain ASCII, one message for a taken address (whichever gym has it)."""

from django.db import migrations, models

import accounts.querysets

GYM_OF_LOGIN = """CREATE OR REPLACE FUNCTION reps_gym_of_login(login_email text) RETURNS uuid LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public, pg_temp AS $$ SELECT gym_id FROM accounts_user WHERE email = {} $$"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_create_roles"),
        ("core", "0002_row_level_security"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.EmailField(error_messages={"unique": "This email is already taken."}, max_length=255,
                                    unique=True, validators=[accounts.querysets.validate_plain_email]),
        ),
        # The login's gym is found as Python finds the login (accounts.querysets.canonical_email).
        migrations.RunSQL(GYM_OF_LOGIN.format("lower(normalize(btrim($1), NFKC))"),
                          GYM_OF_LOGIN.format("lower(btrim($1))")),
    ]

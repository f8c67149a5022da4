import os
import subprocess
import sys

from django.conf import settings

PRODUCTION_ENV = {
    "REPS_ENV": "production",
    "SECRET_KEY": "x9!k2@p7#m4$q8%r1^t6&w3*y5(z0)a-b_c=d+e[f]g{h}i|j;k:l,m.n<o>p?q",
    "ALLOWED_HOSTS": "reps.example.com",
}


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_in_production_mode():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": ""})

    assert result.returncode != 0
    assert "SECRET_KEY must be set when REPS_ENV=production" in result.stderr


def test_the_database_pool_and_health_checks_are_on():
    database = settings.DATABASES["default"]

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["OPTIONS"]["pool"]["max_size"] >= database["OPTIONS"]["pool"]["min_size"]


def test_pgbouncer_mode_turns_the_pool_and_server_side_cursors_off():
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print('pool' in d['OPTIONS'], d['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    result = manage("shell", "--no-imports", "-c", code, env={"DB_POOL": "0"})

    assert result.stdout.split() == ["False", "True"], result.stderr

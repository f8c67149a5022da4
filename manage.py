#!/usr/bin/env python
import os
import sys

# Commands that change the schema or work across gyms log in with
# DATABASE_PLATFORM_URL, a login that may bypass row-level security, when it
# is set; everything else (the server, jobs) logs in as the application role.
PLATFORM_COMMANDS = {
    "migrate", "seed_demo", "generate_data", "bench", "createsuperuser", "changepassword", "flush",
    "dbshell", "loaddata", "dumpdata", "sqlflush", "showmigrations", "makemigrations",
}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reps.settings")
    if len(sys.argv) > 1 and sys.argv[1] in PLATFORM_COMMANDS and os.environ.get("DATABASE_PLATFORM_URL"):
        os.environ["DATABASE_URL"] = os.environ["DATABASE_PLATFORM_URL"]
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

"""Operators' tool: delete a gym's cached figures (the seed's delete_pattern), or everything cached.

Requests never need this (writes invalidate by generation, in O(1)); it frees
Redis memory at once instead of waiting for the TTLs, walking keys with SCAN.
"""

import uuid

from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError

from reps.core.cache import EPOCH_KEY, _increment, everything, invalidate


class Command(BaseCommand):
    help = "Delete the cached repository values of one gym (--gym ID) or of every gym (--all)."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--gym", help="The gym's id.")
        target.add_argument("--all", action="store_true", help="Every gym.")

    def handle(self, *args, gym=None, all=False, **options):
        backend = caches["default"]
        if all:
            _increment([EPOCH_KEY])
            pattern = "repo:*"
        else:
            try:
                gym_id = uuid.UUID(gym)
            except ValueError:
                raise CommandError(f"{gym!r} is not a gym id (a UUID).") from None
            invalidate(gym_id, everything())
            pattern = f"repo:*:{gym_id}:*"
        if hasattr(backend, "delete_pattern"):
            deleted = backend.delete_pattern(pattern)
            self.stdout.write(f"Deleted {deleted} cached values ({pattern}).")
        else:
            self.stdout.write("This cache cannot list keys; its values were invalidated and will expire.")

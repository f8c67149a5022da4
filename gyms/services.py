"""Writes to gyms and their settings."""

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from reps.core.cache import everything, invalidate_after
from reps.tenancy import services as generic
from reps.tenancy.database import gym_of
from reps.tenancy.services import gym_service

from .models import AISettings, Gym, GymSettings, VoiceSettings

SETTINGS_PARTS: dict[str, Any] = {"settings": GymSettings, "ai_settings": AISettings, "voice_settings": VoiceSettings}


def ensure_gym_settings(gym: Gym) -> None:
    """Create the gym's settings, AI settings and voice settings rows if missing (platform code)."""
    for model in SETTINGS_PARTS.values():
        model.objects.unscoped().get_or_create(gym=gym)


def check_calling_number(gym: Gym) -> None:
    """No gym calls from another gym's number (row-level security hides the others: the database is asked)."""
    owner = gym_of("phone", gym.phone) if gym.phone else None
    if owner is not None and owner != gym.pk:
        raise ValidationError({"phone": "Another gym calls from this number: each gym needs its own."})


@transaction.atomic
def create_gym(*, name: str, timezone: str = "UTC", country_code: str = "US", **fields: Any) -> Gym:
    """A new gym with all its settings rows, validated (platform code: on the platform login)."""
    gym = Gym(name=name, timezone=timezone, country_code=country_code, **fields)
    gym.full_clean()
    check_calling_number(gym)
    gym.save()
    ensure_gym_settings(gym)
    return gym


@gym_service
def update_gym(*, gym: uuid.UUID, data: dict[str, Any]) -> Gym:
    """Update the gym and any of its settings parts ({"settings": {...}, "ai_settings": {...}, ...})."""
    row = Gym.objects.select_for_update().get(pk=gym)
    data = dict(data)
    parts = {name: data.pop(name) for name in list(data) if name in SETTINGS_PARTS}
    for name, value in data.items():
        setattr(row, name, value)
    row.full_clean()
    check_calling_number(row)
    row.save()
    for name, values in parts.items():
        model = SETTINGS_PARTS[name]
        generic.update_row(model, gym=gym, object_id=model.objects.for_gym(gym).get().pk, data=values)
    # A new time zone moves every local day of every figure.
    invalidate_after(gym, everything())
    return row

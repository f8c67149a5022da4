from django.db import transaction

from reps.core.querysets import gym_id_of
from reps.core.repositories import EVERYTHING, invalidate_after

from .models import AISettings, Gym, GymSettings, VoiceSettings


def ensure_gym_settings(gym):
    """Create the gym's settings, AI settings and voice settings rows if missing."""
    for model in (GymSettings, AISettings, VoiceSettings):
        model.objects.unscoped().get_or_create(gym=gym)


@transaction.atomic
def create_gym(*, name, timezone="UTC", country_code="US", **fields):
    """A new gym with all its settings rows, validated."""
    gym = Gym(name=name, timezone=timezone, country_code=country_code, **fields)
    gym.full_clean()
    gym.save()
    ensure_gym_settings(gym)
    return gym


SETTINGS_PARTS = {"settings": GymSettings, "ai_settings": AISettings, "voice_settings": VoiceSettings}


@transaction.atomic
def update_gym(*, gym, data):
    """Update the gym and any of its settings parts ({"settings": {...}, "ai_settings": {...}, ...})."""
    from reps.core import services as generic

    gym = Gym.objects.select_for_update().get(pk=gym_id_of(gym))
    data = dict(data)
    parts = {name: data.pop(name) for name in list(data) if name in SETTINGS_PARTS}
    for name, value in data.items():
        setattr(gym, name, value)
    gym.full_clean()
    gym.save()
    ensure_gym_settings(gym)
    for name, values in parts.items():
        model = SETTINGS_PARTS[name]
        row = model.objects.for_gym(gym).get()
        generic.update(model, gym=gym, object_id=row.pk, data=values)
    # A new time zone moves every local day of every figure.
    invalidate_after(gym, EVERYTHING)
    return gym

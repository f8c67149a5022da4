from django.db import transaction

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

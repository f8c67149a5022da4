import uuid

import pytest

from leads.models import Lead
from leads.tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_for_gym_returns_only_that_gyms_rows_given_a_gym_its_id_or_its_id_as_text(gym, other_gym):
    mine = LeadFactory(gym=gym)
    LeadFactory(gym=other_gym)

    for scope in (gym, gym.pk, str(gym.pk)):
        assert list(Lead.objects.for_gym(scope)) == [mine]


def test_for_gym_of_an_unknown_gym_is_empty(gym):
    LeadFactory(gym=gym)

    assert not Lead.objects.for_gym(uuid.uuid4()).exists()


@pytest.mark.parametrize("scope", [None, "", "not-a-uuid", 42])
def test_for_gym_without_a_gym_fails_instead_of_returning_every_gym(scope):
    with pytest.raises(ValueError):
        Lead.objects.for_gym(scope)

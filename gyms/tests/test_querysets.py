import pytest

from gyms.models import KnowledgeBaseEntry
from gyms.tests.factories import KnowledgeBaseEntryFactory

pytestmark = pytest.mark.django_db


def entries(gym):
    return KnowledgeBaseEntry.objects.for_gym(gym)


def test_active_entries_of_a_gym(gym, other_gym):
    live = KnowledgeBaseEntryFactory(gym=gym)
    KnowledgeBaseEntryFactory(gym=gym, is_active=False)
    KnowledgeBaseEntryFactory(gym=other_gym)

    assert list(entries(gym).active()) == [live]


def test_full_text_search_ranks_title_matches_first_and_stems_words(gym, other_gym):
    prices = KnowledgeBaseEntryFactory(gym=gym, title="Membership prices", content="49 a month, classes included.")
    classes = KnowledgeBaseEntryFactory(gym=gym, title="Classes", content="Spin and yoga every day.")
    KnowledgeBaseEntryFactory(gym=gym, title="Opening hours", content="6am to 10pm.")
    KnowledgeBaseEntryFactory(gym=gym, title="Old membership prices", content="x", is_active=False)
    KnowledgeBaseEntryFactory(gym=other_gym, title="Membership prices", content="Monthly is 99.")

    assert list(entries(gym).search("class")) == [classes, prices]  # the title outranks the content
    assert list(entries(gym).search("price")) == [prices]  # "prices" stems to "price"
    assert list(entries(gym).search('"opening hours"'))[0].title == "Opening hours"
    assert list(entries(gym).search("class -yoga")) == [prices]
    assert list(entries(gym).search("swimming pool")) == []
    assert list(entries(gym).search("  ")) == []

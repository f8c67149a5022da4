import factory

from calls.models import CallLog, CallTranscript, Campaign
from gyms.tests.factories import GymFactory
from leads.tests.factories import LeadFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    gym = factory.SubFactory(GymFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")


class CallLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallLog

    lead = factory.SubFactory(LeadFactory)
    gym = factory.SelfAttribute("lead.gym")
    is_ai_call = True


class CallTranscriptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallTranscript

    call = factory.SubFactory(CallLogFactory)
    gym = factory.SelfAttribute("call.gym")
    content = "Agent: Hi!\nUser: Hello."
    utterances = factory.LazyFunction(
        lambda: [{"role": "agent", "content": "Hi!"}, {"role": "user", "content": "Hello."}]
    )

"""Writes to leads. Each service takes the gym explicitly and runs in one transaction."""

from django.core.exceptions import ValidationError
from django.db import transaction

from reps.core import services as generic
from reps.core.querysets import gym_id_of
from reps.core.scoping import gym_scope
from reps.core.transitions import check_transition

from .models import Lead, LeadStatus, LeadTag, LeadTagAssignment

# Which status a lead may move to from each status.
LEAD_TRANSITIONS = {
    LeadStatus.NEW: [LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.CONVERTED, LeadStatus.LOST],
    LeadStatus.CONTACTED: [LeadStatus.QUALIFIED, LeadStatus.CONVERTED, LeadStatus.LOST],
    LeadStatus.QUALIFIED: [LeadStatus.CONTACTED, LeadStatus.CONVERTED, LeadStatus.LOST],
    # A member who leaves; a lost lead who comes back.
    LeadStatus.CONVERTED: [LeadStatus.LOST],
    LeadStatus.LOST: [LeadStatus.NEW, LeadStatus.CONTACTED],
}


def create_lead(*, gym, data):
    """A new lead; its phone is stored in E.164 and must be new to the gym."""
    data = dict(data)
    status = data.pop("status", LeadStatus.NEW)
    if status not in LeadStatus.values:
        raise ValidationError({"status": f"{status!r} is not a lead status."})
    return generic.create(Lead, gym=gym, data={**data, "status": status})


def update_lead(*, gym, lead_id, data):
    """Update the gym's lead; a status change follows LEAD_TRANSITIONS. None when the gym has no such lead."""

    def check_status(lead, data):
        if "status" in data:
            check_transition(LEAD_TRANSITIONS, lead.status, data["status"], "lead status")

    return generic.update(Lead, gym=gym, object_id=lead_id, data=data, check=check_status)


def change_lead_status(*, gym, lead_id, status):
    return update_lead(gym=gym, lead_id=lead_id, data={"status": status})


def delete_lead(*, gym, lead_id):
    """Delete the lead with its qualification, tags, calls and appointments."""
    return generic.delete(Lead, gym=gym, object_id=lead_id)


@transaction.atomic
def set_lead_tags(*, gym, lead_id, tag_ids):
    """Replace the lead's tags with these tags of the same gym."""
    gym_id = gym_id_of(gym)
    with gym_scope(gym_id):
        lead = Lead.objects.for_gym(gym_id).select_for_update().get_by_id(lead_id)
        if lead is None:
            return None
        tag_ids = set(tag_ids)
        tags = list(LeadTag.objects.for_gym(gym_id).filter(pk__in=tag_ids))
        if len(tags) != len(tag_ids):
            raise ValidationError({"tags": "Some of these tags do not exist in this gym."})
        LeadTagAssignment.objects.for_gym(gym_id).filter(lead=lead).exclude(tag__in=tags).delete()
        LeadTagAssignment.objects.bulk_create(
            [LeadTagAssignment(gym_id=gym_id, lead=lead, tag=tag) for tag in tags], ignore_conflicts=True
        )
    return lead


def save_lead(*, gym, lead_id=None, data):
    """Create (lead_id None) or update a lead, and replace its tags when data has "tags", in one transaction."""
    data = dict(data)
    tags = data.pop("tags", None)
    with transaction.atomic():
        lead = create_lead(gym=gym, data=data) if lead_id is None else update_lead(gym=gym, lead_id=lead_id, data=data)
        if lead is not None and tags is not None:
            set_lead_tags(gym=gym, lead_id=lead.pk, tag_ids=[getattr(tag, "pk", tag) for tag in tags])
    return lead

"""Writes to leads. Each service takes the gym explicitly and runs in its gym's transaction (gym_service)."""

import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from reps.core.cache import affected_by, invalidate_after
from reps.core.permissions import MANAGERS, role_of
from reps.core.phones import normalize_phone
from reps.core.transitions import check_transition
from reps.tenancy import services as generic
from reps.tenancy.services import gym_service

from .choices import STARTING_STATUS, LeadStatus
from .models import Lead, LeadTag, LeadTagAssignment

# Which status a lead may move to from each status.
LEAD_TRANSITIONS = {
    LeadStatus.NEW: [LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.CONVERTED, LeadStatus.LOST],
    LeadStatus.CONTACTED: [LeadStatus.QUALIFIED, LeadStatus.CONVERTED, LeadStatus.LOST],
    LeadStatus.QUALIFIED: [LeadStatus.CONTACTED, LeadStatus.CONVERTED, LeadStatus.LOST],
    # A member who leaves; a lost lead who comes back.
    LeadStatus.CONVERTED: [LeadStatus.LOST],
    LeadStatus.LOST: [LeadStatus.NEW, LeadStatus.CONTACTED],
}


@gym_service
def create_lead(*, gym: uuid.UUID, data: dict[str, Any]) -> Lead:
    """A new lead, in the starting status; its phone is stored in E.164 and must be new to the gym."""
    return _create_lead(gym, data)


def _create_lead(gym: uuid.UUID, data: dict[str, Any]) -> Lead:
    data = dict(data)
    status = data.pop("status", STARTING_STATUS)
    if status != STARTING_STATUS:
        raise ValidationError({"status": f"A lead starts as {STARTING_STATUS}; it moves on through its status"
                                         " changes (POST /api/v1/leads/{id}/status/)."})
    lead: Lead = generic.create_row(Lead, gym=gym, data={**data, "status": status})
    return lead


@gym_service
def update_lead(*, gym: uuid.UUID, lead_id: Any, data: dict[str, Any], actor: Any = None) -> Lead | None:
    """Update the gym's lead; a status change follows LEAD_TRANSITIONS. None when the gym has no such lead.

    The number of a lead who asked not to be called is changed only by an owner or a manager (the actor,
    when a person asks): else it could be moved off the lead, and the number come back as a new lead.
    """
    return _update_lead(gym, lead_id, data, actor)


def _update_lead(gym: uuid.UUID, lead_id: Any, data: dict[str, Any], actor: Any = None) -> Lead | None:
    def check(lead: Lead, data: dict[str, Any]) -> None:
        if "status" in data:
            check_transition(LEAD_TRANSITIONS, lead.status, data["status"], "lead status")
        if lead.do_not_call and "phone" in data and actor is not None and role_of(actor) not in MANAGERS:
            try:
                phone = normalize_phone(data["phone"], lead.phone_region())
            except ValidationError:
                phone = None
            if phone != lead.phone:
                raise PermissionDenied("The lead asked not to be called: only an owner or a manager changes its"
                                       " phone number.")

    lead: Lead | None = generic.update_row(Lead, gym=gym, object_id=lead_id, data=data, check=check)
    return lead


@gym_service
def change_lead_status(*, gym: uuid.UUID, lead_id: Any, status: str) -> Lead | None:
    """Move the gym's lead to `status` (LEAD_TRANSITIONS); None when the gym has no such lead."""
    return _update_lead(gym, lead_id, {"status": status})


@gym_service
def record_consent(*, gym: uuid.UUID, lead_id: Any, actor: Any, consent: bool, via: str = "") -> Lead | None:
    """Record that the lead agreed to calls (with how), or asked not to be called; None when there is no such lead.

    Anyone may record a refusal; it sets do_not_call. Only an owner or a
    manager may clear a do_not_call, and only by recording the lead's consent.
    """
    lead: Lead | None = Lead.objects.for_gym(gym).select_for_update().get_by_id(lead_id)
    if lead is None:
        return None
    if not consent:
        lead.do_not_call = True
        lead.save(update_fields=["do_not_call", "updated_at"])
    else:
        if not via.strip():
            raise ValidationError({"via": "Say how the lead agreed (a web form, a call, in person...)."})
        if lead.do_not_call and role_of(actor) not in MANAGERS:
            raise PermissionDenied("The lead asked not to be called: only an owner or a manager records new consent.")
        lead.do_not_call, lead.consent_given_at, lead.consent_source = False, timezone.now(), via.strip()[:255]
        lead.save(update_fields=["do_not_call", "consent_given_at", "consent_source", "updated_at"])
    invalidate_after(gym, affected_by(Lead))
    return lead


@gym_service
def delete_lead(*, gym: uuid.UUID, lead_id: Any) -> bool:
    """Delete the lead with its qualification, tags, calls and appointments."""
    return generic.delete_row(Lead, gym=gym, object_id=lead_id)


@gym_service
def set_lead_tags(*, gym: uuid.UUID, lead_id: Any, tag_ids: Iterable[Any]) -> Lead | None:
    """Replace the lead's tags with these tags of the same gym."""
    return _set_lead_tags(gym, lead_id, tag_ids)


def _set_lead_tags(gym: uuid.UUID, lead_id: Any, tag_ids: Iterable[Any]) -> Lead | None:
    lead = Lead.objects.for_gym(gym).select_for_update().get_by_id(lead_id)
    if lead is None:
        return None
    wanted = set(tag_ids)
    tags = list(LeadTag.objects.for_gym(gym).filter(pk__in=wanted))
    if len(tags) != len(wanted):
        raise ValidationError({"tags": "Some of these tags do not exist in this gym."})
    LeadTagAssignment.objects.for_gym(gym).filter(lead=lead).exclude(tag__in=tags).delete()
    LeadTagAssignment.objects.bulk_create(
        [LeadTagAssignment(gym_id=gym, lead=lead, tag=tag) for tag in tags], ignore_conflicts=True
    )
    return lead


@gym_service
def save_lead(*, gym: uuid.UUID, lead_id: Any = None, data: dict[str, Any], actor: Any = None) -> Lead | None:
    """Create (lead_id None) or update a lead, and replace its tags when data has "tags", in one transaction."""
    data = dict(data)
    tags = data.pop("tags", None)
    # The services' bodies, in this service's transaction: no savepoint each.
    lead = _create_lead(gym, data) if lead_id is None else _update_lead(gym, lead_id, data, actor)
    if lead is not None and tags is not None:
        _set_lead_tags(gym, lead.pk, [getattr(tag, "pk", tag) for tag in tags])
    return lead

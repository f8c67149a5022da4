"""Writes to appointments. Each service takes the gym explicitly and runs in its gym's transaction (gym_service)."""

import datetime
import uuid
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.choices import RoleName
from accounts.models import User
from calls.models import CallLog
from gyms.models import Branch, GymSettings
from leads.models import Lead
from reps.core.cache import affected_by, invalidate_after
from reps.core.exceptions import DomainError
from reps.core.models import OutboxMessage
from reps.core.transitions import check_transition
from reps.tenancy.services import gym_service

from .choices import ACTIVE_STATUSES, AppointmentStatus
from .models import Appointment

EXCLUSION_CONSTRAINT = "appointment_staff_no_overlap"

# Which status an appointment may move to from each status. A cancelled
# appointment may be reopened if its slot is still free.
APPOINTMENT_TRANSITIONS = {
    AppointmentStatus.SCHEDULED: [
        AppointmentStatus.CONFIRMED,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.CANCELLED,
        AppointmentStatus.NO_SHOW,
    ],
    AppointmentStatus.CONFIRMED: [AppointmentStatus.COMPLETED, AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW],
    AppointmentStatus.COMPLETED: [],
    AppointmentStatus.CANCELLED: [AppointmentStatus.SCHEDULED],
    AppointmentStatus.NO_SHOW: [],
}


class _FirstFreeSalesPerson:
    def __repr__(self) -> str:
        return "FIRST_FREE_SALES_PERSON"


# book_appointment(staff=...) by default: the first sales person (by email) who is free at that time.
FIRST_FREE_SALES_PERSON: Final = _FirstFreeSalesPerson()


class AppointmentConflict(DomainError):
    """The staff member already has an active appointment overlapping the requested time."""

    status_code = 409
    code = "appointment_conflict"

    def __init__(self, conflicting_id: uuid.UUID | None = None) -> None:
        self.conflicting_id = conflicting_id
        super().__init__(
            "This staff member already has an appointment at that time"
            + (f" ({conflicting_id})." if conflicting_id else "."),
            conflicting_appointment=conflicting_id,
        )


def _in_gym(model: type[models.Model], gym_id: uuid.UUID, value: Any, field: str) -> Any:
    """The gym's row for `value` (an instance or an id), or a ValidationError naming `field`."""
    if value is None:
        return None
    row = model.objects.for_gym(gym_id).get_by_id(getattr(value, "pk", value))  # type: ignore[attr-defined]
    if row is None:
        raise ValidationError({field: f"No such {model._meta.verbose_name} in this gym."})
    return row


def _in_staff(gym_id: uuid.UUID, staff: Any) -> User | None:
    if staff is None:
        return None
    user: User | None = User.objects.for_gym(gym_id).filter(is_active=True).get_by_id(getattr(staff, "pk", staff))
    if user is None:
        raise ValidationError({"staff": "No such active staff member in this gym."})
    return user


def sales_staff(gym_id: uuid.UUID) -> list[User]:
    """The gym's active sales people, by email: whom an appointment is given to when nobody is named."""
    return list(User.objects.for_gym(gym_id).filter(is_active=True, role__name=RoleName.SALES).order_by("email"))


def _first_conflict(appointment: Appointment) -> Appointment | None:
    conflict: Appointment | None = (
        Appointment.objects.for_gym(appointment.gym_id)
        .conflicts(appointment.staff_id, appointment.scheduled_time, appointment.end_time, appointment.pk)
        .first()
    )
    return conflict


def _check_free(appointment: Appointment) -> None:
    """Raise AppointmentConflict if the active appointment overlaps another of its staff member."""
    if appointment.staff_id is None or appointment.status not in ACTIVE_STATUSES:
        return
    conflict = _first_conflict(appointment)
    if conflict is not None:
        raise AppointmentConflict(conflict.pk)


def _save_refusing_overlap(appointment: Appointment, **save_kwargs: Any) -> None:
    """Save; an overlap caught by the database (a concurrent booking) is an AppointmentConflict."""
    try:
        with transaction.atomic():
            appointment.save(**save_kwargs)
    except IntegrityError as error:
        if EXCLUSION_CONSTRAINT not in str(error):
            raise
        conflict = _first_conflict(appointment)
        raise AppointmentConflict(conflict.pk if conflict else None) from None


def _announce(appointment: Appointment, topic: str, **extra: Any) -> None:
    """Record the change for the outbox relay in this transaction; invalidate what it makes stale on commit."""
    invalidate_after(appointment.gym_id, affected_by(Appointment))
    OutboxMessage.objects.create(
        gym_id=appointment.gym_id,
        topic=topic,
        payload={
            "appointment_id": str(appointment.pk),
            "lead_id": str(appointment.lead_id),
            "staff_id": str(appointment.staff_id) if appointment.staff_id else None,
            "scheduled_time": appointment.scheduled_time.isoformat(),
            "end_time": appointment.end_time.isoformat(),
            "status": appointment.status,
            **extra,
        },
    )


@gym_service
def book_appointment(*, gym: uuid.UUID, lead: Any, staff: Any = FIRST_FREE_SALES_PERSON,
                     scheduled_time: datetime.datetime, end_time: datetime.datetime | None = None, title: str,
                     branch: Any = None, call: Any = None, description: str = "") -> Appointment:
    """Book an appointment and record its notification, all or nothing.

    Lead, staff, branch and call (instances or ids) must belong to the gym
    (ValidationError naming the field otherwise). `staff` None books nobody;
    left out, the first sales person free at that time (a ValidationError
    naming staff when nobody is). An overlap with the staff member's active
    appointments raises AppointmentConflict, whether this check sees it or
    the database's exclusion constraint does.
    """
    appointment = Appointment(  # type: ignore[misc]  # end_time may be None until filled in
        gym_id=gym,
        lead=_in_gym(Lead, gym, lead, "lead"),
        staff=None if staff is FIRST_FREE_SALES_PERSON else _in_staff(gym, staff),
        branch=_in_gym(Branch, gym, branch, "branch"),
        call=_in_gym(CallLog, gym, call, "call"),
        scheduled_time=scheduled_time,
        end_time=end_time,  # None: the gym's default length, filled in below
        title=title,
        description=description,
    )
    if appointment.lead is None:
        raise ValidationError({"lead": "An appointment needs a lead."})
    appointment.fill_default_end_time()
    # Overlaps are reported as conflicts (409), not as validation errors.
    appointment.full_clean(validate_constraints=False)
    appointment.validate_constraints(exclude={"staff"})
    if staff is FIRST_FREE_SALES_PERSON:
        _save_with_first_free_sales_person(appointment)
    else:
        _check_free(appointment)
        _save_refusing_overlap(appointment, force_insert=True)
    _announce(appointment, "appointment.booked")
    return appointment


def _save_with_first_free_sales_person(appointment: Appointment) -> None:
    """Save with the first sales person free at its time; one booked a moment ago is passed over."""
    for person in sales_staff(appointment.gym_id):
        appointment.staff = person
        if _first_conflict(appointment) is not None:
            continue
        try:
            _save_refusing_overlap(appointment, force_insert=True)
            return
        except AppointmentConflict:
            continue  # booked by someone else in the meantime
    appointment.staff = None
    raise ValidationError({"staff": "No sales person is free at that time: name a staff member, or null to book"
                                    " nobody."})


# What update_appointment may change; status changes go through update_appointment_status.
EDITABLE_FIELDS = {"lead", "staff", "branch", "call", "scheduled_time", "end_time", "title", "description"}


@gym_service
def update_appointment(*, gym: uuid.UUID, appointment_id: Any, data: dict[str, Any]) -> Appointment | None:
    """Change the gym's appointment; None when the gym has no such appointment.

    A new time keeps the appointment's length unless end_time is given too.
    A new time or staff member is checked for overlaps (AppointmentConflict)
    and announced as "appointment.rescheduled"; only scheduled or confirmed
    appointments can be moved.
    """
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in sorted(unknown)})
    appointment: Appointment | None = Appointment.objects.for_gym(gym).select_for_update().get_by_id(appointment_id)
    if appointment is None:
        return None
    previous_time = appointment.scheduled_time
    moved = any(
        name in data and data[name] != getattr(appointment, name)
        for name in ("scheduled_time", "end_time", "staff")
    )
    if moved and appointment.status not in ACTIVE_STATUSES:
        raise ValidationError({"status": f"A {appointment.status} appointment cannot be rescheduled."})
    if "scheduled_time" in data and "end_time" not in data:
        length = appointment.end_time - appointment.scheduled_time
        data = {**data, "end_time": data["scheduled_time"].astimezone(datetime.UTC) + length}  # real time
    for name, model in (("lead", Lead), ("branch", Branch), ("call", CallLog)):
        if name in data:
            setattr(appointment, name, _in_gym(model, gym, data[name], name))
    if "staff" in data:
        appointment.staff = _in_staff(gym, data["staff"])
    for name in ("scheduled_time", "end_time", "title", "description"):
        if name in data:
            setattr(appointment, name, data[name])
    if appointment.lead is None:
        raise ValidationError({"lead": "An appointment needs a lead."})
    appointment.full_clean(validate_constraints=False)
    appointment.validate_constraints(exclude={"staff"})
    if moved:
        _check_free(appointment)
    _save_refusing_overlap(appointment)
    # The time it had: a move of its staff or end alone tells the lead nothing (the notifications).
    _announce(appointment, "appointment.rescheduled" if moved else "appointment.updated",
              previous_scheduled_time=previous_time.isoformat())
    return appointment


@gym_service
def reschedule_appointment(*, gym: uuid.UUID, appointment_id: Any, scheduled_time: datetime.datetime,
                           end_time: datetime.datetime | None = None) -> Appointment | None:
    """Move the gym's active appointment to a new time (keeping its length unless end_time is given)."""
    data: dict[str, Any] = {"scheduled_time": scheduled_time}
    if end_time is not None:
        data["end_time"] = end_time
    return update_appointment(gym=gym, appointment_id=appointment_id, data=data)


@gym_service
def update_appointment_status(*, gym: uuid.UUID, appointment_id: Any, status: str) -> Appointment | None:
    """Move the gym's appointment to `status` (APPOINTMENT_TRANSITIONS); None when there is no such appointment.

    Reopening a cancelled appointment whose slot has been taken raises AppointmentConflict.
    """
    appointment: Appointment | None = Appointment.objects.for_gym(gym).select_for_update().get_by_id(appointment_id)
    if appointment is None:
        return None
    check_transition(APPOINTMENT_TRANSITIONS, appointment.status, status, "appointment status")
    if status == appointment.status:
        return appointment
    appointment.status = status
    _check_free(appointment)
    _save_refusing_overlap(appointment, update_fields=["status", "updated_at"])
    _announce(appointment, f"appointment.{status}")
    return appointment


@gym_service
def mark_no_shows(*, gym: uuid.UUID, now: datetime.datetime | None = None) -> int:
    """Mark no_show the gym's appointments still scheduled or confirmed once their end and the gym's grace
    period (GymSettings.no_show_grace_minutes) have passed, each announced as "appointment.no_show"; how many.

    Rows another worker holds are skipped (it is marking them), so two runs at once mark each appointment once.
    """
    now = now or timezone.now()
    grace = GymSettings.objects.for_gym(gym).values_list("no_show_grace_minutes", flat=True).first()
    if grace is None:  # a gym without its settings row: the setting's default, as the gym-finding function
        grace = GymSettings._meta.get_field("no_show_grace_minutes").default
    overdue_before = now - datetime.timedelta(minutes=grace)
    overdue = list(Appointment.objects.for_gym(gym).select_for_update(skip_locked=True).filter(
        status__in=[AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED], end_time__lt=overdue_before))
    for appointment in overdue:
        check_transition(APPOINTMENT_TRANSITIONS, appointment.status, AppointmentStatus.NO_SHOW, "appointment status")
        appointment.status = AppointmentStatus.NO_SHOW
        appointment.save(update_fields=["status", "updated_at"])
        _announce(appointment, "appointment.no_show")
    return len(overdue)


@gym_service
def delete_appointment(*, gym: uuid.UUID, appointment_id: Any) -> bool:
    """Delete the gym's appointment, announced as "appointment.deleted"; False when there is no such appointment."""
    appointment: Appointment | None = Appointment.objects.for_gym(gym).select_for_update().get_by_id(appointment_id)
    if appointment is None:
        return False
    _announce(appointment, "appointment.deleted")
    appointment.delete()
    return True

"""Writes to appointments. Each service takes the gym explicitly and runs in one transaction."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from calls.models import CallLog
from gyms.models import Branch
from leads.models import Lead
from reps.core.models import OutboxMessage
from reps.core.querysets import gym_id_of
from reps.core.repositories import affected_by, invalidate_after
from reps.core.scoping import gym_scope
from reps.core.transitions import check_transition

from .models import Appointment, AppointmentStatus
from .querysets import ACTIVE_STATUSES

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


class AppointmentConflict(Exception):
    """The staff member already has an active appointment overlapping the requested time."""

    def __init__(self, conflicting_id=None):
        self.conflicting_id = conflicting_id
        super().__init__(
            "This staff member already has an appointment at that time"
            + (f" ({conflicting_id})." if conflicting_id else ".")
        )


def _in_gym(model, gym_id, value, field):
    """The gym's row for `value` (an instance or an id), or a ValidationError naming `field`."""
    if value is None:
        return None
    row = model.objects.for_gym(gym_id).get_by_id(getattr(value, "pk", value))
    if row is None:
        raise ValidationError({field: f"No such {model._meta.verbose_name} in this gym."})
    return row


def _in_staff(gym_id, staff):
    if staff is None:
        return None
    user = User.objects.for_gym(gym_id).filter(is_active=True).get_by_id(getattr(staff, "pk", staff))
    if user is None:
        raise ValidationError({"staff": "No such active staff member in this gym."})
    return user


def _first_conflict(appointment):
    return (
        Appointment.objects.for_gym(appointment.gym_id)
        .conflicts(appointment.staff_id, appointment.scheduled_time, appointment.end_time, appointment.pk)
        .first()
    )


def _check_free(appointment):
    """Raise AppointmentConflict if the active appointment overlaps another of its staff member."""
    if appointment.staff_id is None or appointment.status not in ACTIVE_STATUSES:
        return
    conflict = _first_conflict(appointment)
    if conflict is not None:
        raise AppointmentConflict(conflict.pk)


def _save_refusing_overlap(appointment, **save_kwargs):
    """Save; an overlap caught by the database (a concurrent booking) is an AppointmentConflict."""
    try:
        with transaction.atomic():
            appointment.save(**save_kwargs)
    except IntegrityError as error:
        if EXCLUSION_CONSTRAINT not in str(error):
            raise
        conflict = _first_conflict(appointment)
        raise AppointmentConflict(conflict.pk if conflict else None) from None


def _announce(appointment, topic):
    """Record the change for the notifier in this transaction; invalidate what it makes stale on commit."""
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
        },
    )


@transaction.atomic
def book_appointment(*, gym, lead, staff, scheduled_time, end_time=None, title, branch=None, call=None, description=""):
    """Book an appointment and record its notification, all or nothing.

    Lead, staff, branch and call (instances or ids) must belong to the gym
    (ValidationError naming the field otherwise). An overlap with the staff
    member's active appointments raises AppointmentConflict, whether this
    check sees it or the database's exclusion constraint does.
    """
    gym_id = gym_id_of(gym)
    with gym_scope(gym_id):
        appointment = Appointment(
            gym_id=gym_id,
            lead=_in_gym(Lead, gym_id, lead, "lead"),
            staff=_in_staff(gym_id, staff),
            branch=_in_gym(Branch, gym_id, branch, "branch"),
            call=_in_gym(CallLog, gym_id, call, "call"),
            scheduled_time=scheduled_time,
            end_time=end_time,
            title=title,
            description=description,
        )
        if appointment.lead is None:
            raise ValidationError({"lead": "An appointment needs a lead."})
        appointment.fill_default_end_time()
        # Overlaps are reported as conflicts (409), not as validation errors.
        appointment.full_clean(validate_constraints=False)
        appointment.validate_constraints(exclude={"staff"})
        _check_free(appointment)
        _save_refusing_overlap(appointment, force_insert=True)
        _announce(appointment, "appointment.booked")
    return appointment


# What update_appointment may change; status changes go through update_appointment_status.
EDITABLE_FIELDS = {"lead", "staff", "branch", "call", "scheduled_time", "end_time", "title", "description"}


@transaction.atomic
def update_appointment(*, gym, appointment_id, data):
    """Change the gym's appointment; None when the gym has no such appointment.

    A new time keeps the appointment's length unless end_time is given too.
    A new time or staff member is checked for overlaps (AppointmentConflict)
    and announced as "appointment.rescheduled"; only scheduled or confirmed
    appointments can be moved.
    """
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in sorted(unknown)})
    gym_id = gym_id_of(gym)
    with gym_scope(gym_id):
        appointment = Appointment.objects.for_gym(gym_id).select_for_update().get_by_id(appointment_id)
        if appointment is None:
            return None
        moved = any(
            name in data and data[name] != getattr(appointment, name)
            for name in ("scheduled_time", "end_time", "staff")
        )
        if moved and appointment.status not in ACTIVE_STATUSES:
            raise ValidationError({"status": f"A {appointment.status} appointment cannot be rescheduled."})
        if "scheduled_time" in data and "end_time" not in data:
            data = {**data, "end_time": data["scheduled_time"] + (appointment.end_time - appointment.scheduled_time)}
        for name, model in (("lead", Lead), ("branch", Branch), ("call", CallLog)):
            if name in data:
                setattr(appointment, name, _in_gym(model, gym_id, data[name], name))
        if "staff" in data:
            appointment.staff = _in_staff(gym_id, data["staff"])
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
        _announce(appointment, "appointment.rescheduled" if moved else "appointment.updated")
    return appointment


def reschedule_appointment(*, gym, appointment_id, scheduled_time, end_time=None):
    """Move the gym's active appointment to a new time (keeping its length unless end_time is given)."""
    data = {"scheduled_time": scheduled_time}
    if end_time is not None:
        data["end_time"] = end_time
    return update_appointment(gym=gym, appointment_id=appointment_id, data=data)


@transaction.atomic
def update_appointment_status(*, gym, appointment_id, status):
    """Move the gym's appointment to `status` (APPOINTMENT_TRANSITIONS); None when there is no such appointment.

    Reopening a cancelled appointment whose slot has been taken raises AppointmentConflict.
    """
    gym_id = gym_id_of(gym)
    with gym_scope(gym_id):
        appointment = Appointment.objects.for_gym(gym_id).select_for_update().get_by_id(appointment_id)
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

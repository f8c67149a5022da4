"""Writes to calls. Each service takes the gym explicitly and runs in one transaction."""

from django.db import transaction
from django.utils import timezone

from reps.core.querysets import gym_id_of
from reps.core.repositories import affected_by, invalidate_after
from reps.core.transitions import check_transition

from .models import CallLog, CallStatus

# Which status a call may move to from each status. A failed or unanswered
# call may be scheduled again (a retry); a completed call is final.
CALL_TRANSITIONS = {
    CallStatus.SCHEDULED: [CallStatus.IN_PROGRESS, CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.NO_ANSWER],
    CallStatus.IN_PROGRESS: [CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.NO_ANSWER],
    CallStatus.COMPLETED: [],
    CallStatus.FAILED: [CallStatus.SCHEDULED],
    CallStatus.NO_ANSWER: [CallStatus.SCHEDULED],
}


@transaction.atomic
def update_call_status(*, gym, call_id, status):
    """Move the gym's call to `status`; None when the gym has no such call.

    Starting a call stamps its real start time; completing it stamps its end
    time and duration (from the start, when it has one). An illegal change,
    like completed to scheduled, raises InvalidTransition.
    """
    call = CallLog.objects.for_gym(gym_id_of(gym)).select_for_update().get_by_id(call_id)
    if call is None:
        return None
    check_transition(CALL_TRANSITIONS, call.status, status, "call status")
    if status == call.status:
        return call
    now = timezone.now()
    if status == CallStatus.IN_PROGRESS:
        call.start_time = now
    if status == CallStatus.COMPLETED and call.end_time is None:
        if call.start_time is not None and call.start_time > now:
            # Planned for later but done already: it started now.
            call.start_time = now
        call.end_time = now
        if call.start_time is not None:
            call.duration = int((now - call.start_time).total_seconds())
    call.status = status
    call.save(update_fields=["status", "start_time", "end_time", "duration", "updated_at"])
    invalidate_after(call.gym_id, affected_by(CallLog))
    return call

"""What the workspace's own pages show: the dashboard's figures, the agenda, a lead's timeline, a call's
conversation. Read through the same repositories as the API, so that the numbers are the API's."""

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils import timezone

from accounts.models import User
from appointments.choices import AppointmentStatus
from appointments.models import Appointment
from appointments.querysets import appointment_repository
from calls.choices import CallOutcome
from calls.models import CallLog
from calls.querysets import call_repository
from leads.choices import LeadStatus
from leads.models import Lead
from leads.querysets import lead_repository
from reps.core.dates import local_day_bounds
from reps.core.serializers import FIRST_MOMENT, LAST_MOMENT

from . import charts

MAX_RANGE_DAYS = 366
# The days a page may ask for: the API's range of moments (reps.core.serializers), a day short at each end.
FIRST_DAY, LAST_DAY = FIRST_MOMENT.date() + datetime.timedelta(days=1), LAST_MOMENT.date() - datetime.timedelta(days=8)


@dataclass
class DayRange:
    """A range of the gym's local days, both ends included (the API's `start` and `end`); the last 30 days by
    default. A range the page cannot read keeps the default and says why in `error`."""

    start: datetime.date
    end: datetime.date
    error: str = ""

    @classmethod
    def last_days(cls, days: int = 30, error: str = "") -> "DayRange":
        today = timezone.localdate()
        return cls(today - datetime.timedelta(days=days - 1), today, error)

    @classmethod
    def from_query(cls, query: QueryDict) -> "DayRange":
        unknown = sorted(set(query) - {"start", "end"})
        if unknown:
            return cls.last_days(error=f"Unknown parameter {', '.join(unknown)}: this page takes start and end.")
        if not query.get("start") and not query.get("end"):
            return cls.last_days()
        try:
            start = datetime.date.fromisoformat(query.get("start", ""))
            end = datetime.date.fromisoformat(query.get("end", ""))
        except ValueError:
            return cls.last_days(error="Give both start and end as dates (YYYY-MM-DD).")
        if not (FIRST_DAY <= start and end <= LAST_DAY):
            return cls.last_days(error=f"Choose days from {FIRST_DAY.year} to {LAST_DAY.year}.")
        if end < start:
            return cls.last_days(error="The end is before the start.")
        if (end - start).days >= MAX_RANGE_DAYS:
            return cls.last_days(error=f"Choose at most {MAX_RANGE_DAYS} days.")
        return cls(start, end)


def dashboard(gym_id: uuid.UUID, days: DayRange) -> dict[str, Any]:
    """The dashboard's numbers and charts. Each figure is the API's for the same range: the funnel is
    GET /leads/stats/, the calls /calls/metrics/, the appointments /appointments/stats/, the leads per day
    /leads/dashboard/'s (its 30 days), the upcoming appointments /appointments/upcoming/."""
    leads = lead_repository(gym_id)
    funnel = leads.conversion_stats(days.start, days.end)
    recent = leads.dashboard()
    calls = call_repository(gym_id).metrics(days.start, days.end)
    appointments = appointment_repository(gym_id)
    booked = appointments.stats(days.start, days.end)
    created = sum(funnel.values())
    converted = funnel.get(LeadStatus.CONVERTED, 0)
    ai_calls = call_repository(gym_id).ai_calls_placed(days.start, days.end)
    outcome_labels = dict(CallOutcome.choices)
    outcomes = [(outcome_labels[outcome], count) for outcome, count in calls["outcomes"].items() if count]
    without = calls["total_calls"] - sum(count for _, count in outcomes)
    if without:  # queued, under way, failed, or recorded without one: so the ring's total is the calls'
        outcomes.append(("No outcome", without))
    daily = [(datetime.date.fromisoformat(row["date"]), row["count"]) for row in recent["daily_leads"]]
    return {
        "funnel": funnel,
        "leads_created": created,
        "converted": converted,
        "conversion_rate": round(100 * converted / created, 1) if created else 0.0,
        "calls": calls,
        "ai_calls": ai_calls,
        "appointments": booked,
        "appointments_booked": sum(count for status, count in booked.items() if status != AppointmentStatus.CANCELLED),
        "upcoming": appointments.upcoming(8),
        "daily_leads": daily,
        "funnel_chart": charts.funnel([(LeadStatus(status).label, funnel.get(status, 0))
                                       for status in LeadStatus.values], label="Leads by status"),
        "daily_chart": charts.line_chart(daily, label="Leads per day, last 30 days"),
        "outcomes_chart": charts.donut(outcomes, label="Call outcomes"),
    }


@dataclass
class AgendaDay:
    date: datetime.date
    by_staff: list[tuple[str, list[Appointment]]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(appointments) for _, appointments in self.by_staff)


@dataclass
class Agenda:
    """Appointments for a week (Monday first) or a day, in the gym's days, each day's by staff member."""

    start: datetime.date
    days: int
    staff_id: str
    staff_choices: list[tuple[str, str]]
    entries: list[AgendaDay]
    error: str = ""

    @classmethod
    def from_query(cls, gym_id: uuid.UUID, query: QueryDict) -> "Agenda":
        error = ""
        unknown = sorted(set(query) - {"date", "view", "staff"})
        if unknown:
            error = f"Unknown parameter {', '.join(unknown)}: this page takes date, view and staff."
        try:
            day = datetime.date.fromisoformat(str(query.get("date"))) if query.get("date") else timezone.localdate()
        except ValueError:
            day, error = timezone.localdate(), "Give the date as YYYY-MM-DD."
        if not FIRST_DAY <= day <= LAST_DAY:
            day, error = timezone.localdate(), f"Choose a day from {FIRST_DAY.year} to {LAST_DAY.year}."
        view = query.get("view", "week")
        if view not in ("week", "day"):
            view, error = "week", "The view is week or day."
        days = 7 if view == "week" else 1
        start = day - datetime.timedelta(days=day.weekday()) if view == "week" else day
        choices = staff_choices(gym_id)
        staff_id = query.get("staff", "")
        if staff_id and staff_id not in dict(choices):
            staff_id, error = "", "No such staff member in your gym."
        begin, finish = local_day_bounds(start, start + datetime.timedelta(days=days - 1),
                                         timezone.get_current_timezone_name())
        rows = (Appointment.objects.for_gym(gym_id).filter(scheduled_time__gte=begin, scheduled_time__lt=finish)
                .select_related("lead", "staff").order_by("scheduled_time", "id"))
        if staff_id:
            rows = rows.filter(staff_id=staff_id)
        entries = [AgendaDay(start + datetime.timedelta(days=offset)) for offset in range(days)]
        groups: dict[tuple[int, Any], list[Appointment]] = {}
        for appointment in rows:  # by day, then by staff member (two people may share a name)
            offset = (timezone.localtime(appointment.scheduled_time).date() - start).days
            groups.setdefault((offset, appointment.staff_id), []).append(appointment)
        for (offset, _), appointments in groups.items():
            member = appointments[0].staff
            entries[offset].by_staff.append((member.get_full_name() or member.email if member else "Nobody yet",
                                             appointments))
        for entry in entries:
            entry.by_staff.sort(key=lambda group: group[0])
        return cls(start, days, staff_id, choices, entries, error)

    @property
    def view(self) -> str:
        return "week" if self.days == 7 else "day"

    @property
    def previous(self) -> datetime.date | None:
        """The start of the week (or day) before, None past the first day a page may show."""
        day = self.start - datetime.timedelta(days=self.days)
        return day if day >= FIRST_DAY else None

    @property
    def next(self) -> datetime.date | None:
        day = self.start + datetime.timedelta(days=self.days)
        return day if day <= LAST_DAY else None

    @property
    def end(self) -> datetime.date:
        return self.start + datetime.timedelta(days=self.days - 1)


def staff_choices(gym_id: uuid.UUID) -> list[tuple[str, str]]:
    """(id, name) of every staff member, active first; a deactivated one is said to be (their past
    appointments stay theirs, and can still be found)."""
    staff = User.objects.for_gym(gym_id).order_by("-is_active", "first_name", "last_name")
    return [(str(user.pk), (user.get_full_name() or user.email) + ("" if user.is_active else " (deactivated)"))
            for user in staff]


TIMELINE_LIMIT = 50


def timeline(gym_id: uuid.UUID, lead: Lead) -> list[dict[str, Any]]:
    """The lead's calls (with their conversations) and appointments, newest first (the latest 50 of each)."""
    calls = (CallLog.objects.for_gym(gym_id).filter(lead=lead).select_related("transcript", "campaign")
             .order_by("-start_time", "-id")[:TIMELINE_LIMIT])
    appointments = (Appointment.objects.for_gym(gym_id).filter(lead=lead).select_related("staff")
                    .order_by("-scheduled_time")[:TIMELINE_LIMIT])
    entries = [{"kind": "call", "at": call.start_time or call.created_at, "call": call,
                "conversation": conversation(call)} for call in calls]
    entries += [{"kind": "appointment", "at": appointment.scheduled_time, "appointment": appointment}
                for appointment in appointments]
    return sorted(entries, key=lambda entry: entry["at"], reverse=True)


def conversation(call: CallLog) -> list[dict[str, str]]:
    """The call's transcript as turns: [{"role": "agent" | "user", "text"}], from the platform's utterances
    (or, for a transcript kept only as text, from its "Agent:" / "User:" lines)."""
    transcript = getattr(call, "transcript", None)  # none kept: the reverse accessor raises an AttributeError
    if transcript is None:
        return []
    turns = [{"role": "agent" if turn.get("role") == "agent" else "user", "text": str(turn.get("content", ""))}
             for turn in transcript.utterances or [] if isinstance(turn, dict)]
    if turns:
        return turns
    for line in (transcript.content or "").splitlines():
        speaker, _, text = line.partition(":")
        if text and speaker.strip().lower() in ("agent", "user", "lead", "caller"):
            turns.append({"role": "agent" if speaker.strip().lower() == "agent" else "user", "text": text.strip()})
        elif line.strip():
            turns.append({"role": "user" if not turns else turns[-1]["role"], "text": line.strip()})
    return turns

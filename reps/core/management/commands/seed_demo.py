"""Demo data: two gyms with staff, leads, calls and appointments.

Idempotent: each demo gym has a fixed id and is created whole in one
transaction, so running the command again changes nothing and prints the
same logins.
"""

import datetime
import random
import uuid
import zoneinfo
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from faker import Faker

from accounts.models import Role, RoleName, User, UserProfile
from appointments.models import Appointment, AppointmentStatus
from calls.models import (
    CallLog,
    CallOutcome,
    CallStatus,
    CallTranscript,
    Campaign,
    CampaignStatus,
)
from gyms.models import Branch, Gym, GymSettings, KnowledgeBaseEntry
from gyms.services import create_gym
from leads.models import Lead, LeadQualification, LeadStatus, LeadTag, LeadTagAssignment
from reps.core.phones import normalize_phone
from reps.tenancy.database import GYM_PROOFS_NOT_BELIEVED, gym_proofs_believed, gym_scope

DEMO_NAMESPACE = uuid.UUID("6f1d8d8e-4a55-4d6e-9a3c-2f5b7c1e0a11")
ADMIN_EMAIL = "admin@reps.test"
ADMIN_PASSWORD = "reps-admin-demo"
STAFF_PASSWORD = "reps-staff-demo"

DEMO_GYMS: list[dict[str, Any]] = [
    {
        "key": "iron-peak",
        "name": "Iron Peak Fitness",
        "timezone": "America/New_York",
        "country_code": "US",
        "locale": "en_US",
        "phone": "+1 212 555 0100",
        "domain": "ironpeak.test",
        "branches": [("Downtown", "New York"), ("Brooklyn Heights", "Brooklyn")],
    },
    {
        "key": "northside",
        "name": "Northside Strength",
        "timezone": "Europe/London",
        "country_code": "GB",
        "locale": "en_GB",
        "phone": "+44 20 7946 0100",
        "domain": "northside.test",
        "branches": [("Camden", "London"), ("Islington", "London")],
    },
]

TAGS = [
    ("hot", "#EF4444"),
    ("warm", "#F59E0B"),
    ("cold", "#3B82F6"),
    ("weight loss", "#10B981"),
    ("strength", "#8B5CF6"),
    ("personal training", "#EC4899"),
    ("classes", "#14B8A6"),
    ("student", "#6366F1"),
    ("corporate", "#64748B"),
    ("returning member", "#84CC16"),
]
SOURCES = ["website", "facebook", "instagram", "referral", "walk-in", "google ads", "open day"]
KNOWLEDGE = [
    ("Membership prices", "pricing", "Monthly membership is 49 a month; annual is 490 paid upfront."),
    ("Opening hours", "hours", "Weekdays 6am to 10pm, weekends 8am to 8pm."),
    ("Free trial", "offers", "New members get a free 7-day trial including one personal training session."),
    ("Classes", "classes", "Spin, HIIT, yoga, pilates and strength classes run every day."),
    ("Cancellation policy", "policy", "Monthly memberships can be cancelled with 30 days' notice."),
]


class Command(BaseCommand):
    help = "Create demo gyms, staff, leads, calls and appointments (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=250, help="Leads per demo gym (default 250).")

    def handle(self, *args, leads, **options):
        if not gym_proofs_believed():
            raise CommandError(GYM_PROOFS_NOT_BELIEVED)
        admin, created = User.objects.get_or_create(
            email=ADMIN_EMAIL,
            defaults={"is_staff": True, "is_superuser": True, "first_name": "Platform", "last_name": "Admin"},
        )
        if created:
            admin.set_password(ADMIN_PASSWORD)
            admin.save()
        logins = [("platform admin (/admin/)", ADMIN_EMAIL, ADMIN_PASSWORD)]
        for spec in DEMO_GYMS:
            gym_id = uuid.uuid5(DEMO_NAMESPACE, spec["key"])
            if Gym.objects.filter(pk=gym_id).exists():
                self.stdout.write(f"{spec['name']}: already there, left as it is.")
            else:
                with transaction.atomic(), gym_scope(gym_id):
                    DemoGym(spec, gym_id, leads).build()
                self.stdout.write(f"{spec['name']}: created with {leads} leads.")
            for role in RoleName.values:
                logins.append((f"{spec['name']} {role}", f"{role}@{spec['domain']}", STAFF_PASSWORD))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # statistics for the planner: autovacuum may not have seen the new rows yet

        self.stdout.write("\nDemo logins:")
        for who, email, password in logins:
            self.stdout.write(f"  {who:<34} {email:<28} {password}")


class DemoGym:
    def __init__(self, spec, gym_id, lead_count):
        self.spec = spec
        self.gym_id = gym_id
        self.lead_count = lead_count
        self.random = random.Random(spec["key"])
        self.fake = Faker(spec["locale"])
        self.fake.seed_instance(spec["key"])
        self.now = timezone.now()

    def build(self):
        spec = self.spec
        self.gym = create_gym(
            id=self.gym_id,
            name=spec["name"],
            timezone=spec["timezone"],
            country_code=spec["country_code"],
            phone=spec["phone"],
            email=f"hello@{spec['domain']}",
            website=f"https://www.{spec['domain']}/",
            description=f"{spec['name']}: a demo gym.",
        )
        self.tz = zoneinfo.ZoneInfo(spec["timezone"])
        self.settings = GymSettings.objects.for_gym(self.gym).get()
        self.branches = [
            Branch.objects.create(gym=self.gym, name=name, city=city, address=self.fake.street_address())
            for name, city in spec["branches"]
        ]
        self.staff = self.make_staff()
        self.tags = LeadTag.objects.bulk_create(LeadTag(gym=self.gym, name=n, color=c) for n, c in TAGS)
        KnowledgeBaseEntry.objects.bulk_create(
            KnowledgeBaseEntry(gym=self.gym, title=t, category=c, content=body) for t, c, body in KNOWLEDGE
        )
        self.campaigns = Campaign.objects.bulk_create(
            [
                Campaign(
                    gym=self.gym,
                    name="New lead follow-up",
                    status=CampaignStatus.ACTIVE,
                    starts_on=(self.now - datetime.timedelta(days=60)).date(),
                ),
                Campaign(
                    gym=self.gym,
                    name="Lapsed trial win-back",
                    status=CampaignStatus.PAUSED,
                    starts_on=(self.now - datetime.timedelta(days=30)).date(),
                    ends_on=(self.now + datetime.timedelta(days=30)).date(),
                ),
            ]
        )
        leads = self.make_leads()
        self.make_qualifications_and_tags(leads)
        calls = self.make_calls(leads)
        appointments = self.make_appointments(leads, calls)
        self.score_engagement(leads, calls, appointments)

    def make_staff(self):
        roles = {role.name: role for role in Role.objects.all()}
        staff = []
        for role in RoleName.values:
            user = User(
                email=f"{role}@{self.spec['domain']}",
                first_name=self.fake.first_name(),
                last_name=self.fake.last_name(),
                gym=self.gym,
                role=roles[role],
            )
            user.set_password(STAFF_PASSWORD)
            user.save()
            UserProfile.objects.create(user=user, job_title=role.title())
            staff.append(user)
        return staff

    def phone_number(self, used):
        while True:
            if self.spec["country_code"] == "US":
                raw = f"+1 {self.random.choice(['212', '646', '718', '917'])} 555 {self.random.randint(0, 9999):04d}"
            else:
                raw = f"+44 20 7946 {self.random.randint(0, 999):04d}"
            phone = normalize_phone(raw)
            if phone not in used:
                used.add(phone)
                return phone

    def make_leads(self):
        used: set[str] = set()
        statuses = (
            [LeadStatus.NEW] * 4
            + [LeadStatus.CONTACTED] * 3
            + [LeadStatus.QUALIFIED] * 2
            + [LeadStatus.CONVERTED, LeadStatus.LOST]
        )
        leads = []
        for _ in range(self.lead_count):
            first, last = self.fake.first_name(), self.fake.last_name()
            created = self.now - datetime.timedelta(minutes=self.random.randint(0, 60 * 24 * 60))
            leads.append(
                Lead(
                    gym=self.gym,
                    branch=self.random.choice(self.branches + [None]),
                    first_name=first,
                    last_name=last,
                    email=f"{first}.{last}{self.random.randint(1, 99)}@example.com".lower().replace("'", ""),
                    phone=self.phone_number(used),
                    status=self.random.choice(statuses),
                    source=self.random.choice(SOURCES),
                    created_at=created,
                )
            )
        return Lead.objects.bulk_create(leads)

    def make_qualifications_and_tags(self, leads):
        qualifications, assignments = [], []
        for lead in leads:
            if lead.status != LeadStatus.NEW or self.random.random() < 0.3:
                qualifications.append(
                    LeadQualification(
                        gym=self.gym,
                        lead=lead,
                        score=self.random.randint(10, 100),
                        interest_level=self.random.choice(["low", "medium", "high"]),
                        fitness_goals=self.random.choice(
                            ["lose weight", "build strength", "train for a 10k", "stay healthy"]
                        ),
                        budget=self.random.choice(["under 40/month", "40-60/month", "60+/month"]),
                        timeline=self.random.choice(["this week", "this month", "next month"]),
                        qualified_at=lead.created_at + datetime.timedelta(days=1),
                    )
                )
            for tag in self.random.sample(self.tags, self.random.randint(0, 3)):
                assignments.append(LeadTagAssignment(gym=self.gym, lead=lead, tag=tag))
        LeadQualification.objects.bulk_create(qualifications)
        LeadTagAssignment.objects.bulk_create(assignments)

    def make_calls(self, leads):
        calls, transcripts = [], []
        for lead in leads:
            if lead.status == LeadStatus.NEW:
                # New leads wait for their first call, some time in the next week.
                if self.random.random() < 0.6:
                    calls.append(
                        CallLog(
                            gym=self.gym,
                            lead=lead,
                            campaign=self.campaigns[0],
                            is_ai_call=True,
                            status=CallStatus.SCHEDULED,
                            start_time=self.now + datetime.timedelta(minutes=self.random.randint(10, 7 * 24 * 60)),
                        )
                    )
                continue
            for _ in range(self.random.randint(1, 4)):
                span = max(60, int((self.now - lead.created_at).total_seconds()))
                start = lead.created_at + datetime.timedelta(seconds=self.random.randint(30, span))
                status = self.random.choice([CallStatus.COMPLETED] * 3 + [CallStatus.NO_ANSWER, CallStatus.FAILED])
                call = CallLog(
                    gym=self.gym,
                    lead=lead,
                    campaign=self.random.choice(self.campaigns + [None]),
                    is_ai_call=self.random.random() < 0.8,
                    status=status,
                    start_time=start,
                    retell_call_id=f"demo_{uuid.UUID(int=self.random.getrandbits(128)).hex}",
                )
                if status == CallStatus.COMPLETED:
                    call.duration = self.random.randint(45, 600)
                    call.end_time = start + datetime.timedelta(seconds=call.duration)
                    call.outcome = self.random.choice([o for o in CallOutcome.values if o != CallOutcome.NO_ANSWER])
                    transcripts.append(call)
                elif status == CallStatus.NO_ANSWER:
                    call.outcome = self.random.choice([CallOutcome.NO_ANSWER, CallOutcome.VOICEMAIL])
                calls.append(call)
        CallLog.objects.bulk_create(calls)
        CallTranscript.objects.bulk_create(
            CallTranscript(gym=self.gym, call=call, **self.transcript(call)) for call in transcripts
        )
        return calls

    def transcript(self, call):
        name = call.lead.first_name
        utterances = [
            {"role": "agent", "content": f"Hi {name}, this is Alex from {self.gym.name}. Is now a good time?"},
            {"role": "user", "content": "Sure, I filled in the form on your website."},
            {"role": "agent", "content": "Great! What are you hoping to achieve with a membership?"},
            {
                "role": "user",
                "content": self.random.choice(
                    ["I want to get stronger.", "Mostly lose some weight.", "I'd like to try the classes."]
                ),
            },
            {"role": "agent", "content": "Would you like to come in for a free tour and trial session?"},
            {
                "role": "user",
                "content": self.random.choice(
                    ["Yes, that sounds good.", "Maybe next month.", "Not right now, thanks."]
                ),
            },
        ]
        content = "\n".join(f"{u['role'].title()}: {u['content']}" for u in utterances)
        return {"content": content, "utterances": utterances}

    def make_appointments(self, leads, calls):
        """Appointments over the past 60 days and the next 14, one staff slot each, never overlapping."""
        minutes = self.settings.default_appointment_minutes
        today = self.now.astimezone(self.tz).date()
        opening = datetime.time(9)
        slots = [
            (
                staff,
                datetime.datetime.combine(today + datetime.timedelta(days=day), opening, self.tz)
                + datetime.timedelta(minutes=offset),
            )
            for staff in self.staff
            for day in range(-60, 15)
            for offset in range(0, 10 * 60 - minutes + 1, minutes)
        ]
        self.random.shuffle(slots)
        booking_calls = {c.lead_id: c for c in calls if c.outcome == CallOutcome.APPOINTMENT_BOOKED}
        candidates = [
            lead for lead in leads if lead.status in (LeadStatus.QUALIFIED, LeadStatus.CONVERTED, LeadStatus.CONTACTED)
        ]
        appointments = []
        for lead, (staff, start) in zip(candidates, slots, strict=False):
            if start < self.now:
                status = self.random.choice(
                    [AppointmentStatus.COMPLETED] * 3 + [AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED]
                )
            else:
                status = self.random.choice([AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED])
            appointments.append(
                Appointment(
                    gym=self.gym,
                    lead=lead,
                    staff=staff,
                    branch=lead.branch or self.branches[0],
                    call=booking_calls.get(lead.pk),
                    title=self.random.choice(["Gym tour", "Trial session", "Personal training intro"]),
                    scheduled_time=start,
                    end_time=start + datetime.timedelta(minutes=minutes),
                    status=status,
                    created_at=min(start, self.now) - datetime.timedelta(days=self.random.randint(1, 5)),
                )
            )
        return Appointment.objects.bulk_create(appointments)

    def score_engagement(self, leads, calls, appointments):
        """The rule of the backfill in leads/migrations/0002_lead_engagement.py."""
        score: dict[Any, int] = {}
        latest: dict[Any, Any] = {}
        for call in calls:
            if call.status == CallStatus.COMPLETED:
                score[call.lead_id] = score.get(call.lead_id, 0) + 10
            if call.status != CallStatus.SCHEDULED:
                moment = call.end_time or call.start_time
                latest[call.lead_id] = max(latest.get(call.lead_id, moment), moment)
        for appointment in appointments:
            if appointment.status != AppointmentStatus.CANCELLED:
                score[appointment.lead_id] = score.get(appointment.lead_id, 0) + 25
            moment = appointment.created_at
            latest[appointment.lead_id] = max(latest.get(appointment.lead_id, moment), moment)
        for lead in leads:
            lead.engagement_score = min(100, score.get(lead.pk, 0))
            lead.last_interaction = latest.get(lead.pk)
        Lead.objects.bulk_update(leads, ["engagement_score", "last_interaction"])

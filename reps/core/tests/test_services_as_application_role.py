"""Every service, called the way a job or a command calls it: as the application role, with no request around it.

The rest of the suite logs in as a superuser, which row-level security does
not apply to, and most tests run inside a test transaction: a service that
forgot to set its own gym scope or transaction would still pass there. Here
the test's connection is the application's own (`reps_app`, autocommit, no
gym), so a service that does not work for its gym by itself finds nothing
and fails. Gym B's rows are beside gym A's in every case, and must survive.
"""

import datetime
import uuid
from typing import Any

import pytest
from django.utils import timezone
from knox.crypto import hash_token

from accounts import services as accounts
from accounts.models import ApiToken, User
from accounts.tests.factories import PASSWORD, RoleFactory, UserFactory
from appointments import services as appointments
from appointments.models import Appointment
from appointments.tests.factories import AppointmentFactory
from calls import services as calls
from calls.models import CallLog
from calls.tests.factories import CallLogFactory, CampaignFactory
from gyms import services as gyms
from gyms.models import AISettings, Branch, Gym, GymSettings
from gyms.tests.factories import BranchFactory, GymFactory
from leads import services as leads
from leads.imports import import_leads, not_enqueued, queue_import, run_import_job, take_pending_imports
from leads.models import Lead, LeadImport, LeadTag
from leads.tests.factories import LeadFactory, LeadTagFactory
from notifications import services as notifications
from notifications.models import Notification
from reps.core.models import OutboxMessage
from reps.core.outbox import relay_gym_outbox
from reps.core.testing import as_application_role
from reps.tenancy import services as generic
from reps.tenancy.database import gym_transaction
from reps.tenancy.services import SERVICES
from reps.tenancy.state import ScopeError

pytestmark = pytest.mark.django_db(transaction=True)

TOMORROW_NOON = (timezone.now() + datetime.timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)


class FakePlatform:
    def create_phone_call(self, **request: Any) -> dict[str, str]:
        return {"call_id": f"call_{uuid.uuid4().hex}"}


def world() -> dict[str, Any]:
    """Gym A with one of everything a service needs, and gym B beside it."""
    gym, other = GymFactory(name="Gym A", phone="+12125550100"), GymFactory(name="Gym B")
    owner = UserFactory(gym=gym, role=RoleFactory(name="owner"))
    sales = UserFactory(gym=gym, role=RoleFactory(name="sales"), email="sales@gym-a.test")
    lead = LeadFactory(gym=gym, consent_given_at=timezone.now())
    theirs = LeadFactory(gym=other, phone=lead.phone)  # the same number, in gym B
    return {
        "gym": gym, "other": other, "owner": owner, "sales": sales, "lead": lead, "theirs": theirs,
        "tag": LeadTagFactory(gym=gym), "branch": BranchFactory(gym=gym),
        "call": CallLogFactory(lead=lead, status="scheduled", start_time=TOMORROW_NOON),
        "appointment": AppointmentFactory(lead=lead, staff=sales, scheduled_time=TOMORROW_NOON),
        "campaign": CampaignFactory(gym=gym),
        "fresh_lead": LeadFactory(gym=gym, consent_given_at=timezone.now(), phone="+12125550178"),
        "token": ApiToken.objects.create(user=sales, name="laptop")[0],
        "message": OutboxMessage.objects.unscoped().create(gym=gym, topic="test.event"),
        "their_message": OutboxMessage.objects.unscoped().create(gym=other, topic="test.event"),
    }


JOB_CSV = "Name,Phone\nJane Job,212-555-0166\n"


def planned_confirmations(w: dict[str, Any]) -> int:
    """Gym A's appointment's booking confirmations (email and SMS) and reminders, planned."""
    appointment = w["appointment"]
    return int(notifications.plan_notifications(
        gym=w["gym"].pk, message_id="booked-1", topic="appointment.booked",
        payload={"appointment_id": str(appointment.pk), "scheduled_time": appointment.scheduled_time.isoformat()}))


def lost_import(w: dict[str, Any]) -> LeadImport:
    """An import job of gym A that the broker never got."""
    job = queue_import(gym=w["gym"].pk, text=JOB_CSV, rows_total=1)
    not_enqueued(gym=w["gym"].pk, job_id=job.pk)
    return job


# service name: (call it as a job would, then check what it wrote as the test's superuser)
CASES = {
    "reps.tenancy.services.create": (
        lambda w: generic.create(Branch, gym=w["gym"].pk, data={"name": "North"}),
        lambda w, result: Branch.objects.unscoped().get(pk=result.pk).gym_id == w["gym"].pk),
    "reps.tenancy.services.update": (
        lambda w: generic.update(Branch, gym=w["gym"].pk, object_id=w["branch"].pk, data={"name": "South"}),
        lambda w, result: Branch.objects.unscoped().get(pk=w["branch"].pk).name == "South"),
    "reps.tenancy.services.delete": (
        lambda w: generic.delete(Branch, gym=w["gym"].pk, object_id=w["branch"].pk),
        lambda w, result: result is True and not Branch.objects.unscoped().filter(pk=w["branch"].pk).exists()),
    "leads.services.create_lead": (
        lambda w: leads.create_lead(gym=w["gym"].pk, data={"first_name": "N", "last_name": "L",
                                                           "phone": "212 555 9911"}),
        lambda w, result: Lead.objects.unscoped().get(pk=result.pk).phone == "+12125559911"),
    "leads.services.update_lead": (
        lambda w: leads.update_lead(gym=w["gym"].pk, lead_id=w["lead"].pk, data={"notes": "called back"}),
        lambda w, result: Lead.objects.unscoped().get(pk=w["lead"].pk).notes == "called back"),
    "leads.services.change_lead_status": (
        lambda w: leads.change_lead_status(gym=w["gym"].pk, lead_id=w["lead"].pk, status="lost"),
        lambda w, result: Lead.objects.unscoped().get(pk=w["lead"].pk).status == "lost"),
    "leads.services.record_consent": (
        lambda w: leads.record_consent(gym=w["gym"].pk, lead_id=w["lead"].pk, actor=w["sales"], consent=False),
        lambda w, result: Lead.objects.unscoped().get(pk=w["lead"].pk).do_not_call is True),
    "leads.services.delete_lead": (
        lambda w: leads.delete_lead(gym=w["gym"].pk, lead_id=w["lead"].pk),
        lambda w, result: result is True and not Lead.objects.unscoped().filter(pk=w["lead"].pk).exists()),
    "leads.services.set_lead_tags": (
        lambda w: leads.set_lead_tags(gym=w["gym"].pk, lead_id=w["lead"].pk, tag_ids=[w["tag"].pk]),
        lambda w, result: list(LeadTag.objects.unscoped().filter(leads=w["lead"])) == [w["tag"]]),
    "leads.services.save_lead": (
        lambda w: leads.save_lead(gym=w["gym"].pk, data={"first_name": "S", "last_name": "L",
                                                         "phone": "+12125559912", "tags": [w["tag"].pk]}),
        lambda w, result: list(LeadTag.objects.unscoped().filter(leads=result)) == [w["tag"]]),
    "leads.imports.import_leads": (
        lambda w: import_leads(gym=w["gym"].pk, text="Name,Phone\nJane Doe,212-555-0177\n"),
        lambda w, result: result.created == 1 and Lead.objects.unscoped().filter(
            gym=w["gym"], phone="+12125550177").exists()),
    "leads.imports.queue_import": (
        lambda w: queue_import(gym=w["gym"].pk, text=JOB_CSV, rows_total=1, created_by=w["owner"]),
        lambda w, result: LeadImport.objects.unscoped().filter(pk=result.pk, gym=w["gym"], status="queued",
                                                               created_by=w["owner"]).exists()),
    "leads.imports.not_enqueued": (
        lambda w: not_enqueued(gym=w["gym"].pk, job_id=queue_import(gym=w["gym"].pk, text=JOB_CSV, rows_total=1).pk),
        lambda w, result: result is True and LeadImport.objects.unscoped().get(gym=w["gym"]).enqueued_at is None),
    "leads.imports.take_pending_imports": (
        lambda w: (lost_import(w).pk, take_pending_imports(gym=w["gym"].pk)),
        lambda w, result: result[1] == [result[0]]
        and LeadImport.objects.unscoped().get(pk=result[0]).enqueued_at is not None),
    "leads.imports.run_import_job": (
        lambda w: run_import_job(gym=w["gym"].pk,
                                 job_id=queue_import(gym=w["gym"].pk, text=JOB_CSV, rows_total=1).pk),
        lambda w, result: result == "done" and LeadImport.objects.unscoped().get(gym=w["gym"]).created_count == 1
        and Lead.objects.unscoped().filter(gym=w["gym"], phone="+12125550166").exists()),
    "calls.services.update_call_status": (
        lambda w: calls.update_call_status(gym=w["gym"].pk, call_id=w["call"].pk, status="in_progress"),
        lambda w, result: CallLog.objects.unscoped().get(pk=w["call"].pk).status == "in_progress"),
    "calls.services.queue_ai_calls": (
        lambda w: calls.queue_ai_calls(gym=w["gym"].pk, lead_ids=[w["fresh_lead"].pk]),
        lambda w, result: len(result["queued"]) == 1 and CallLog.objects.unscoped().filter(
            pk=result["queued"][0], gym=w["gym"]).exists()),
    "calls.services.dispatch_gym_calls": (
        lambda w: calls.dispatch_gym_calls(gym=w["gym"].pk, client=FakePlatform(), now=TOMORROW_NOON),
        lambda w, result: result["sent"] == 1 and CallLog.objects.unscoped().get(
            pk=w["call"].pk).retell_call_id.startswith("call_")),
    "appointments.services.book_appointment": (
        lambda w: appointments.book_appointment(gym=w["gym"].pk, lead=w["lead"].pk, title="Tour",
                                                scheduled_time=TOMORROW_NOON + datetime.timedelta(days=1)),
        lambda w, result: Appointment.objects.unscoped().get(pk=result.pk).staff == w["sales"]
        and OutboxMessage.objects.unscoped().filter(gym=w["gym"], topic="appointment.booked").exists()),
    "appointments.services.update_appointment": (
        lambda w: appointments.update_appointment(gym=w["gym"].pk, appointment_id=w["appointment"].pk,
                                                  data={"title": "Trial"}),
        lambda w, result: Appointment.objects.unscoped().get(pk=w["appointment"].pk).title == "Trial"),
    "appointments.services.reschedule_appointment": (
        lambda w: appointments.reschedule_appointment(gym=w["gym"].pk, appointment_id=w["appointment"].pk,
                                                      scheduled_time=TOMORROW_NOON + datetime.timedelta(days=2)),
        lambda w, result: Appointment.objects.unscoped().get(
            pk=w["appointment"].pk).scheduled_time == TOMORROW_NOON + datetime.timedelta(days=2)),
    "appointments.services.update_appointment_status": (
        lambda w: appointments.update_appointment_status(gym=w["gym"].pk, appointment_id=w["appointment"].pk,
                                                         status="confirmed"),
        lambda w, result: Appointment.objects.unscoped().get(pk=w["appointment"].pk).status == "confirmed"),
    "appointments.services.mark_no_shows": (
        lambda w: appointments.mark_no_shows(gym=w["gym"].pk, now=TOMORROW_NOON + datetime.timedelta(days=1)),
        lambda w, result: result == 1 and Appointment.objects.unscoped().get(pk=w["appointment"].pk).status == "no_show"
        and OutboxMessage.objects.unscoped().filter(gym=w["gym"], topic="appointment.no_show").exists()),
    "notifications.services.plan_notifications": (
        planned_confirmations,
        lambda w, result: result >= 2 and set(Notification.objects.unscoped().values_list("gym_id", flat=True)) == {
            w["gym"].pk}),
    "notifications.services.send_due_notifications": (
        lambda w: (planned_confirmations(w), notifications.send_due_notifications(  # 09:00 in the gym: no quiet hours
            gym=w["gym"].pk, now=TOMORROW_NOON - datetime.timedelta(hours=3))),
        # The confirmations, and the day-before reminder when it is already due then (tests run at any hour).
        lambda w, result: Notification.objects.unscoped().filter(
            gym=w["gym"], kind="confirmation", status="sent").count() == 2
        and result[1]["sent"] == Notification.objects.unscoped().filter(gym=w["gym"], status="sent").count() >= 2),
    "reps.core.outbox.relay_gym_outbox": (
        lambda w: relay_gym_outbox(gym=w["gym"].pk),
        lambda w, result: result["sent"] >= 1
        and OutboxMessage.objects.unscoped().get(pk=w["message"].pk).sent_at is not None
        and OutboxMessage.objects.unscoped().get(pk=w["their_message"].pk).sent_at is None),
    "appointments.services.delete_appointment": (
        lambda w: appointments.delete_appointment(gym=w["gym"].pk, appointment_id=w["appointment"].pk),
        lambda w, result: result is True and not Appointment.objects.unscoped().filter(
            pk=w["appointment"].pk).exists()
        and OutboxMessage.objects.unscoped().filter(gym=w["gym"], topic="appointment.deleted").exists()),
    "gyms.services.update_gym": (
        lambda w: gyms.update_gym(gym=w["gym"].pk, data={"name": "Gym A+", "settings": {"max_call_attempts": 5}}),
        lambda w, result: Gym.objects.get(pk=w["gym"].pk).name == "Gym A+"
        and GymSettings.objects.unscoped().get(gym=w["gym"]).max_call_attempts == 5),
    "accounts.services.create_staff_user": (
        lambda w: accounts.create_staff_user(gym=w["gym"].pk, actor=w["owner"], data={
            "email": "new@gym-a.test", "role": RoleFactory(name="sales"), "password": "a long unusual password"}),
        lambda w, result: User.objects.get(email="new@gym-a.test").gym_id == w["gym"].pk),
    "accounts.services.update_staff_user": (
        lambda w: accounts.update_staff_user(gym=w["gym"].pk, actor=w["owner"], user_id=w["sales"].pk,
                                             data={"first_name": "Robin"}),
        lambda w, result: User.objects.get(pk=w["sales"].pk).first_name == "Robin"),
    "accounts.services.change_own_password": (
        lambda w: accounts.change_own_password(gym=w["gym"].pk, user=w["sales"], current_password=PASSWORD,
                                               password="another long unusual password"),
        lambda w, result: User.objects.get(pk=w["sales"].pk).check_password("another long unusual password")),
    "accounts.services.deactivate_staff_user": (
        lambda w: accounts.deactivate_staff_user(gym=w["gym"].pk, actor=w["owner"], user_id=w["sales"].pk),
        lambda w, result: User.objects.get(pk=w["sales"].pk).is_active is False),
    "accounts.services.issue_token": (
        lambda w: accounts.issue_token(gym=w["gym"].pk, user=w["sales"], name="phone"),
        lambda w, result: ApiToken.objects.filter(user=w["sales"], name="phone", digest=hash_token(result[1])).exists()),
    "accounts.services.rotate_token": (
        lambda w: accounts.rotate_token(gym=w["gym"].pk, user=w["sales"], api_token=w["token"]),
        lambda w, result: list(ApiToken.objects.filter(user=w["sales"])) == [result[0]] != [w["token"]]),
    "accounts.services.revoke_token": (
        lambda w: accounts.revoke_token(gym=w["gym"].pk, user=w["sales"], token_id=w["token"].public_id),
        lambda w, result: result is True and not ApiToken.objects.filter(user=w["sales"]).exists()),
}


def service_name(service: Any) -> str:
    return f"{service.__module__}.{service.__qualname__}"


def test_every_service_has_a_case_here():
    assert sorted(service_name(service) for service in SERVICES) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_service_called_as_a_job_works_for_its_gym_and_leaves_the_other_alone(name):
    w = world()
    AISettings.objects.unscoped().filter(gym=w["gym"]).update(is_enabled=True)
    call, check = CASES[name]
    theirs_before = Lead.objects.unscoped().get(pk=w["theirs"].pk)

    with as_application_role():
        result = call(w)

    assert check(w, result), f"{name} did not write what it should have"
    theirs = Lead.objects.unscoped().get(pk=w["theirs"].pk)
    assert (theirs.gym_id, theirs.status, theirs.notes) == (w["other"].pk, theirs_before.status, theirs_before.notes)


def test_the_dispatcher_job_finds_each_gyms_due_calls_as_the_application_role():
    w = world()
    Gym.objects.filter(pk=w["other"].pk).update(phone="+12125550200")
    CallLogFactory(lead=LeadFactory(gym=w["other"], consent_given_at=timezone.now()), status="scheduled",
                   start_time=TOMORROW_NOON)

    with as_application_role():
        counts = calls.dispatch_due_calls(client=FakePlatform(), now=TOMORROW_NOON)

    assert counts["sent"] == 2
    assert CallLog.objects.unscoped().filter(retell_call_id__startswith="call_").count() == 2


def test_a_service_for_one_gym_refuses_to_run_inside_another_gyms_scope():
    w = world()
    with as_application_role(), gym_transaction(w["other"]), pytest.raises(ScopeError):
        leads.update_lead(gym=w["gym"].pk, lead_id=w["lead"].pk, data={"notes": "x"})
    assert Lead.objects.unscoped().get(pk=w["lead"].pk).notes == ""

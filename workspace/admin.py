"""The gym workspace (/workspace/): the admin site where a gym's own staff do their daily work.

Every page runs inside the signed-in user's gym as the application role (reps.tenancy.admin.WorkspaceSite),
reads through the models' `for_gym()` querysets and writes through the same services as the API. What a
role may do follows the API: sales work leads, calls and appointments; owners and managers also
campaigns, staff, the gym and its settings and branches, the knowledge base and imports (and, as in the API,
only an owner makes or changes an owner).
"""

import csv
import datetime
import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.models import Role, User
from accounts.services import create_staff_user, deactivate_staff_user, update_staff_user
from appointments.models import Appointment
from appointments.services import (
    APPOINTMENT_TRANSITIONS,
    book_appointment,
    delete_appointment,
    update_appointment,
    update_appointment_status,
)
from calls.models import CallLog, Campaign
from calls.services import queue_ai_calls
from calls.voice import PlatformError
from calls.webhooks import refresh_recording
from gyms.models import AISettings, Branch, Gym, GymSettings, KnowledgeBaseEntry, VoiceSettings
from gyms.services import update_gym
from leads.admin import leads_matching
from leads.models import Lead, LeadImport, LeadTag
from leads.services import LEAD_TRANSITIONS, delete_lead, save_lead
from leads.tasks import import_upload
from notifications.models import Notification
from reps.core.admin import CallWhen, When
from reps.core.permissions import EVERYONE, MANAGERS, OWNER, role_of
from reps.core.phones import display_phone
from reps.core.transitions import StatusTransitionAdminMixin
from reps.tenancy.admin import GymChoiceFilter, WorkspaceAdmin, WorkspaceSite, gym_id_of_request, member_of

from . import figures

NOBODY: frozenset[str] = frozenset()
logger = logging.getLogger(__name__)


class Workspace(WorkspaceSite):
    site_title = "Reps workspace"
    site_header = "Reps workspace"
    index_title = "Dashboard"
    index_template = "workspace/dashboard.html"
    login_template = "workspace/login.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The dashboard: the funnel, leads per day, call outcomes and upcoming appointments for a range of days."""
        range_of_days = figures.DayRange.from_query(request.GET)
        context = {"dashboard": figures.dashboard(gym_id_of_request(request), range_of_days),
                   "range": range_of_days, **(extra_context or {})}
        return super().index(request, context)

    def get_urls(self) -> list[Any]:
        return [path("agenda/", self.admin_view(self.agenda), name="agenda"), *super().get_urls()]

    def agenda(self, request: HttpRequest) -> TemplateResponse:
        """Appointments by day for a week (or a day), each day's per staff member."""
        agenda = figures.Agenda.from_query(gym_id_of_request(request), request.GET)
        context = {**self.each_context(request), "title": "Agenda", "agenda": agenda}
        return TemplateResponse(request, "workspace/agenda.html", context)


site = Workspace(name="workspace")


def local(moment: datetime.datetime | None) -> str:
    """A time in the gym's zone (the page's), as people read it: "Tue 1 Dec 2026, 14:30 EST"."""
    return timezone.localtime(moment).strftime("%a %-d %b %Y, %H:%M %Z") if moment else "—"


# ---------------------------------------------------------------------------------------------------- leads

class HasTag(GymChoiceFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(tag.pk), tag.name) for tag in LeadTag.objects.for_gym(gym_id_of_request(request)).order_by("name")]

    def queryset(self, request: Any, queryset: Any) -> Any:
        return queryset.filter(tags__pk=self.value()) if self.value() else queryset


class CalledInCampaign(GymChoiceFilter):
    title = "campaign"
    parameter_name = "campaign"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(c.pk), c.name) for c in Campaign.objects.for_gym(gym_id_of_request(request)).order_by("name")]

    def queryset(self, request: Any, queryset: Any) -> Any:
        if not self.value():
            return queryset
        return queryset.filter(Exists(CallLog.objects.for_gym(gym_id_of_request(request))
                                      .filter(lead=OuterRef("pk"), campaign_id=self.value())))


class WithStaff(GymChoiceFilter):
    """Leads with an appointment with this staff member."""

    title = "staff"
    parameter_name = "staff"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return staff_choices(request)

    def queryset(self, request: Any, queryset: Any) -> Any:
        if not self.value():
            return queryset
        return queryset.filter(Exists(Appointment.objects.for_gym(gym_id_of_request(request))
                                      .filter(lead=OuterRef("pk"), staff_id=self.value())))


def staff_choices(request: Any) -> list[tuple[str, str]]:
    """Every staff member, the deactivated ones too (their past appointments stay theirs), who is which said."""
    return figures.staff_choices(gym_id_of_request(request))


class LeadForm(forms.ModelForm):
    # Not "tags": the admin edits no many-to-many with a model of its own between; the service sets them.
    lead_tags = forms.ModelMultipleChoiceField(queryset=LeadTag.objects.none(), required=False, label="Tags",
                                               widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Lead
        fields = ["first_name", "last_name", "phone", "email", "source", "branch", "status", "notes"]


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab or carriage return) would run
    as a formula, so it is quoted with a leading apostrophe (OWASP's advice for CSV injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(filename: str, header: list[str], rows: Any) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return response


class LeadImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row: first_name, last_name, phone, email, source, notes, tags,"
                                     " consent (the API's import columns).")
    on_duplicate = forms.ChoiceField(choices=[("skip", "Skip leads whose phone the gym has"),
                                              ("update", "Update them")], initial="skip")


@admin.register(Lead, site=site)
class LeadAdmin(StatusTransitionAdminMixin, WorkspaceAdmin):
    form = LeadForm
    status_transitions = LEAD_TRANSITIONS
    view_roles = write_roles = EVERYONE
    delete_roles = MANAGERS
    list_display = ("full_name", "phone_number", "email", "status", "source", "tag_names", "created")
    list_display_links = ("full_name",)
    list_filter = ("status", "source", HasTag, CalledInCampaign, WithStaff)
    search_fields = ("first_name",)  # shows the search box; get_search_results() searches as the API does
    search_help_text = "Name, email or phone in any format (555-1299, (555) 12…)."
    ordering = ("-created_at", "-id")
    list_per_page = 50
    readonly_fields = ("do_not_call", "consent_given_at", "consent_source", "engagement_score",
                       "last_interaction", "qualification_summary", "created")
    fieldsets = [
        (None, {"fields": [("first_name", "last_name"), ("phone", "email"), ("status", "source"), "branch",
                           "lead_tags", "notes"]}),
        ("Calling", {"fields": [("do_not_call", "consent_given_at", "consent_source")]}),
        ("Qualification", {"fields": ["qualification_summary", ("engagement_score", "last_interaction"),
                                      "created"]}),
    ]
    actions = ["queue_calls", "export_csv"]
    change_form_template = "workspace/lead_change_form.html"
    change_list_template = "workspace/lead_change_list.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        tags = LeadTag.objects.for_gym(gym_id_of_request(request)).order_by("name")
        return super().get_queryset(request).prefetch_related(Prefetch("tags", queryset=tags))

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        return (leads_matching(request, queryset, search_term) if search_term.strip() else queryset), False

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        gym_id = gym_id_of_request(request)

        class LeadFormOfGym(form_class):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.fields["lead_tags"].queryset = LeadTag.objects.for_gym(gym_id).order_by("name")
                if self.instance.pk:
                    self.initial.setdefault("lead_tags", [tag.pk for tag in self.instance.tags.all()])

        return LeadFormOfGym

    def write(self, request: HttpRequest, form: Any, change: bool) -> Any:
        data = self.form_data(form, change)
        if not change or "lead_tags" in form.changed_data:
            data["tags"] = list(form.cleaned_data["lead_tags"])
        lead = save_lead(gym=gym_id_of_request(request), lead_id=form.instance.pk if change else None,
                         data=data, actor=member_of(request))
        if lead is None:
            raise Http404("No such lead in your gym.")
        return lead

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        delete_lead(gym=gym_id_of_request(request), lead_id=obj.pk)

    @admin.display(description="name", ordering="last_name")
    def full_name(self, lead: Lead) -> str:
        return lead.full_name

    @admin.display(description="phone", ordering="phone")
    def phone_number(self, lead: Lead) -> str:
        return display_phone(lead.phone)

    @admin.display(description="tags")
    def tag_names(self, lead: Lead) -> str:
        return ", ".join(tag.name for tag in lead.tags.all())

    @admin.display(description="created", ordering="created_at")
    def created(self, lead: Lead) -> str:
        return local(lead.created_at)

    @admin.display(description="qualification")
    def qualification_summary(self, lead: Lead) -> Any:
        qualification = getattr(lead, "qualification", None) if lead.pk else None
        if qualification is None:
            return "Not qualified yet."
        facts = [("Score", qualification.score), ("Interest", qualification.get_interest_level_display() or "—"),
                 ("Goals", qualification.fitness_goals or "—"), ("Budget", qualification.budget or "—"),
                 ("Wants to start", qualification.timeline or "—"), ("Notes", qualification.notes or "—"),
                 ("Qualified", local(qualification.qualified_at))]
        return format_html("<dl class='qualification'>{}</dl>",
                           format_html_join("", "<dt>{}</dt><dd>{}</dd>", facts))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> Any:
        lead = self.get_object(request, object_id)
        context = {"timeline": figures.timeline(gym_id_of_request(request), lead), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    @admin.action(description="Queue AI calls for the selected leads")
    def queue_calls(self, request: HttpRequest, queryset: Any) -> None:
        limit = settings.API_MAX_IDS
        ids = list(queryset.values_list("pk", flat=True)[: limit + 1])
        if len(ids) > limit:
            self.message_user(request, f"Select at most {limit} leads to call at once.", messages.ERROR)
            return
        if not ids:
            self.message_user(request, "None of the selected leads is in your gym.", messages.ERROR)
            return
        try:
            with transaction.atomic():
                result = queue_ai_calls(gym=gym_id_of_request(request), lead_ids=ids)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        if result["queued"]:
            start = datetime.datetime.fromisoformat(result["start_time"])
            self.message_user(request, f"Queued {len(result['queued'])} AI call(s), from {local(start)}.",
                              messages.SUCCESS)
        skipped = Lead.objects.for_gym(gym_id_of_request(request)).filter(
            pk__in=[skip["lead"] for skip in result["skipped"]])
        names = {str(lead.pk): lead.full_name for lead in skipped.only("first_name", "last_name")}
        by_reason: dict[str, list[str]] = {}
        for skip in result["skipped"]:
            by_reason.setdefault(skip["reason"], []).append(names.get(skip["lead"], skip["lead"]))
        for reason, who in by_reason.items():  # one line per reason, however many leads were selected
            shown = ", ".join(who[:5]) + (f" and {len(who) - 5:,} more" if len(who) > 5 else "")
            self.message_user(request, f"Not queued ({len(who):,}): {shown}: {reason}", messages.WARNING)

    @admin.action(description="Export the selected leads to CSV")
    def export_csv(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        if not queryset.exists():
            self.message_user(request, "None of the selected leads is in your gym.", messages.ERROR)
            return None
        header = ["first_name", "last_name", "phone", "email", "status", "source", "tags", "created_at",
                  "do_not_call", "consent_given_at"]
        rows = ([lead.first_name, lead.last_name, lead.phone, lead.email, lead.status, lead.source,
                 ",".join(tag.name for tag in lead.tags.all()), timezone.localtime(lead.created_at).isoformat(),
                 lead.do_not_call, lead.consent_given_at.isoformat() if lead.consent_given_at else ""]
                for lead in queryset.order_by("-created_at", "-id").iterator(chunk_size=2000))
        return csv_response("leads.csv", header, rows)

    def get_urls(self) -> list[Any]:
        return [path("import/", self.admin_site.admin_view(self.import_view), name="leads_lead_import"),
                *super().get_urls()]

    def import_view(self, request: HttpRequest) -> Any:
        """Import a CSV: the per-row report on the page (a big file becomes a job, linked from here)."""
        if role_of(request.user) not in MANAGERS:
            raise PermissionDenied("Only owners and managers import leads.")
        form = LeadImportForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            report = self.run_import(request, form)
            if isinstance(report, HttpResponse):
                return report
        context = {**self.admin_site.each_context(request), "title": "Import leads", "form": form,
                   "report": report, "opts": self.model._meta}
        return TemplateResponse(request, "workspace/lead_import.html", context)

    def run_import(self, request: HttpRequest, form: LeadImportForm) -> Any:
        """The API's import (leads.tasks.import_upload): the report, or the page of the job a big file became."""
        try:
            with transaction.atomic():
                report, job = import_upload(gym=gym_id_of_request(request), upload=form.cleaned_data["file"],
                                            on_duplicate=form.cleaned_data["on_duplicate"],
                                            created_by=member_of(request))
        except ValidationError as error:
            form.add_error("file", error.messages)
            return None
        if job is None:
            return report
        self.message_user(request, f"{job.rows_total:,} rows: importing in the background.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("workspace:leads_leadimport_change", args=[job.pk]))


@admin.register(LeadTag, site=site)
class LeadTagAdmin(WorkspaceAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)
    ordering = ("name",)


@admin.register(LeadImport, site=site)
class LeadImportAdmin(WorkspaceAdmin):
    """The gym's import jobs, newest first: their progress and per-row report (a worker writes them)."""

    view_roles = write_roles = MANAGERS
    list_display = ("source_name", "status", "rows_processed", "rows_total", "created_count", "error_count",
                    "started")
    ordering = ("-created_at",)
    fields = ("source_name", "status", "rows_processed", "rows_total", "created_count", "updated_count",
              "skipped_count", "error_count", "report", "created_at", "finished_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("text")

    @admin.display(description="started", ordering="created_at")
    def started(self, job: LeadImport) -> str:
        return local(job.created_at)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---------------------------------------------------------------------------------------------------- calls

@admin.register(Campaign, site=site)
class CampaignAdmin(WorkspaceAdmin):
    list_display = ("name", "status", "starts_on", "ends_on")
    list_filter = ("status",)
    search_fields = ("name",)
    ordering = ("-created_at",)


@admin.register(CallLog, site=site)
class CallLogAdmin(WorkspaceAdmin):
    """Calls, newest first; the AI agent's are written by the voice platform, so the pages only read."""

    write_roles = NOBODY
    list_display = ("started", "lead_name", "status", "outcome", "length", "is_ai_call", "campaign")
    list_filter = (CallWhen, "status", "outcome", "is_ai_call", "campaign")
    list_select_related = ("lead", "campaign")
    search_fields = ("lead__first_name",)
    search_help_text = "The lead's name, email or phone in any format, or the platform's call id."
    ordering = ("-start_time", "-id")
    list_per_page = 50
    change_form_template = "workspace/call_change_form.html"

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        leads = leads_matching(request, Lead.objects.for_gym(gym_id_of_request(request)), term).values("pk")
        return queryset.filter(Q(lead__in=leads) | Q(retell_call_id=term)), False

    @admin.display(description="started", ordering="start_time")
    def started(self, call: CallLog) -> str:
        return local(call.start_time)

    @admin.display(description="lead", ordering="lead__last_name")
    def lead_name(self, call: CallLog) -> str:
        return call.lead.full_name

    @admin.display(description="length", ordering="duration")
    def length(self, call: CallLog) -> str:
        return f"{call.duration // 60}:{call.duration % 60:02d}" if call.duration is not None else "—"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> Any:
        call = self.get_object(request, object_id)
        context = {"call": call, "conversation": figures.conversation(call), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[Any]:
        return [path("<path:object_id>/recording/", self.admin_site.admin_view(self.recording),
                     name="calls_calllog_recording"), *super().get_urls()]

    def recording(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The call's recording, at a fresh link from the voice platform (its links are signed and expire)."""
        call = self.get_object(request, object_id)
        url = call.recording_url
        if call.retell_call_id:
            try:
                url = refresh_recording(call)
            except PlatformError as error:  # down or refusing: said on the call's page, its details in the log
                logger.warning("Voice platform: the recording of %s could not be fetched: %s", call.pk, error)
                url = ""
        if not url:
            self.message_user(request, "The voice platform did not give the recording: try again later.",
                              messages.ERROR)
            return HttpResponseRedirect(reverse("workspace:calls_calllog_change", args=[call.pk]))
        return HttpResponseRedirect(url)


# --------------------------------------------------------------------------------------------- appointments

class WithStaffMember(GymChoiceFilter):
    title = "staff"
    parameter_name = "staff"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return staff_choices(request)

    def queryset(self, request: Any, queryset: Any) -> Any:
        return queryset.filter(staff_id=self.value()) if self.value() else queryset


@admin.register(Appointment, site=site)
class AppointmentAdmin(StatusTransitionAdminMixin, WorkspaceAdmin):
    status_transitions = APPOINTMENT_TRANSITIONS
    view_roles = write_roles = EVERYONE
    list_display = ("when", "title", "lead_name", "staff_name", "status")
    list_filter = (When, "status", WithStaffMember)
    list_select_related = ("lead", "staff")
    search_fields = ("title",)
    search_help_text = "The lead's name, email or phone, or the title."
    autocomplete_fields = ("lead",)
    fields = ("lead", "title", "scheduled_time", "end_time", "staff", "branch", "status", "description")
    list_per_page = 50

    def get_ordering(self, request: HttpRequest) -> Any:
        return When.ordering(request)

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        leads = leads_matching(request, Lead.objects.for_gym(gym_id_of_request(request)), term).values("pk")
        return queryset.filter(Q(lead__in=leads) | Q(title__icontains=term)), False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        delete_appointment(gym=gym_id_of_request(request), appointment_id=obj.pk)

    @admin.display(description="when", ordering="scheduled_time")
    def when(self, appointment: Appointment) -> str:
        end = timezone.localtime(appointment.end_time).strftime("%H:%M") if appointment.end_time else ""
        return f"{local(appointment.scheduled_time)}–{end}"

    @admin.display(description="lead", ordering="lead__last_name")
    def lead_name(self, appointment: Appointment) -> str:
        return appointment.lead.full_name

    @admin.display(description="staff", ordering="staff__first_name")
    def staff_name(self, appointment: Appointment) -> str:
        return appointment.staff.get_full_name() if appointment.staff else "—"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        # Active staff to book, and whoever has this appointment already: a deactivated trainer's booking
        # keeps them when its title is edited (the select had no such choice and saved nobody).
        keep = Q(is_active=True) | Q(pk=obj.staff_id) if obj is not None and obj.staff_id else Q(is_active=True)
        staff = form_class.base_fields.get("staff")
        if staff is not None:
            staff.queryset = User.objects.for_gym(gym_id_of_request(request)).filter(keep)
        return form_class

    def write(self, request: HttpRequest, form: Any, change: bool) -> Any:
        gym_id = gym_id_of_request(request)
        data = self.form_data(form, change)
        if not change:
            data.pop("status", None)
            return book_appointment(gym=gym_id, **data)
        status = data.pop("status", None)
        appointment = form.instance
        if data:
            appointment = update_appointment(gym=gym_id, appointment_id=appointment.pk, data=data)
        if status is not None:
            appointment = update_appointment_status(gym=gym_id, appointment_id=appointment.pk, status=status)
        return appointment


# ------------------------------------------------------------------------------------- the gym and its staff

class StaffForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, required=False, strip=False,
                               help_text="For a new staff member: the password they sign in with.")

    class Meta:
        model = User
        fields = ["email", "first_name", "last_name", "role", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "role" in self.fields:
            self.fields["role"].required = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:  # the API's rules (its UserSerializer)
            candidate = User(email=cleaned.get("email", ""), first_name=cleaned.get("first_name", ""),
                             last_name=cleaned.get("last_name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except ValidationError as error:
                self.add_error("password", error)
        return cleaned


@admin.register(User, site=site)
class StaffAdmin(WorkspaceAdmin):
    """The gym's staff (owners and managers); deleting deactivates, so their history stays."""

    view_roles = write_roles = MANAGERS
    form = StaffForm
    list_display = ("email", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active")
    list_select_related = ("role",)
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["email", "first_name", "last_name", "role", "is_active"]
        return fields if obj is not None else [*fields, "password"]

    delete_confirmation_template = "workspace/staff_deactivate.html"
    delete_selected_confirmation_template = "workspace/staff_deactivate.html"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role":  # only an owner makes an owner (accounts.services)
            roles = Role.objects.all()
            kwargs["queryset"] = roles if role_of(request.user) == OWNER else roles.exclude(name=OWNER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            function, name, _ = actions["delete_selected"]  # type: ignore[misc]
            actions["delete_selected"] = (function, name, "Deactivate the selected staff members")
        return actions

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        if object_id == str(member_of(request).pk):
            self.message_user(request, "You cannot deactivate yourself: ask another owner or manager.",
                              messages.ERROR)
            return HttpResponseRedirect(reverse("workspace:accounts_user_change", args=[object_id]))
        return super().delete_view(request, object_id, extra_context)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> Any:
        self.message_user(request, f"{obj_display} is deactivated: they can no longer sign in.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("workspace:accounts_user_changelist"))

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        me = member_of(request).pk
        if queryset.filter(pk=me).exists():
            self.message_user(request, "You cannot deactivate yourself; the others are deactivated.",
                              messages.WARNING)
        for user in queryset.exclude(pk=me):
            self.delete_model(request, user)

    def write(self, request: HttpRequest, form: Any, change: bool) -> Any:
        gym_id = gym_id_of_request(request)
        data = self.form_data(form, change)
        if not change:
            password = form.cleaned_data.get("password")
            if not password:
                raise ValidationError({"password": "Give the new staff member a password."})
            return create_staff_user(gym=gym_id, actor=member_of(request), data={**data, "password": password})
        return update_staff_user(gym=gym_id, actor=member_of(request), user_id=form.instance.pk, data=data)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list[str], dict[str, int], set[str],
                                                                            list[str]]:
        # Nothing is deleted (the staff member is deactivated), so there is nothing related to list; Django's
        # walk of the related rows would also read the admin log, which the application role may not.
        people = [str(user) for user in objs]
        return people, {"staff members (deactivated, not deleted)": len(people)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        deactivate_staff_user(gym=gym_id_of_request(request), actor=member_of(request), user_id=obj.pk)


class OneRowAdmin(WorkspaceAdmin):
    """A gym's one row of settings: its list opens the row."""

    view_roles = write_roles = MANAGERS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = self.get_queryset(request).first()
        if row is None:
            raise Http404("This gym has no such settings.")
        opts = self.model._meta
        return HttpResponseRedirect(reverse(f"workspace:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))


@admin.register(GymSettings, site=site)
class GymSettingsAdmin(OneRowAdmin):
    pass


@admin.register(AISettings, site=site)
class AISettingsAdmin(OneRowAdmin):
    pass


@admin.register(VoiceSettings, site=site)
class VoiceSettingsAdmin(OneRowAdmin):
    # The gym's own voice-platform key also checks the platform's webhook signatures: like the API, the
    # workspace never shows it (platform staff set it in /admin/).
    exclude = ("gym", "platform_api_key")


@admin.register(KnowledgeBaseEntry, site=site)
class KnowledgeBaseEntryAdmin(WorkspaceAdmin):
    list_display = ("title", "category", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("title", "content")
    ordering = ("category", "title")


@admin.register(Branch, site=site)
class BranchAdmin(WorkspaceAdmin):
    view_roles = EVERYONE
    list_display = ("name", "city", "phone")
    search_fields = ("name", "city")
    ordering = ("name",)


@admin.register(Gym, site=site)
class GymAdmin(OneRowAdmin):
    """The gym itself: its name, contact details, time zone (owners and managers, as in the API)."""

    exclude = ()
    fields = ("name", "description", "email", "phone", "website", "timezone", "country_code")

    def get_queryset(self, request: HttpRequest) -> Any:
        return Gym.objects.filter(pk=gym_id_of_request(request))

    def write(self, request: HttpRequest, form: Any, change: bool) -> Any:
        return update_gym(gym=gym_id_of_request(request), data=self.form_data(form, change))


@admin.register(Notification, site=site)
class NotificationAdmin(WorkspaceAdmin):
    """The emails and texts sent to leads, and those still to go (the worker writes them)."""

    write_roles = NOBODY
    view_roles = EVERYONE
    list_display = ("send_at", "kind", "channel", "status", "to", "lead")
    list_filter = ("status", "channel", "kind")
    list_select_related = ("lead",)
    ordering = ("-send_at",)

import io
import random

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from accounts.tests.factories import RoleFactory, UserFactory
from gyms.tests.factories import GymFactory
from leads.imports import MAX_TAGS, import_leads
from leads.models import Lead, LeadTag
from leads.tests.factories import LeadFactory
from reps.tenancy.database import gym_scope

pytestmark = pytest.mark.django_db


def leads(gym):
    return Lead.objects.for_gym(gym)


def test_common_column_names_are_understood(gym):
    text = ("Full Name;Mobile;E-mail;Lead Source;Tags;Comments;Consent\n"
            "Jane Doe;(212) 555-0101;JANE@EXAMPLE.COM;Instagram;vip, Morning;Wants classes;yes\n")

    report = import_leads(gym=gym, text=text)

    assert report.as_dict() == {"rows": 1, "created": 1, "updated": 0, "skipped": 0, "errors": [], "complete": True}
    lead = leads(gym).get()
    assert (lead.first_name, lead.last_name, lead.phone, lead.email) == ("Jane", "Doe", "+12125550101",
                                                                         "jane@example.com")
    assert (lead.source, lead.notes, lead.consent_source) == ("Instagram", "Wants classes", "import: upload")
    assert lead.consent_given_at is not None
    with gym_scope(gym):
        assert sorted(lead.tags.values_list("name", flat=True)) == ["Morning", "vip"]


def test_bad_rows_are_reported_by_line_and_the_rest_imported(gym):
    text = ("first_name,last_name,phone,email\n"
            "Ann,Lee,212-555-0102,ann@example.com\n"
            ",Nobody,212-555-0103,\n"
            "Bob,Ray,12,\n"
            "Cy,Fox,212-555-0104,not-an-email\n"
            "Di,Ng,212-555-0105,\n")

    report = import_leads(gym=gym, text=text)

    assert (report.created, report.skipped) == (2, 0)
    assert [(error["line"], sorted(error["errors"])) for error in report.errors] == [
        (3, ["first_name"]), (4, ["phone"]), (5, ["email"])]
    assert "12 is not a valid phone number for US" in report.errors[1]["errors"]["phone"][0]


def test_duplicates_by_phone_or_email_are_skipped_or_updated(gym, other_gym):
    LeadFactory(gym=gym, phone="+12125550101", first_name="Old", email="old@example.com", source="")
    LeadFactory(gym=gym, phone="+12125550199", email="Known@Example.com")
    LeadFactory(gym=other_gym, phone="+12125550102")  # another gym's lead is no duplicate
    text = ("name,phone,email,source\n"
            "New Name,212 555 0101,,web\n"
            "Someone,212 555 0150,known@example.com,\n"
            "Fresh,212 555 0102,,\n"
            "Fresh Again,+1 212 555 0102,,\n")

    skipped = import_leads(gym=gym, text=text)
    assert (skipped.created, skipped.skipped) == (1, 3)
    assert leads(gym).get(phone="+12125550101").first_name == "Old"

    updated = import_leads(gym=gym, text=text, on_duplicate="update")
    assert (updated.created, updated.updated, updated.skipped) == (0, 3, 1)
    renamed = leads(gym).get(phone="+12125550101")
    assert (renamed.first_name, renamed.last_name, renamed.source) == ("New", "Name", "web")
    assert leads(other_gym).count() == 1


def test_running_the_same_file_twice_changes_nothing(gym):
    text = "first name,last name,phone,tags\nA,B,212-555-0101,x\nC,D,212-555-0102,x;y\n"
    import_leads(gym=gym, text=text)

    again = import_leads(gym=gym, text=text)

    assert (again.created, again.skipped) == (0, 2)
    assert leads(gym).count() == 2 and LeadTag.objects.for_gym(gym).count() == 2


def test_a_file_without_phone_or_name_columns_is_refused(gym):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="needs a phone column"):
        import_leads(gym=gym, text="first name,email\nA,a@b.c\n")
    with pytest.raises(ValidationError, match="first name or a full name"):
        import_leads(gym=gym, text="phone,email\n2125550101,a@b.c\n")


def ten_thousand_rows(bad_every=97):
    rng = random.Random(10)
    lines = ["First Name,Last Name,Phone,Email,Source,Tags"]
    bad = []
    for n in range(10_000):
        line = n + 2
        if n % bad_every == 0:
            lines.append(f"Bad{n},Row,not-a-phone,,web,")
            bad.append(line)
        else:
            lines.append(f"First{n},Last{n},212-555-{n:04d},lead{n}@example.com,"
                         f"{rng.choice(['web', 'referral'])},{rng.choice(['hot', 'cold', ''])}")
    return "\n".join(lines) + "\n", bad


def test_ten_thousand_rows_with_bad_ones_mixed_in(gym):
    text, bad_lines = ten_thousand_rows()

    report = import_leads(gym=gym, text=text)

    assert report.rows == 10_000
    assert [error["line"] for error in report.errors] == bad_lines
    assert report.created == 10_000 - len(bad_lines) == leads(gym).count()


def test_the_command_imports_with_a_progress_bar_and_a_report(gym, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("name,phone\nJo Lee,212-555-0101\nBad,1\n")
    out = io.StringIO()

    call_command("import_leads", str(path), gym=str(gym.pk), report=str(tmp_path / "report.json"), stdout=out)

    assert "2 rows: 1 created, 0 updated, 0 duplicates skipped, 1 with errors." in out.getvalue()
    assert "line 3: phone:" in out.getvalue()
    assert leads(gym).get().phone == "+12125550101"


def test_the_upload_endpoint_is_for_owners_and_managers(api_client_for, gym):
    def upload(role, content=b"name,phone\nJo Lee,212-555-0101\n"):
        client = api_client_for(UserFactory(gym=gym, role=RoleFactory(name=role)))
        return client.post("/api/v1/leads/import/", {"file": SimpleUploadedFile("leads.csv", content),
                                                     "on_duplicate": "skip"}, format="multipart")

    assert upload("sales").status_code == 403
    response = upload("manager")
    assert response.status_code == 200 and response.json()["created"] == 1
    assert upload("owner", b"\xff\xfe garbage").status_code == 400
    refused = upload("owner", b"email\nx@y.z\n")
    assert refused.status_code == 400 and "phone column" in refused.json()["errors"]["non_field_errors"][0]


def test_an_unreadable_file_is_a_400_not_a_500(api_client_for, gym):
    client = api_client_for(UserFactory(gym=gym, role=RoleFactory(name="owner")))
    content = b'name,phone\n"' + b"x" * 200_000 + b'",212-555-0101\n'

    response = client.post("/api/v1/leads/import/", {"file": SimpleUploadedFile("leads.csv", content)},
                           format="multipart")

    assert response.status_code == 400
    assert "cannot be read" in response.json()["errors"]["non_field_errors"][0]


def test_a_london_gym_reads_national_numbers_as_british():
    london = GymFactory(country_code="GB", timezone="Europe/London")

    import_leads(gym=london, text="name,phone\nAmy Pond,020 7946 0958\n")

    assert leads(london).get().phone == "+442079460958"


def test_a_row_with_more_tags_than_a_lead_has_is_a_bad_row(gym):
    tags = ";".join(f"tag {n}" for n in range(MAX_TAGS + 1))
    text = f"name,phone,tags\nAnn Lee,212-555-0102,{tags}\nBob Ray,212-555-0103,{tags.rsplit(';', 1)[0]}\n"

    report = import_leads(gym=gym, text=text)

    assert report.created == 1 and report.errors == [
        {"line": 2, "errors": {"tags": [f"At most {MAX_TAGS} tags for one lead; this row has {MAX_TAGS + 1}."]}}]


def test_a_file_of_thousands_of_columns_is_refused_at_once(gym):
    header = ",".join(["name", "phone", *(f"extra {n}" for n in range(100_000))])

    with pytest.raises(ValidationError, match="100,002 columns"):
        import_leads(gym=gym, text=f"{header}\nAnn Lee,212-555-0102\n")
    assert not leads(gym).exists()

"""Generate a platform's worth of realistic data, fast, for benchmarks.

By default: 200 gyms, 1,000,000 leads and 5,000,000 calls, the largest gym
with 100,000 leads and 1,000,000 calls; qualifications for half the leads,
tags, transcripts for a tenth of the calls, and appointments. Rows are made
by PostgreSQL itself (INSERT ... SELECT over generate_series, one statement
per table and gym), so nothing crosses the wire row by row. Values come from
hashes of the row number, so every run with the same --seed makes the same
data. Generated gyms are named "Generated gym N"; running again replaces them.
"""

import logging
import uuid

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from tqdm import tqdm

from accounts.models import Role, User
from gyms.models import Gym
from gyms.services import create_gym
from leads.models import Lead
from reps.tenancy.state import all_gyms

NAMESPACE = uuid.UUID("8c1f4b5e-1d0b-4a57-9a6b-3f1c2d4e5f60")
FIRST_NAMES = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
               "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
               "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Margaret", "Donald", "Sandra",
               "Steven", "Ashley", "Paul", "Kimberly", "Andrew", "Emily", "Joshua", "Donna", "Kenneth", "Michelle",
               "Kevin", "Carol", "Brian", "Amanda", "George", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
              "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
              "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
              "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
              "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts"]
AREA_CODES = ["212", "312", "415", "213", "305", "617", "206", "512", "303", "404", "602", "702", "615", "503",
              "619", "714", "818", "646", "718", "917"]  # 20 areas x 10,000 numbers: 200,000 per gym


def sql_array(values):
    return "ARRAY[" + ",".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


class Command(BaseCommand):
    help = "Generate benchmark data (see --help for the sizes; the defaults are a 200-gym platform)."

    def add_arguments(self, parser):
        parser.add_argument("--gyms", type=int, default=200)
        parser.add_argument("--leads", type=int, default=1_000_000, help="Leads in all.")
        parser.add_argument("--calls", type=int, default=5_000_000, help="Calls in all.")
        parser.add_argument("--largest-leads", type=int, default=100_000)
        parser.add_argument("--largest-calls", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--if-missing", action="store_true",
                            help="Do nothing when data of these sizes was generated already.")

    def handle(self, *args, gyms, leads, calls, largest_leads, largest_calls, seed, if_missing, **options):
        sizes = self.sizes(gyms, leads, calls, largest_leads, largest_calls)
        if if_missing and self.present(sizes, seed):
            self.stdout.write("The generated data is there already.")
            return
        # Bulk statements are slow on purpose here: keep them out of the slow-query log.
        logging.getLogger("reps.sql").setLevel(logging.ERROR)
        with all_gyms():
            self.remove_generated()
            gym_rows = self.make_gyms(sizes, seed)
            steps = [("leads", self.leads), ("qualifications", self.qualifications), ("tags", self.tags),
                     ("calls", self.calls), ("transcripts", self.transcripts), ("appointments", self.appointments)]
            with tqdm(total=len(steps) * len(gym_rows), unit="steps", desc="Generating", disable=None) as bar:
                for name, step in steps:
                    bar.set_postfix_str(name)
                    for gym in gym_rows:
                        with transaction.atomic():
                            step(gym, seed)
                        bar.update()
        with connection.cursor() as cursor:
            # Statistics for the planner, and a visibility map so that index-only scans stay index-only.
            cursor.execute("VACUUM ANALYZE")
        total_leads = sum(size[0] for size in sizes)
        total_calls = sum(size[1] for size in sizes)
        self.stdout.write(f"Generated {len(sizes)} gyms, {total_leads:,} leads, {total_calls:,} calls; "
                          f"the largest: {sizes[0][0]:,} leads, {sizes[0][1]:,} calls ({gym_rows[0]['id']}).")

    @staticmethod
    def present(sizes, seed):
        largest = Gym.objects.filter(pk=uuid.uuid5(NAMESPACE, f"{seed}-0")).first()
        with all_gyms():
            return (largest is not None and Gym.objects.filter(name__startswith="Generated gym ").count() == len(sizes)
                    and Lead.objects.for_gym(largest).count() == sizes[0][0])

    @staticmethod
    def sizes(gyms, leads, calls, largest_leads, largest_calls):
        largest_leads, largest_calls = min(largest_leads, leads), min(largest_calls, calls)
        others = max(gyms - 1, 1)
        rest_leads = max(leads - largest_leads, 0) // others
        rest_calls = max(calls - largest_calls, 0) // others
        return [(largest_leads, largest_calls)] + [(rest_leads, rest_calls)] * (gyms - 1)

    def remove_generated(self):
        generated = list(Gym.objects.filter(name__startswith="Generated gym ").values_list("pk", flat=True))
        if generated:
            self.stdout.write(f"Removing {len(generated)} generated gyms from an earlier run ...")
            with connection.cursor() as cursor:
                # Children first; one statement per table is far faster than Django's cascade collector here.
                for table in ["appointments_appointment", "calls_calltranscript", "calls_calllog", "calls_campaign",
                              "leads_leadtagassignment", "leads_leadqualification", "leads_leadtag", "leads_lead",
                              "gyms_branch", "gyms_knowledgebaseentry", "core_outboxmessage"]:
                    cursor.execute(f"DELETE FROM {table} WHERE gym_id = ANY(%s)", [generated])
            Gym.objects.filter(pk__in=generated).delete()

    def make_gyms(self, sizes, seed):
        rows, (sales, _) = [], Role.objects.get_or_create(name="sales")
        for index, (lead_count, call_count) in enumerate(sizes):
            gym = create_gym(id=uuid.uuid5(NAMESPACE, f"{seed}-{index}"), name=f"Generated gym {index:03d}",
                             timezone=["America/New_York", "America/Chicago", "America/Los_Angeles"][index % 3],
                             phone=f"+1212555{index:04d}")
            staff = User.objects.create_user(f"sales{index}@generated.test", None, gym=gym, role=sales)
            rows.append({"id": gym.pk, "index": index, "leads": lead_count, "calls": call_count, "staff": staff.pk})
        return rows

    @staticmethod
    def run(sql, params):
        with connection.cursor() as cursor:
            # " % " is SQL's modulo; with bound parameters it must be written "%%".
            cursor.execute(sql.replace(" % ", " %% "), params)

    # Deterministic pseudo-random numbers: h(label, n) is a hash of the seed, the row and a label.
    H = "abs(hashtext(%(seed)s || ':' || {label} || ':' || {n}))"

    def h(self, label, n="s"):
        return self.H.format(label=f"'{label}'", n=n)

    def leads(self, gym, seed):
        first, last, areas = sql_array(FIRST_NAMES), sql_array(LAST_NAMES), sql_array(AREA_CODES)
        self.run(f"""
            INSERT INTO leads_lead (id, gym_id, first_name, last_name, email, phone, status, source, notes,
                                    engagement_score, do_not_call, consent_given_at, consent_source,
                                    created_at, updated_at)
            SELECT md5(%(gym)s || ':lead:' || s)::uuid, %(gym)s::uuid,
                   ({first})[1 + {self.h('first')} % {len(FIRST_NAMES)}],
                   ({last})[1 + {self.h('last')} % {len(LAST_NAMES)}],
                   lower(({first})[1 + {self.h('first')} % {len(FIRST_NAMES)}]) || '.' ||
                       lower(({last})[1 + {self.h('last')} % {len(LAST_NAMES)}]) || s || '@example.com',
                   '+1' || ({areas})[1 + (s / 10000) % {len(AREA_CODES)}] || '555' || lpad((s % 10000)::text, 4, '0'),
                   (ARRAY['new','new','new','new','contacted','contacted','contacted','qualified','qualified',
                          'converted','lost'])[1 + {self.h('status')} % 11],
                   (ARRAY['website','facebook','instagram','referral','walk-in','google ads'])[1 + {self.h('src')} % 6],
                   '', {self.h('engagement')} % 101, false,
                   CASE WHEN {self.h('consent')} % 10 < 8 THEN now() END, 'generated',
                   now() - ({self.h('age')} % (730 * 86400)) * interval '1 second', now()
            FROM generate_series(0, %(count)s - 1) AS s
        """, {"gym": str(gym["id"]), "count": gym["leads"], "seed": str(seed)})

    def qualifications(self, gym, seed):
        self.run(f"""
            INSERT INTO leads_leadqualification (id, gym_id, lead_id, score, interest_level, fitness_goals, budget,
                                                 timeline, notes, created_at, updated_at)
            SELECT md5(%(gym)s || ':qual:' || s)::uuid, %(gym)s::uuid, md5(%(gym)s || ':lead:' || s)::uuid,
                   {self.h('score')} % 101, (ARRAY['low','medium','high'])[1 + {self.h('interest')} % 3],
                   'get stronger', '', '', '', now(), now()
            FROM generate_series(0, %(count)s - 1) AS s
            WHERE s % 2 = 0
        """, {"gym": str(gym["id"]), "count": gym["leads"], "seed": str(seed)})

    def tags(self, gym, seed):
        self.run("""
            INSERT INTO leads_leadtag (id, gym_id, name, color, created_at, updated_at)
            SELECT md5(%(gym)s || ':tag:' || t)::uuid, %(gym)s::uuid, 'tag ' || t, '#6B7280', now(), now()
            FROM generate_series(0, 9) AS t
        """, {"gym": str(gym["id"])})
        self.run(f"""
            INSERT INTO leads_leadtagassignment (id, gym_id, lead_id, tag_id, created_at, updated_at)
            SELECT md5(%(gym)s || ':assign:' || s)::uuid, %(gym)s::uuid, md5(%(gym)s || ':lead:' || s)::uuid,
                   md5(%(gym)s || ':tag:' || ({self.h('tag')} % 10))::uuid, now(), now()
            FROM generate_series(0, %(count)s - 1) AS s
            WHERE s % 3 <> 0
        """, {"gym": str(gym["id"]), "count": gym["leads"], "seed": str(seed)})

    def calls(self, gym, seed):
        if not gym["leads"]:
            return
        self.run(f"""
            INSERT INTO calls_calllog (id, gym_id, lead_id, start_time, end_time, duration, status, outcome, notes,
                                       is_ai_call, retell_call_id, direction, from_number, to_number,
                                       disconnection_reason, recording_url, summary, sentiment, analysis,
                                       created_at, updated_at)
            SELECT md5(%(gym)s || ':call:' || s)::uuid, %(gym)s::uuid,
                   md5(%(gym)s || ':lead:' || ({self.h('lead')} % %(leads)s))::uuid,
                   c.start_time,
                   CASE WHEN c.status = 'completed' THEN c.start_time + c.duration * interval '1 second' END,
                   CASE WHEN c.status = 'completed' THEN c.duration END,
                   c.status,
                   CASE c.status WHEN 'completed' THEN (ARRAY['appointment_booked','follow_up_needed',
                        'not_interested','wrong_number','voicemail','other'])[1 + {self.h('outcome')} % 6]
                        WHEN 'no_answer' THEN 'no_answer' ELSE '' END,
                   '', true, NULL, 'outbound', '', '', '', '', '', '', '{{}}'::jsonb, c.start_time, c.start_time
            FROM generate_series(0, %(count)s - 1) AS s,
                 LATERAL (SELECT
                     CASE WHEN {self.h('future')} % 100 = 0 THEN 'scheduled'
                          ELSE (ARRAY['completed','completed','completed','no_answer','failed'])[1 + {self.h('st')} % 5]
                     END AS status,
                     CASE WHEN {self.h('future')} % 100 = 0
                          THEN now() + ({self.h('ahead')} % (14 * 86400)) * interval '1 second'
                          ELSE now() - ({self.h('ago')} % (365 * 86400)) * interval '1 second'
                     END AS start_time,
                     30 + {self.h('duration')} % 600 AS duration) AS c
        """, {"gym": str(gym["id"]), "count": gym["calls"], "leads": gym["leads"], "seed": str(seed)})

    def transcripts(self, gym, seed):
        self.run("""
            INSERT INTO calls_calltranscript (id, gym_id, call_id, content, utterances, created_at, updated_at)
            SELECT md5(%(gym)s || ':transcript:' || s)::uuid, %(gym)s::uuid, md5(%(gym)s || ':call:' || s)::uuid,
                   'Agent: Hi, this is Alex from the gym. Is now a good time?' || chr(10) ||
                   'User: Sure, I filled in the form on your website.',
                   '[{"role": "agent", "content": "Hi, this is Alex from the gym."},
                     {"role": "user", "content": "Sure, I filled in the form."}]'::jsonb, now(), now()
            FROM generate_series(0, %(count)s - 1) AS s
            JOIN calls_calllog AS call ON call.id = md5(%(gym)s || ':call:' || s)::uuid AND call.status = 'completed'
            WHERE s % 10 = 0
        """, {"gym": str(gym["id"]), "count": gym["calls"]})

    def appointments(self, gym, seed):
        # One in five leads; one staff member, one-hour slots, so active appointments never overlap.
        count = gym["leads"] // 5
        if not count:
            return
        self.run(f"""
            INSERT INTO appointments_appointment (id, gym_id, lead_id, staff_id, branch_id, call_id, scheduled_time,
                                                  end_time, title, description, status, created_at, updated_at)
            SELECT md5(%(gym)s || ':appointment:' || s)::uuid, %(gym)s::uuid,
                   md5(%(gym)s || ':lead:' || (s * 5))::uuid, %(staff)s::uuid, NULL, NULL, a.start,
                   a.start + interval '45 minutes', 'Gym tour', '',
                   CASE WHEN a.start > now()
                        THEN (ARRAY['scheduled','confirmed'])[1 + {self.h('fs')} % 2]
                        ELSE (ARRAY['completed','completed','no_show','cancelled'])[1 + {self.h('ps')} % 4] END,
                   now(), now()
            FROM generate_series(0, %(count)s - 1) AS s,
                 LATERAL (SELECT date_trunc('hour', now()) + (s - %(count)s * 4 / 5) * interval '1 hour' AS start) AS a
        """, {"gym": str(gym["id"]), "count": count, "staff": str(gym["staff"]), "seed": str(seed)})

"""`make bench-jobs`: the job engine's figures, on real worker processes and the real Redis broker.

- Dispatch throughput: N due AI calls in a gym of this run's own, sent by 1 and then 4 worker processes
  (`celery worker --pool=solo` each) to a local fake voice platform in this process; calls per second from
  beat's tick to the last call placed, the median of --runs runs, and the platform's request count (which
  must be N: each call placed once).
- Notification lag: M reminders falling due over a minute, and M bookings, with beat at its production
  interval (SEND_NOTIFICATIONS_EVERY_SECONDS, RELAY_OUTBOX_EVERY_SECONDS) and one worker: how long after its
  time each reminder went (sent_at - send_at), and how long after its booking each confirmation went.

The gym is deleted afterwards. Writes JSON (bench/jobs.json).
"""

import datetime
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from appointments.models import Appointment
from appointments.services import book_appointment
from calls.models import CallLog
from gyms.models import AISettings, Gym, GymSettings
from gyms.services import ensure_gym_settings
from leads.models import Lead
from notifications.models import Notification
from notifications.services import plan_notifications
from reps.celery import app


class FakeVoicePlatform:
    """Answers create-phone-call with a new call id; counts the requests."""

    def __init__(self) -> None:
        self.requests = 0
        self.lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with platform.lock:
                    platform.requests += 1
                    number = platform.requests
                data = json.dumps({"call_id": f"call_bench_{number}", "call_status": "registered"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class Command(BaseCommand):
    help = "Measure call dispatch throughput with 1 and 4 worker processes, and the notifications' lag."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--calls", type=int, default=1000)
        parser.add_argument("--runs", type=int, default=3)
        parser.add_argument("--reminders", type=int, default=200)
        parser.add_argument("--output", default="bench/jobs.json")
        parser.add_argument("--log", default="bench/jobs-workers.log", help="The workers' and beat's output.")
        parser.add_argument("--only-lag", action="store_true", help="Skip the dispatch runs.")

    def handle(self, *args: Any, calls: int, runs: int, reminders: int, output: str, log: str, only_lag: bool,
               **options: Any) -> None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log, "w")  # noqa: SIM115 (open for the command's life)
        self.platform = FakeVoicePlatform()
        self.gym = self.make_gym()
        results: dict[str, Any] = {"calls": calls, "runs": runs, "cores": os.cpu_count()}
        try:
            leads = self.make_leads(max(calls, reminders))
            for workers in () if only_lag else (1, 4):
                rates, requests = [], []
                for _ in range(runs):
                    rate, sent = self.dispatch(leads[:calls], workers)
                    rates.append(rate)
                    requests.append(sent)
                results[f"dispatch_{workers}_workers"] = {"calls_per_second_median": statistics.median(rates),
                                                          "runs": rates, "platform_requests": requests}
                self.stdout.write(f"dispatch, {workers} worker process(es): {statistics.median(rates):.0f} calls/s"
                                  f" (runs {', '.join(f'{rate:.0f}' for rate in rates)}; requests {requests})")
            if not only_lag:
                results["dispatch_ratio_4_to_1"] = (results["dispatch_4_workers"]["calls_per_second_median"]
                                                    / results["dispatch_1_workers"]["calls_per_second_median"])
            results.update(self.notification_lag(leads[:reminders]))
        finally:
            app.control.purge()
            Gym.objects.filter(pk=self.gym.pk).delete()
            self.platform.server.shutdown()
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(results, indent=2, default=str) + "\n")
        self.stdout.write(f"written to {output}")

    def make_gym(self) -> Gym:
        gym = Gym.objects.create(name="Bench: job engine", phone="+12125559999", timezone="America/New_York")
        ensure_gym_settings(gym)
        AISettings.objects.unscoped().filter(gym=gym).update(agent_id="agent_bench", is_enabled=True)
        GymSettings.objects.unscoped().filter(gym=gym).update(
            calling_hours_start=datetime.time(0, 0), calling_hours_end=datetime.time(23, 59, 59),
            quiet_hours_start=datetime.time(0, 0), quiet_hours_end=datetime.time(0, 0), reminder_minutes_before=[120])
        return gym

    def make_leads(self, count: int) -> list[Lead]:
        now = timezone.now()
        return Lead.objects.unscoped().bulk_create([
            Lead(gym=self.gym, first_name="Bench", last_name=str(n), phone=f"+1212556{n:04d}",
                 email=f"bench{n}@example.com", consent_given_at=now, consent_source="bench")
            for n in range(count)])

    def workers(self, count: int, **env: str) -> list[subprocess.Popen[bytes]]:
        database = connection.settings_dict
        environment = {**os.environ, **env, "RETELL_API_BASE": self.platform.url, "RETELL_API_KEY": "bench",
                       "DATABASE_URL": f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}"
                                       f":{database['PORT']}/{database['NAME']}",
                       "SECRET_KEY": settings.SECRET_KEY,
                       "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
                       "SMS_BACKEND": "notifications.sms.LocmemBackend"}
        processes = [subprocess.Popen([str(Path(sys.executable).parent / "celery"), "-A", "reps", "worker",
                                       "--pool=solo", "--without-mingle", "--without-gossip", "--loglevel=WARNING",
                                       "-n", f"bench{n}@%h"], cwd=settings.BASE_DIR, env=environment,
                                      stdout=self.log, stderr=subprocess.STDOUT) for n in range(count)]
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5) or []) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
        return processes

    @staticmethod
    def stop(processes: list[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)

    def dispatch(self, leads: list[Lead], workers: int) -> tuple[float, int]:
        CallLog.objects.unscoped().filter(gym=self.gym).delete()
        due = timezone.now() - datetime.timedelta(minutes=1)
        CallLog.objects.unscoped().bulk_create([CallLog(gym=self.gym, lead=lead, status="scheduled", start_time=due,
                                                        is_ai_call=True) for lead in leads])
        app.control.purge()
        processes = self.workers(workers)
        before = self.platform.requests
        try:
            started = time.monotonic()
            app.send_task("calls.dispatch_due_calls")  # beat's tick
            while CallLog.objects.unscoped().filter(gym=self.gym, retell_call_id__isnull=True).exists():
                time.sleep(0.05)
            seconds = time.monotonic() - started
        finally:
            self.stop(processes)
        return len(leads) / seconds, self.platform.requests - before

    def notification_lag(self, leads: list[Lead]) -> dict[str, Any]:
        """Reminders due over the next minute and bookings now, with beat and one worker at production intervals."""
        CallLog.objects.unscoped().filter(gym=self.gym).delete()
        now = timezone.now()
        for n, lead in enumerate(leads):  # each reminder (two hours before) due within the next minute
            appointment = Appointment.objects.unscoped().create(
                gym=self.gym, lead=lead, title="Bench tour",
                scheduled_time=now + datetime.timedelta(hours=2, seconds=5 + 60 * n / len(leads)))
            plan_notifications(gym=self.gym.pk, message_id=f"bench-{n}", topic="appointment.booked",
                               now=now - datetime.timedelta(hours=1),
                               payload={"appointment_id": str(appointment.pk),
                                        "scheduled_time": appointment.scheduled_time.isoformat()})
        Notification.objects.unscoped().filter(gym=self.gym).exclude(kind="reminder").delete()
        app.control.purge()
        processes = self.workers(1)
        beat = subprocess.Popen([str(Path(sys.executable).parent / "celery"), "-A", "reps", "beat",
                                 "--loglevel=WARNING", "--schedule", f"/tmp/reps-bench-beat-{os.getpid()}"],
                                cwd=settings.BASE_DIR, env={**os.environ, "LOG_LEVEL": "WARNING"},
                                stdout=self.log, stderr=subprocess.STDOUT)
        try:
            booked_at = {}
            for lead in leads[:50]:  # bookings as staff make them: confirmations via the outbox relay
                appointment = book_appointment(gym=self.gym.pk, lead=lead, staff=None, title="Bench booking",
                                               scheduled_time=timezone.now() + datetime.timedelta(days=2))
                booked_at[appointment.pk] = appointment.created_at
            reminders = Notification.objects.unscoped().filter(gym=self.gym, kind="reminder",
                                                               appointment__title="Bench tour")
            confirmations = Notification.objects.unscoped().filter(gym=self.gym, kind="confirmation")
            deadline = time.monotonic() + 180
            while (reminders.exclude(status="sent").exists() or confirmations.filter(status="sent").count()
                   < 2 * len(booked_at)):
                if time.monotonic() > deadline:
                    states = Counter(Notification.objects.unscoped().filter(gym=self.gym).values_list("kind", "status"))
                    raise RuntimeError(f"the notifications were not all sent in three minutes: {dict(states)}")
                time.sleep(0.5)
        finally:
            beat.terminate()
            beat.wait(30)
            self.stop(processes)
        reminder_lag = [(row.sent_at - row.send_at).total_seconds() for row in reminders]
        confirmation_lag = [(row.sent_at - booked_at[row.appointment_id]).total_seconds() for row in confirmations]
        figures = {
            "reminder_lag_seconds": {"count": len(reminder_lag), "median": statistics.median(reminder_lag),
                                     "p95": percentile(reminder_lag, 0.95), "max": max(reminder_lag)},
            "confirmation_lag_seconds": {"count": len(confirmation_lag), "median": statistics.median(confirmation_lag),
                                         "p95": percentile(confirmation_lag, 0.95), "max": max(confirmation_lag)},
            "beat_intervals_seconds": {"send_notifications": settings.SEND_NOTIFICATIONS_EVERY_SECONDS,
                                       "relay_outbox": settings.RELAY_OUTBOX_EVERY_SECONDS},
        }
        for name in ("reminder_lag_seconds", "confirmation_lag_seconds"):
            figure = figures[name]
            self.stdout.write(f"{name}: median {figure['median']:.1f}, p95 {figure['p95']:.1f}, max {figure['max']:.1f}"
                              f" ({figure['count']} notifications)")
        return figures

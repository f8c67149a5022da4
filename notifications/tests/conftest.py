import base64
import email.utils
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import sms

ACCOUNT, TOKEN = "AC" + "1" * 32, "twilio-test-token"
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


class FakeTwilio:
    """A local HTTP server standing in for Twilio's Messages API: it keeps every message it accepts.

    POST sends (201 with the message, as Twilio answers), unless `responses` holds (status, body) answers to
    give first; `hang_after_accepting` > 0 makes that many next sends keep the message and then not answer
    for a minute, as does the `hang_at`-th send (1 is the first), which sets `hanging` (the worker waiting
    on it may be killed). Numbers in `unsubscribed` are refused with
    21610, as Twilio refuses a recipient who replied STOP. GET lists the messages to To from From, newest
    first; like Twilio's, a message still queued has no date_sent.
    """

    def __init__(self):
        self.requests, self.messages, self.responses, self.unsubscribed = [], [], [], set()
        self.hang_after_accepting, self.hang_at, self.hanging = 0, 0, threading.Event()
        self.lock = threading.Lock()
        twilio = self

        class Handler(BaseHTTPRequestHandler):
            def authorized(self):
                expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
                return self.headers.get("Authorization") == expected

            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                with twilio.lock:
                    twilio.requests.append({"method": "POST", "path": self.path, "form": form,
                                            "headers": dict(self.headers)})
                    forced = twilio.responses.pop(0) if twilio.responses else None
                    hang = twilio.hang_after_accepting > 0
                    twilio.hang_after_accepting -= hang
                if not self.authorized():
                    return self.answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if self.path != MESSAGES:
                    return self.answer(404, {"code": 20404, "message": "Not found", "status": 404})
                if forced is not None:
                    return self.answer(*forced)
                if form.get("To") in twilio.unsubscribed:
                    return self.answer(400, {"code": 21610, "status": 400,
                                             "message": "Attempt to send to unsubscribed recipient"})
                with twilio.lock:
                    message = {"sid": f"SM{len(twilio.messages) + 1:032d}", "to": form["To"], "from": form["From"],
                               "body": form["Body"], "status": "queued", "date_sent": None,
                               "date_created": email.utils.formatdate(usegmt=True)}
                    twilio.messages.append(message)
                    hang = hang or len(twilio.messages) == twilio.hang_at
                if hang:
                    twilio.hanging.set()
                    time.sleep(60)
                self.answer(201, message)

            def do_GET(self):
                path, _, query = self.path.partition("?")
                params = dict(urllib.parse.parse_qsl(query))
                twilio.requests.append({"method": "GET", "path": path, "query": params, "headers": dict(self.headers)})
                if not self.authorized():
                    return self.answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                found = [message for message in reversed(twilio.messages)
                         if message["to"] == params.get("To", message["to"])
                         and message["from"] == params.get("From", message["from"])]
                self.answer(200, {"messages": found, "next_page_uri": None, "page": 0,
                                  "page_size": int(params.get("PageSize", 50))})

            def answer(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sent(self):
        return [(message["to"], message["body"]) for message in self.messages]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_twilio(settings):
    """Texts go to a local fake Twilio through the real client."""
    twilio = FakeTwilio()
    settings.SMS_BACKEND = "notifications.sms.TwilioBackend"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_API_BASE = ACCOUNT, TOKEN, twilio.url
    settings.SMS_TIMEOUT_SECONDS = 2
    yield twilio
    twilio.close()


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    """Texts kept in sms.outbox unless a test uses fake_twilio; emails in django.core.mail.outbox."""
    settings.SMS_BACKEND = "notifications.sms.LocmemBackend"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()
